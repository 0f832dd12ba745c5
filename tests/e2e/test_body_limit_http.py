"""The body limit over a real socket: a large body is refused before it is read."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from ordermill.db import Database
from tests.e2e.live_server import live_server

MIB = 1024 * 1024


@pytest.fixture
def address(database: Database) -> Iterator[tuple[str, int]]:
    with live_server(database) as base:
        url = urlsplit(base)
        assert url.hostname is not None
        assert url.port is not None
        yield url.hostname, url.port


def _status_line(sock: socket.socket) -> bytes:
    answer = b""
    while b"\r\n" not in answer:
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    return answer.split(b"\r\n", 1)[0]


def test_a_100_mb_declared_body_is_refused_with_413_before_a_byte_of_it_is_sent(
    address: tuple[str, int],
) -> None:
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(
            b"POST /api/auth/signup HTTP/1.1\r\nHost: test\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: 100000000\r\n\r\n"
        )
        started = time.monotonic()
        status = _status_line(sock)

    assert status.startswith(b"HTTP/1.1 413 "), status
    assert time.monotonic() - started < 2


def test_a_chunked_body_is_cut_off_with_413_soon_after_the_limit(
    address: tuple[str, int],
) -> None:
    chunk = b" " * (64 * 1024)
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(
            b"POST /api/auth/signup HTTP/1.1\r\nHost: test\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            + f"{2:x}\r\n".encode()
            + json.dumps({}).encode()
            + b"\r\n"
        )
        # Keep sending until the server answers: 100 MiB would be the whole body.
        while sent < 100 * MIB:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(frame)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        status = _status_line(sock)

    assert status.startswith(b"HTTP/1.1 413 "), status
    assert sent < 32 * MIB  # the server stopped reading near 1 MiB; sockets buffer the rest
