"""An SMTP server on a raw socket that answers from a script, to see what goes on the wire.

It offers ``PIPELINING`` or not, and records each group of commands it read before it
answered: a server that offers it answers nothing until it holds a whole transaction
(``MAIL``, ``RCPT``, ``DATA``), so a client waiting for each reply in turn times out; one
that doesn't answers each command as it comes. For each transaction it answers with
the next three replies of ``script`` (``250 …``, ``550 …``, ``354 …``; ``421 …`` hangs
up), takes the message after a ``354`` and accepts it with ``250``.
"""

from __future__ import annotations

import socket
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import BinaryIO

ACCEPT = ("250 sender ok", "250 recipient ok", "354 go ahead")


class ScriptedSmtp:
    def __init__(self, *script: tuple[str, str, str], pipelining: bool = True) -> None:
        self.script = deque(script)
        self.pipelining = pipelining
        self.groups: list[list[str]] = []  # the commands read before each answer
        self.messages: list[bytes] = []  # each message's data, as it arrived (dot-stuffed)
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return  # closed
            self.connections += 1
            with connection, connection.makefile("rb") as reader:
                connection.settimeout(5)
                with suppress(OSError):
                    self._talk(connection, reader)

    def _talk(self, connection: socket.socket, reader: BinaryIO) -> None:
        say = connection.sendall
        say(b"220 scripted ESMTP\r\n")
        reader.readline()  # EHLO
        offers = b"250-PIPELINING\r\n" if self.pipelining else b""
        say(b"250-scripted\r\n" + offers + b"250 SIZE 1000000\r\n")
        group: list[str] = []
        replies: Sequence[str] = ACCEPT
        while line := reader.readline():
            verb = line.split()[0].upper().decode()
            if verb in ("QUIT", "RSET"):
                self.groups.append([verb])
                say(b"221 bye\r\n" if verb == "QUIT" else b"250 reset\r\n")
                if verb == "QUIT":
                    return
                continue
            if verb == "MAIL":
                replies = self.script.popleft() if self.script else ACCEPT
            group.append(verb)
            if self.pipelining and verb != "DATA":
                continue  # the rest of the transaction is on its way
            self.groups.append(group)
            step = ("MAIL", "RCPT", "DATA").index(verb)
            answers = replies if self.pipelining else [replies[step]]
            group = []
            for reply in answers:
                say(reply.encode() + b"\r\n")
                if reply.startswith("421"):
                    return  # hangs up
            if verb == "DATA" and answers[-1].startswith("354"):
                data = reader.readline()
                while data != b".\r\n" and not data.endswith(b"\r\n.\r\n"):
                    data += reader.readline()
                self.messages.append(data)
                say(b"250 queued\r\n")

    def __enter__(self) -> ScriptedSmtp:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept
        self._listener.close()
        self._thread.join(timeout=5)


@contextmanager
def scripted_smtp(*script: tuple[str, str, str], pipelining: bool = True) -> Iterator[ScriptedSmtp]:
    with ScriptedSmtp(*script, pipelining=pipelining) as server:
        yield server
