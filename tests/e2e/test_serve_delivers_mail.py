"""`make run`'s promise: one command, and a placed order's email is a file within seconds."""

from __future__ import annotations

import email
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from tests.e2e.live_server import free_port

CLI = str(Path(sys.executable).with_name("ordermill"))


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [CLI, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


def place_an_order(api: httpx2.Client) -> tuple[str, float]:
    """Wait for the server, then place an order: its number, and when it was placed."""
    deadline = time.monotonic() + 30
    while True:
        try:
            if api.get("/health").status_code == 200:
                break
        except httpx2.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.1)
    customer = api.post("/api/customers", json={"name": "Ann", "email": "ann@example.com"})
    product = api.post(
        "/api/products", json={"name": "Cake", "sku": "CAKE", "price": "12.50", "stock": 5}
    )
    placed = api.post(
        "/api/orders",
        json={
            "customer_id": customer.json()["id"],
            "items": [{"product_id": product.json()["id"], "quantity": 1}],
        },
    )
    assert placed.status_code == 201, placed.text
    return placed.json()["number"], time.monotonic()


def test_ordermill_serve_on_sqlite_writes_a_placed_orders_email_within_seconds(
    tmp_path: Path,
) -> None:
    mail = tmp_path / "mail"
    port = free_port()
    env = {
        **os.environ,
        "ORDERMILL_DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}",
        "ORDERMILL_WORKER_IN_SERVER": "true",  # the default, which the test suite turns off
        "ORDERMILL_MAIL_DIR": str(mail),
        "ORDERMILL_STAFF_EMAILS": "shop@example.com",
        "ORDERMILL_PORT": str(port),
        "ORDERMILL_LOG_LEVEL": "info",
    }
    env.pop("ORDERMILL_SMTP_URL", None)
    run(env, "db", "upgrade")
    run(env, "users", "create", "--email", "boss@example.com", "--role", "admin",
        "--password-stdin", stdin="correct horse battery\n")  # fmt: skip
    token = run(env, "tokens", "create", "--user", "boss@example.com", "--name", "t")
    token = token.strip().splitlines()[-1].strip()
    server = subprocess.Popen(
        [CLI, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    auth = {"Authorization": f"Bearer {token}"}
    try:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", headers=auth, timeout=5) as api:
            number, started = place_an_order(api)
        files: list[Path] = []
        while len(files) < 2 and time.monotonic() - started < 10:
            files = sorted(mail.glob("*.eml")) if mail.exists() else []
            time.sleep(0.1)
        elapsed = time.monotonic() - started
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=30)

    assert len(files) == 2, output  # the customer's and the staff's
    assert elapsed < 5
    messages = [email.message_from_bytes(path.read_bytes()) for path in files]
    assert sorted(m["To"] for m in messages) == ["Ann <ann@example.com>", "shop@example.com"]
    assert all(number in m["Subject"] for m in messages)
    assert str(files[0]) in output or str(files[1]) in output  # the log says where
