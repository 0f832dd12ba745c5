"""Scenarios 9-11: delivering notifications (bench/suite.py runs them with `--only notify`).

9. Delivery throughput of one worker (`ordermill worker --once`) to a loopback SMTP
   sink and to a loopback webhook receiver, events already in the outbox.
10. Latency from commit to delivery at idle on PostgreSQL: orders placed one at a time
    over HTTP, a worker LISTENing, the webhook receiver timing each arrival.
11. Keeping up: the place-order scenario at full rate with two workers delivering an
    email and a webhook per order; the oldest undelivered event's age, sampled twice a
    second, and the place rate beside the same scenario with no worker running.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from suite import (
    CLI,
    BenchError,
    Options,
    PgDatabases,
    Report,
    Row,
    engine_for,
    execute,
    free_port,
    log,
    median,
    prepare_for_writes,
    require_clean,
    scalar,
    seed,
    serving,
    wrk,
)

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # a fixed test secret (24 bytes)


# ---------------------------------------------------------------- loopback receivers


@dataclass
class Arrivals:
    """What a receiver got: arrival times by message id, and repeats."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    at: dict[str, float] = field(default_factory=dict)
    repeats: int = 0
    orders: dict[int, float] = field(default_factory=dict)  # order id -> first arrival

    def add(self, message_id: str, order_id: int | None = None) -> None:
        now = time.monotonic()
        with self.lock:
            if message_id in self.at:
                self.repeats += 1
                return
            self.at[message_id] = now
            if order_id is not None:
                self.orders.setdefault(order_id, now)

    def count(self) -> int:
        with self.lock:
            return len(self.at)


class _Smtp:
    def __init__(self, arrivals: Arrivals) -> None:
        self.arrivals = arrivals

    async def handle_EHLO(  # noqa: N802
        self, _server: Any, session: Any, _envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        """Offers PIPELINING, as mail servers do (aiosmtpd reads pipelined commands in
        order but doesn't say so)."""
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        content = envelope.content.decode(errors="replace")
        message_id = next(
            (
                line.split(":", 1)[1].strip()
                for line in content.splitlines()
                if line.lower().startswith("message-id:")
            ),
            str(len(self.arrivals.at)),
        )
        self.arrivals.add(message_id)
        return "250 OK"


@contextlib.contextmanager
def smtp_sink() -> Iterator[tuple[str, Arrivals]]:
    arrivals = Arrivals()
    port = free_port()
    controller = Controller(_Smtp(arrivals), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", arrivals
    finally:
        controller.stop()


@contextlib.contextmanager
def webhook_sink() -> Iterator[tuple[str, Arrivals]]:
    arrivals = Arrivals()

    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.1, as receivers answer: the worker keeps its connection between messages.
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            order_id = None
            with contextlib.suppress(ValueError, KeyError, TypeError):
                order_id = int(json.loads(body)["data"]["order"]["id"])
            arrivals.add(self.headers.get("webhook-id", ""), order_id)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", arrivals
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- helpers


def worker_env(url: str, **settings: str) -> dict[str, str]:
    env = {
        **os.environ,
        "ORDERMILL_DATABASE_URL": url,
        "ORDERMILL_LOG_LEVEL": "warning",
        "ORDERMILL_WEBHOOK_ALLOW_PRIVATE": "true",
        "ORDERMILL_STAFF_EMAILS": "",
        "ORDERMILL_NOTIFY_CUSTOMER_SMS": "",
        "ORDERMILL_DB_POOL_SIZE": "8",
        "ORDERMILL_DB_MAX_OVERFLOW": "0",
    }
    env.update({f"ORDERMILL_{key.upper()}": value for key, value in settings.items()})
    return env


def register_webhook(url: str, receiver: str, events: list[str]) -> None:
    engine = engine_for(url)
    try:
        execute(
            engine,
            "INSERT INTO webhooks (url, description, events, secret, enabled, created, updated)"
            f" VALUES ('{receiver}', 'bench', '{json.dumps(events)}', '{SECRET}', true,"
            " now(), now())",
        )
    finally:
        engine.dispose()


def queue_created_events(url: str) -> int:
    """An order.created event for every order (seeding writes none)."""
    engine = engine_for(url)
    try:
        execute(
            engine,
            "DELETE FROM deliveries",
            "DELETE FROM outbox_events",
            "INSERT INTO outbox_events (type, order_id, data, created)"
            " SELECT 'order.created', id,"
            " jsonb_build_object('customer_id', customer_id, 'total', total), now()"
            " FROM orders ORDER BY id",
        )
        return int(scalar(engine, "SELECT count(*) FROM outbox_events"))
    finally:
        engine.dispose()


def deliver_once(env: dict[str, str], expected: int, arrivals: Arrivals) -> float:
    started = time.monotonic()
    done = subprocess.run(
        [CLI, "worker", "--once", "--concurrency", "8"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    elapsed = time.monotonic() - started
    if done.returncode != 0 or arrivals.count() != expected:
        raise BenchError(
            f"worker --once delivered {arrivals.count()} of {expected}:\n{done.stderr[-2000:]}"
        )
    return elapsed


@contextlib.contextmanager
def workers(env: dict[str, str], count: int) -> Iterator[None]:
    processes = [
        subprocess.Popen(
            [CLI, "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        for _ in range(count)
    ]
    try:
        time.sleep(1.0)  # connected and listening
        for process in processes:
            if process.poll() is not None:
                err = process.stderr.read().decode() if process.stderr else ""
                raise BenchError(f"ordermill worker exited early:\n{err[-2000:]}")
        yield
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


OLDEST_WAITING = (
    "SELECT coalesce(extract(epoch FROM now() - least("
    " (SELECT min(created) FROM outbox_events WHERE dispatched IS NULL),"
    " (SELECT min(e.created) FROM deliveries d JOIN outbox_events e ON e.id = d.event_id"
    "  WHERE d.status = 'pending'))), 0)"
)


# ---------------------------------------------------------------- the scenarios


def notifications(opts: Options, dbs: PgDatabases, report: Report) -> None:
    throughput(opts, dbs, report)
    latency_at_idle(opts, dbs, report)
    keeping_up(opts, dbs, report)


def throughput(opts: Options, dbs: PgDatabases, report: Report) -> None:
    count = 3000
    url = dbs.create("notify")
    try:
        seed(url, 200, 100, count, 9)
        figures: dict[str, list[float]] = {"email": [], "webhook": []}
        for n in range(opts.runs):
            log(f"notify: throughput run {n + 1}/{opts.runs}")
            with smtp_sink() as (smtp_url, mails):
                _drop_webhooks(url)  # emails only: the run before's receiver is gone
                queue_created_events(url)
                env = worker_env(url, smtp_url=smtp_url, notify_customer_email="order.created")
                figures["email"].append(count / deliver_once(env, count, mails))
            with webhook_sink() as (receiver, hooks):
                register_webhook(url, receiver, ["order.created"])
                queue_created_events(url)
                env = worker_env(url, notify_customer_email="")
                figures["webhook"].append(count / deliver_once(env, count, hooks))
        for channel, label in (("email", "SMTP sink"), ("webhook", "webhook receiver")):
            report.add(
                Row(
                    scenario="9. Delivery throughput, one worker (PostgreSQL)",
                    measure=f"{count:,} order.created events to a loopback {label}, concurrency 8",
                    figure=f"{median(figures[channel]):,.0f} messages/s",
                    runs=str(opts.runs),
                )
            )
    finally:
        dbs.drop(url)


def _drop_webhooks(url: str) -> None:
    engine = engine_for(url)
    try:
        execute(engine, "DELETE FROM deliveries", "DELETE FROM webhooks")
    finally:
        engine.dispose()


def latency_at_idle(opts: Options, dbs: PgDatabases, report: Report) -> None:
    samples = 60
    url = dbs.create("latency")
    try:
        seed(url, 100, 100, 0, 10)
        prepare_for_writes(engine := engine_for(url))
        engine.dispose()
        token = _admin_token(url)
        with webhook_sink() as (receiver, hooks), serving(url, 2) as server:
            register_webhook(url, receiver, ["order.created"])
            env = worker_env(url, notify_customer_email="")
            with workers(env, 1):
                placed: dict[int, float] = {}
                for n in range(samples):
                    order_id = _place(server.base, token, customer=n % 100 + 1, product=n % 100 + 1)
                    placed[order_id] = time.monotonic()
                    time.sleep(0.2)
                deadline = time.monotonic() + 10
                while hooks.count() < samples and time.monotonic() < deadline:
                    time.sleep(0.05)
        waits = [
            max(0.0, hooks.orders[i] - t) * 1000 for i, t in placed.items() if i in hooks.orders
        ]
        if len(waits) != samples:
            raise BenchError(f"latency: {len(waits)} of {samples} webhooks arrived")
        waits.sort()
        p99 = waits[min(len(waits) - 1, round(0.99 * (len(waits) - 1)))]
        p50 = statistics.median(waits)
        report.add(
            Row(
                scenario="10. Commit to delivery at idle (PostgreSQL)",
                measure=f"{samples} orders placed one by one, webhook, 1 worker (LISTEN)",
                figure=f"p50 {p50:,.0f} ms, p99 {p99:,.0f} ms",
                ceiling="target p50 < 1,000 ms",
                verdict=f"{'PASS' if p50 < 1000 else 'MISS'}",
                runs="1",
            )
        )
    finally:
        dbs.drop(url)


def keeping_up(opts: Options, dbs: PgDatabases, report: Report) -> None:
    customers, products = 1000, 10_000
    url = dbs.create("keepup")
    try:
        seed(url, customers, products, 0, 11)
        engine = engine_for(url)
        prepare_for_writes(engine)
        token = _admin_token(url)
        env = {
            "BENCH_TOKEN": token,
            "BENCH_CUSTOMERS": str(customers),
            "BENCH_PRODUCTS": str(products),
        }
        without: list[float] = []
        with_workers: list[float] = []
        oldest: list[float] = []
        drained_after: list[float] = []
        with smtp_sink() as (smtp_url, _mails), webhook_sink() as (receiver, _hooks):
            register_webhook(url, receiver, ["order.created"])
            deliver = worker_env(url, smtp_url=smtp_url, notify_customer_email="order.created")
            with serving(url, 2) as server:
                for n in range(opts.runs):
                    log(f"notify: keeping up, run {n + 1}/{opts.runs}")
                    # Drain what the run before left, so both halves start from an empty queue.
                    with workers(deliver, 2):
                        _wait_drained(engine, 120)
                    result = wrk(server, "place", opts.seconds, env, opts)
                    require_clean([result], "place without workers")
                    without.append(result.rate)
                    with workers(deliver, 2):
                        _wait_drained(engine, 120)
                        peak = [0.0]
                        stop = threading.Event()
                        sampler = threading.Thread(
                            target=_sample_oldest, args=(engine, stop, peak), daemon=True
                        )
                        sampler.start()
                        result = wrk(server, "place", opts.seconds, env, opts)
                        started = time.monotonic()
                        _wait_drained(engine, 120)
                        drained_after.append(time.monotonic() - started)
                        stop.set()
                        sampler.join(5)
                    require_clean([result], "place with workers")
                    with_workers.append(result.rate)
                    oldest.append(peak[0])
        engine.dispose()
        worst = max(oldest)
        report.add(
            Row(
                scenario="11. The outbox keeps up (PostgreSQL, 2 server workers)",
                measure="place at full rate, 2 `ordermill worker`s, an email and a webhook per"
                " order: oldest undelivered event",
                figure=f"at most {worst:.1f} s old (medians of peaks {median(oldest):.1f} s);"
                f" drained {median(drained_after):.1f} s after the load",
                ceiling="target < 5 s",
                verdict="PASS" if worst < 5 else "MISS",
                runs=str(opts.runs),
            )
        )
        report.add(
            Row(
                scenario="11. The outbox keeps up (PostgreSQL, 2 server workers)",
                measure="place rate with the 2 workers delivering vs none running",
                figure=f"{median(with_workers):,.0f} vs {median(without):,.0f} orders/s",
                ratio=f"{median(with_workers) / median(without):.0%}",
                runs=str(opts.runs),
            )
        )
        report.notes.append(
            "Scenario 11 runs server, workers, receivers and load generator on the same"
            " 2 cores: the workers' CPU comes out of the server's, which the place rate"
            " beside the one with no worker shows."
        )
    finally:
        dbs.drop(url)


def _sample_oldest(engine: Any, stop: threading.Event, peak: list[float]) -> None:
    while not stop.is_set():
        with contextlib.suppress(Exception):
            peak[0] = max(peak[0], float(scalar(engine, OLDEST_WAITING)))
        stop.wait(0.5)


def _wait_drained(engine: Any, limit: float) -> None:
    deadline = time.monotonic() + limit
    while float(scalar(engine, OLDEST_WAITING)) > 0:
        if time.monotonic() > deadline:
            raise BenchError(f"the outbox did not drain within {limit:.0f} s")
        time.sleep(0.2)


def _admin_token(url: str) -> str:
    from suite import admin_token

    return admin_token(url)


def _place(base: str, token: str, customer: int, product: int) -> int:
    body = json.dumps(
        {"customer_id": customer, "items": [{"product_id": product, "quantity": 1}]}
    ).encode()
    request = urllib.request.Request(
        f"{base}/api/orders",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return int(json.loads(answer.read())["id"])
