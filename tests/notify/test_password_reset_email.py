"""A password reset from end to end: the request, the worker's email, the link in it."""

from __future__ import annotations

import email
import re
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.notify import channels_for
from ordermill.notify.worker import Worker
from tests import factories

LINK = re.compile(r"(\S+)/reset-password\?token=([A-Za-z0-9_-]+)")


def emails_in(folder: Path) -> list[EmailMessage]:
    messages = []
    for path in sorted(folder.rglob("*.eml")):
        parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        messages.append(parsed)
    return messages


def texts_of(message: EmailMessage) -> str:
    return "\n".join(
        part.get_content() for part in message.walk() if part.get_content_maintype() == "text"
    )


def test_the_emailed_link_sets_the_new_password(
    anonymous_client: TestClient, database: Database
) -> None:
    pytest.importorskip("ordermill.notify.email")
    factories.user(database, email="clerk@example.com")
    settings = Settings(database_url=database.url, smtp_url=None)
    assert (
        anonymous_client.post(
            "/api/auth/password-reset", json={"email": "clerk@example.com"}
        ).status_code
        == 202
    )

    Worker(database, settings, channels_for(settings)).run_once()

    (message,) = emails_in(Path(settings.mail_dir))
    assert message["To"] == "clerk@example.com"
    found = LINK.search(texts_of(message))
    assert found is not None, texts_of(message)
    assert found.group(1) == settings.public_url
    token = found.group(2)
    confirmed = anonymous_client.post(
        "/api/auth/password-reset/confirm", json={"token": token, "password": "emailed secret 1"}
    )
    assert confirmed.status_code == 204, confirmed.text
    login = anonymous_client.post(
        "/api/auth/token", data={"username": "clerk@example.com", "password": "emailed secret 1"}
    )
    assert login.status_code == 200, login.text
