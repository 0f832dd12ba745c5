"""A stand-in for Twilio's Messages API on loopback: a real HTTP server in a thread.

It checks what Twilio documents for ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``
(the account SID in the path, HTTP basic auth ``AccountSid:AuthToken``, a form body with
``To``, ``From`` and ``Body``) and answers 201 with a message resource shaped like
Twilio's, or, on demand, what a test queues: a 500, a 429 with ``Retry-After``, a 400
with Twilio's error body, a slow answer.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "auth-token-never-logged"


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    user: str | None
    password: str | None
    content_type: str
    form: dict[str, list[str]]

    def one(self, name: str) -> str:
        values = self.form.get(name, [])
        assert len(values) == 1, (name, self.form)
        return values[0]


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering


def twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    """An error body as Twilio's API writes it."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class FakeTwilio:
    """Records every request; answers each from the queue, else as Twilio does."""

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.requests: list[Received] = []
        self.answers: deque[Answer] = deque()
        self.lock = threading.Lock()
        self.released = threading.Event()  # cuts a slow answer short when the test ends
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def queue(self, status: int, body: dict[str, Any], delay: float = 0.0, **headers: str) -> None:
        self.answers.append(
            Answer(status, body, {k.replace("_", "-"): v for k, v in headers.items()}, delay)
        )

    def messages(self) -> list[Received]:
        with self.lock:
            return list(self.requests)

    # ------------------------------------------------------------ what Twilio checks

    def answer(self, got: Received) -> Answer:
        expected = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        if (got.user, got.password) != (self.account_sid, self.auth_token):
            return Answer(401, twilio_error(401, 20003, "Authenticate"))
        if got.method != "POST" or got.path != expected:
            return Answer(
                404, twilio_error(404, 20404, f"The requested resource {got.path} was not found")
            )
        if got.content_type != "application/x-www-form-urlencoded":
            return Answer(400, twilio_error(400, 21100, "Expected a form body"))
        for name, code in (("To", 21604), ("From", 21603), ("Body", 21602)):
            if len(got.form.get(name, [])) != 1:
                return Answer(400, twilio_error(400, code, f"A '{name}' parameter is required."))
        with self.lock:
            if self.answers:
                return self.answers.popleft()
        return Answer(201, self.resource(got))

    def resource(self, got: Received) -> dict[str, Any]:
        sid = "SM" + uuid.uuid4().hex
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": got.one("To"),
            "from": got.one("From"),
            "body": got.one("Body"),
            "status": "queued",
            "direction": "outbound-api",
            "num_segments": "1",
            "num_media": "0",
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "api_version": "2010-04-01",
            "messaging_service_sid": None,
            "date_created": "Thu, 01 Jan 2026 12:00:00 +0000",
            "date_updated": "Thu, 01 Jan 2026 12:00:00 +0000",
            "date_sent": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"
            },
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 5  # a client that stalls doesn't hold a thread for long

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(min(length, 1_000_000)).decode("utf-8")
                user = password = None
                kind, _, credentials = (self.headers.get("Authorization") or "").partition(" ")
                if kind == "Basic":
                    user, _, password = base64.b64decode(credentials).decode().partition(":")
                got = Received(
                    "POST",
                    self.path,
                    user,
                    password,
                    (self.headers.get("Content-Type") or "").split(";")[0].strip(),
                    parse_qs(raw, keep_blank_values=True),
                )
                with fake.lock:
                    fake.requests.append(got)
                answer = fake.answer(got)
                if answer.delay:
                    fake.released.wait(answer.delay)
                payload = json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def fake_twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.released.set()
        fake.server.shutdown()
        fake.server.server_close()
        fake.thread.join(timeout=5)


def closed_port_url() -> str:
    """An address on loopback where nothing listens (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
