"""What the email tests share: a store's settings, placing orders, running the worker,
and reading the deliveries back."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.notify.email import EmailChannel
from ordermill.notify.worker import Worker
from ordermill.services import orders as order_service
from ordermill.services.order_views import OrderView
from ordermill.services.tables import deliveries

STORE_FROM = "Pen Shop <shop@pens.example>"
DOMAIN = "pens.example"


def store_settings(database: Database, **values: Any) -> Settings:
    """A store selling in euros, its emails from the Pen Shop, no staff unless given."""
    values.setdefault("mail_from", STORE_FROM)
    values.setdefault("currency", "EUR")
    values.setdefault("staff_emails", [])
    return Settings(database_url=database.url, **values)


def place(
    database: Database, customer_id: int, *items: tuple[int, int], **fields: Any
) -> OrderView:
    """A pending order in euros (with ``shipping_address``, ``note`` when given)."""
    with database.write() as session:
        return order_service.place_order(
            session,
            customer_id=customer_id,
            items=[order_service.ItemRequest(pid, qty) for pid, qty in items],
            currency="EUR",
            **fields,
        )


def run(database: Database, settings: Settings) -> Counter[str]:
    """One pass of a worker with the email channel only: dispatch, then send what is due."""
    worker = Worker(database, settings, [EmailChannel(settings)], concurrency=1)
    return worker.run_once()


def email_deliveries(database: Database) -> list[Any]:
    with database.read() as session:
        return list(
            session.execute(
                select(deliveries).where(deliveries.c.channel == "email").order_by(deliveries.c.id)
            ).all()
        )
