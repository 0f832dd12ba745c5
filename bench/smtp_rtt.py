"""Emails to a mail server across a link with a round-trip time, pipelined or not.

    .venv/bin/python bench/smtp_rtt.py --rtt-ms 2 20 --messages 200 --threads 8

A mail relay is rarely on the same host: a provider's relay is tens of milliseconds
away. Between the sending threads and a loopback SMTP server (aiosmtpd, offering
``PIPELINING`` or not) sits a proxy that holds every chunk for half the round-trip time
in each direction, in order. The sender is the worker's own (``SmtpSender``: each
thread on one kept connection); the figure is messages a second, for each round-trip
time, with the server offering ``PIPELINING`` and without, in alternating rounds.
Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiosmtpd.controller import Controller
from suite import free_port

from ordermill.notify.channels import Outcome, Sent
from ordermill.notify.email_smtp import SmtpSender, SmtpTarget

MAIL = (
    b"From: Pens <shop@pens.example>\r\nTo: ann@example.com\r\nSubject: Order received\r\n"
    b"Message-ID: <bench@pens.example>\r\n\r\n" + b"Thank you for your order.\r\n" * 40
)


class _Sink:
    def __init__(self, pipelining: bool) -> None:
        self.pipelining = pipelining

    async def handle_EHLO(  # noqa: N802
        self, _server: Any, session: Any, _envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            return [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_DATA(self, _server: Any, _session: Any, _envelope: Any) -> str:  # noqa: N802
        return "250 OK"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copies ``reader`` to ``writer``, each chunk ``delay`` seconds after it came."""
    loop = asyncio.get_running_loop()
    while chunk := await reader.read(65536):
        loop.call_later(delay, writer.write, chunk)
    loop.call_later(delay, writer.close)


@contextlib.contextmanager
def delayed_link(port: int, rtt: float) -> Iterator[int]:
    """A proxy to 127.0.0.1:``port`` adding ``rtt`` to every round trip; yields its port."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)
        with contextlib.suppress(asyncio.CancelledError):  # the link is shut
            await asyncio.gather(
                _pipe(reader, upstream_writer, rtt / 2), _pipe(upstream_reader, writer, rtt / 2)
            )

    async def shut(server: asyncio.Server) -> None:
        server.close()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    start = asyncio.start_server(connect, "127.0.0.1", 0)
    server = asyncio.run_coroutine_threadsafe(start, loop).result(5)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        asyncio.run_coroutine_threadsafe(shut(server), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


def rate(port: int, messages: int, threads: int) -> float:
    """Messages a second through ``threads`` sending threads, each on its kept connection."""
    sender = SmtpSender(SmtpTarget("plain", "127.0.0.1", port))

    def send(_: int) -> Outcome:
        return sender.send(MAIL, "shop@pens.example", "ann@example.com")

    try:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(send, range(threads)))
            started = time.perf_counter()  # connections open: only sending is timed
            outcomes = list(pool.map(send, range(messages)))
            elapsed = time.perf_counter() - started
    finally:
        sender.close()
    failed = [outcome for outcome in outcomes if not isinstance(outcome, Sent)]
    if failed:
        raise SystemExit(f"not sent: {failed[:3]}")
    return messages / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rtt-ms", type=float, nargs="+", default=[2.0, 20.0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    print(f"{opts.messages} messages, {opts.threads} threads, median of {opts.rounds} rounds")
    print("| round trip | without PIPELINING | with PIPELINING | ratio |")
    print("| ---: | ---: | ---: | ---: |")
    for rtt_ms in opts.rtt_ms:
        figures: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(opts.rounds):
            for pipelining in (False, True):
                sink = _Sink(pipelining)
                controller = Controller(sink, hostname="127.0.0.1", port=free_port())
                controller.start()
                try:
                    with delayed_link(controller.port, rtt_ms / 1000) as port:
                        figures[pipelining].append(rate(port, opts.messages, opts.threads))
                finally:
                    controller.stop()
        without, with_ = (statistics.median(figures[flag]) for flag in (False, True))
        print(f"| {rtt_ms:g} ms | {without:,.0f}/s | {with_:,.0f}/s | x{with_ / without:.2f} |")


if __name__ == "__main__":
    main()
