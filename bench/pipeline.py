"""The request pipeline's cost: an authenticated trivial request beside an empty one.

    .venv/bin/python bench/pipeline.py --postgres postgresql://postgres@127.0.0.1:5432/test \\
        --runs 3 --seconds 10

For each database (a temporary SQLite file, and a throwaway ``bench_pipeline_*`` database
on the PostgreSQL server named), one server process (uvicorn, as ``ordermill serve``
runs it, on the app below) is driven by ``wrk -t1 -c16`` for ``--seconds`` at each of:

- ``GET /bench/empty``: an empty async route on the same app, without a token: what
  the middleware, routing and response cost with no dependency at all;
- ``GET /api/auth/whoami`` with a bearer token (the same token every request);
- ``GET /health`` without a token (a database round trip).

One after another, ``--runs`` times; the report gives each rate, the server's CPU time
per request (read from /proc around each run) and the ratio whoami ÷ empty of each run,
with medians. ``--tree PATH`` runs the server from another source tree (its ``src``
first on PYTHONPATH), to compare commits on the same machine in the same session.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import FastAPI, Response
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TARGETS = (("empty", "/bench/empty", False), ("whoami", "/api/auth/whoami", True))
HEALTH = ("health", "/health", False)


def create_bench_app() -> FastAPI:
    """``serve_app()`` (``ordermill serve``'s) with one more route, first in line: an
    empty async one."""
    from ordermill.web.app import serve_app

    app = serve_app()

    @app.get("/bench/empty", include_in_schema=False)
    async def empty() -> Response:
        return Response(b"{}", media_type="application/json")

    app.router.routes.insert(0, app.router.routes.pop())
    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    admin_url = make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"bench_pipeline_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def token_for(url: str) -> str:
    """Migrate, create an admin and an API token for it; the token."""
    env = {**os.environ, "ORDERMILL_DATABASE_URL": url}
    cli = str(BIN / "ordermill")
    subprocess.run([cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(
        [cli, "users", "create", "--email", "bench@example.com", "--role", "admin",
         "--password-stdin"],
        env=env, input=b"correct horse battery\n", check=True, capture_output=True,
    )  # fmt: skip
    made = subprocess.run(
        [cli, "tokens", "create", "--user", "bench@example.com", "--name", "bench"],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return made.stdout.strip().splitlines()[-1].strip()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(base: str, path: str, token: str | None, seconds: int, script: Path) -> tuple[int, float]:
    env = {**os.environ, "BENCH_TOKEN": token or ""}
    command = ["wrk", "-t1", "-c16", f"-d{seconds}s", "-s", str(script), base + path]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"{path} answered errors:\n{out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return requests, rate


Rates = dict[str, list[tuple[float, float]]]  # per target, per run: requests/s, CPU ms each


def measure(
    url: str,
    tree: Path | None,
    runs: int,
    seconds: int,
    targets: tuple[tuple[str, str, bool], ...] = (*TARGETS, HEALTH),
) -> Rates:
    """Serve ``url`` from one process and drive each target in turn, ``runs`` times."""
    token = token_for(url)
    port = free_port()
    env = {
        **os.environ,
        "ORDERMILL_DATABASE_URL": url,
        "ORDERMILL_WORKER_IN_SERVER": "false",
        "PYTHONPATH": f"{tree / 'src' if tree else ROOT / 'src'}{os.pathsep}{ROOT}",
    }
    server = subprocess.Popen(
        [str(BIN / "uvicorn"), "--factory", "bench.pipeline:create_bench_app",
         "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    rows: Rates = {}
    with tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "token.lua"
        script.write_text(
            'local t = os.getenv("BENCH_TOKEN")\n'
            'if #t > 0 then wrk.headers["Authorization"] = "Bearer " .. t end\n'
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/health", timeout=2):
                        break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit(f"the server on {url} did not start") from None
                    time.sleep(0.2)
            for _ in range(runs):
                for name, path, authenticated in targets:
                    wrk(base, path, token if authenticated else None, 2, script)  # warm up
                    before = cpu_seconds(server.pid)
                    requests, rate = wrk(
                        base, path, token if authenticated else None, seconds, script
                    )
                    cpu_ms = (cpu_seconds(server.pid) - before) * 1000 / requests
                    rows.setdefault(name, []).append((rate, cpu_ms))
        finally:
            server.terminate()
            server.wait(20)
    return rows


def show(label: str, runs: int, seconds: int, rows: Rates) -> None:
    print(f"\n{label}: {runs} runs of {seconds} s, wrk -t1 -c16, one server process")
    for name, results in rows.items():
        rates = ", ".join(f"{rate:,.0f}" for rate, _ in results)
        rate = statistics.median(r for r, _ in results)
        cpu = statistics.median(c for _, c in results)
        print(f"  {name:7s} {rate:8,.0f} req/s  {cpu:5.2f} ms CPU/request  (runs: {rates})")
    ratios = [w / e for (w, _), (e, _) in zip(rows["whoami"], rows["empty"], strict=True)]
    listed = ", ".join(f"{r:.0%}" for r in ratios)
    print(f"  whoami / empty: {statistics.median(ratios):.0%} (runs: {listed})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="a PostgreSQL server URL (a database is made on it)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--tree", type=Path, help="serve from this source tree instead")
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    args = parser.parse_args()
    if args.only != "postgres":
        with tempfile.TemporaryDirectory() as scratch:
            url = f"sqlite:///{scratch}/bench.db"
            rates = measure(url, args.tree, args.runs, args.seconds)
            show("SQLite", args.runs, args.seconds, rates)
    if args.postgres and args.only != "sqlite":
        with postgres_database(args.postgres) as url:
            rates = measure(url, args.tree, args.runs, args.seconds)
            show("PostgreSQL", args.runs, args.seconds, rates)


if __name__ == "__main__":
    main()
