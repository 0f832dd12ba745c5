"""Workflow actions racing each other on PostgreSQL: real threads, a real HTTP server.

Each scenario releases its threads together (a barrier); every thread opens its own
write unit of work and calls the service. Afterwards every thread's outcome must be
a success or an expected refusal (a deadlock or any other database error fails the
test), and the books must balance: stock + units held by live orders == units
received, each balance is the sum of its ledger entries, and each order's paid and
refunded agree with its payments.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ordermill.db import Database
from ordermill.domain.orders import HOLDS_STOCK, Strategy
from ordermill.domain.workflow import PaymentFlow
from ordermill.errors import OrdermillError
from ordermill.services import ledger, processing
from ordermill.services import workflow as flow_service
from ordermill.services.tables import (
    customers,
    ledger_entries,
    order_lines,
    orders,
    payments,
    products,
)
from tests import factories
from tests.concurrency import requests_at_once, run_at_once
from tests.e2e.live_server import live_server as serve

pytestmark = pytest.mark.postgres_only

OPENING = 500_00
LIVE = sorted(status.value for status in HOLDS_STOCK)
OK = "ok"


# ---------------------------------------------------------------- helpers


def attempt(database: Database, call: Callable[[Session], object]) -> str:
    """``call`` in its own write unit of work: "ok", the refusal's code, or what went wrong."""
    try:
        with database.write() as session:
            call(session)
    except OrdermillError as exc:
        return exc.code
    except Exception as exc:  # a deadlock or serialization failure: reported, then failed on
        return f"unexpected {type(exc).__name__}: {exc}"
    return OK


def process(database: Database, order_id: int, flow: PaymentFlow = PaymentFlow.BALANCE) -> None:
    with database.write() as session:
        processing.process_order(session, order_id, Strategy.ADJUST, flow=flow)


def ship(database: Database, order_id: int, *, deliver: bool = True) -> None:
    with database.write() as session:
        flow_service.fulfill(session, order_id, carrier="Post", tracking_number="T-1")
        if deliver:
            flow_service.deliver(session, order_id)


def order_row(database: Database, order_id: int) -> Any:
    with database.read() as session:
        return session.execute(select(orders).where(orders.c.id == order_id)).one()


def lines_of(database: Database, order_id: int) -> list[Any]:
    with database.read() as session:
        return list(
            session.execute(
                select(order_lines)
                .where(order_lines.c.order_id == order_id)
                .order_by(order_lines.c.id)
            ).all()
        )


def payment_count(database: Database, order_id: int) -> int:
    with database.read() as session:
        return int(
            session.execute(
                select(func.count()).select_from(payments).where(payments.c.order_id == order_id)
            ).scalar_one()
        )


def ledger_kinds(database: Database, customer_id: int) -> Counter[str]:
    with database.read() as session:
        return Counter(
            session.execute(
                select(ledger_entries.c.kind).where(ledger_entries.c.customer_id == customer_id)
            ).scalars()
        )


def assert_books_balance(database: Database) -> None:
    """Stock, ledger and order money invariants over the whole database."""
    with database.read() as session:
        shelves = session.execute(
            select(products.c.id, products.c.stock, products.c.stock_received)
        ).all()
        held = dict(
            session.execute(
                select(
                    order_lines.c.product_id,
                    func.sum(order_lines.c.quantity - order_lines.c.quantity_restocked),
                )
                .join(orders, orders.c.id == order_lines.c.order_id)
                .where(orders.c.status.in_(LIVE))
                .group_by(order_lines.c.product_id)
            ).all()
        )
        drift = ledger.drift(session)
        entries = session.execute(
            select(
                ledger_entries.c.customer_id,
                ledger_entries.c.amount,
                ledger_entries.c.balance_after,
            ).order_by(ledger_entries.c.id)
        ).all()
        balances = dict(session.execute(select(customers.c.id, customers.c.balance)).all())
        order_rows = session.execute(
            select(orders.c.id, orders.c.status, orders.c.total, orders.c.paid, orders.c.refunded)
        ).all()
        received = dict(
            session.execute(
                select(
                    payments.c.order_id, func.sum(payments.c.amount - payments.c.credited)
                ).group_by(payments.c.order_id)
            ).all()
        )
        bad_lines = session.execute(
            select(order_lines.c.id, order_lines.c.quantity, order_lines.c.quantity_returned).where(
                (order_lines.c.quantity_returned > order_lines.c.quantity)
                | (order_lines.c.quantity_restocked > order_lines.c.quantity_returned)
            )
        ).all()
    for product_id, stock, stock_received in shelves:
        assert stock >= 0, (product_id, stock)
        assert stock + int(held.get(product_id, 0)) == stock_received, (
            f"product {product_id}: stock {stock} + held {held.get(product_id, 0)}"
            f" != received {stock_received}"
        )
    assert drift == []
    running = dict.fromkeys(balances, 0)
    for customer_id, amount, balance_after in entries:
        running[customer_id] += amount
        assert balance_after == running[customer_id]
    assert running == balances
    for row in order_rows:
        assert 0 <= row.refunded <= row.paid, row
        assert row.paid == int(received.get(row.id, 0)), row
        if row.status == "cancelled":
            assert row.refunded == row.paid, row
        if row.status in ("processed", "fulfilled", "delivered", "returned"):
            assert row.paid >= row.total, row
    assert bad_lines == [], "lines returning more than they hold"


def assert_expected(outcomes: list[str], allowed: set[str]) -> None:
    """Every thread succeeded or was refused for a reason in ``allowed``."""
    unexpected = [outcome for outcome in outcomes if outcome != OK and outcome not in allowed]
    assert unexpected == [], unexpected


# ---------------------------------------------------------------- pay vs cancel


def test_pay_racing_cancel_either_keeps_the_money_or_refunds_it_all(
    pg_database: Database,
) -> None:
    # Given orders awaiting payment (flow advance), two customers sharing three products
    rounds, per_round = 8, 5
    product_ids = [factories.product(pg_database, price=p, stock=200) for p in (2_50, 4_00, 9_99)]
    customer_ids = [factories.customer(pg_database, balance=OPENING) for _ in range(2)]
    expected_credit = dict.fromkeys(customer_ids, 0)
    expected_refund = dict.fromkeys(customer_ids, 0)
    paid_outcomes: Counter[str] = Counter()

    for round_ in range(rounds):
        batch = []
        for n in range(per_round):
            customer_id = customer_ids[n % 2]
            order_id = factories.order(
                pg_database,
                customer_id,
                (product_ids[n % 3], 1 + n % 2),
                (product_ids[(n + 1) % 3], 2),
            )
            process(pg_database, order_id, PaymentFlow.ADVANCE)
            total = order_row(pg_database, order_id).total
            # Every other order is overpaid by 1.00, which is credited when it is paid.
            overpay = 1_00 if (round_ + n) % 2 else 0
            batch.append((order_id, customer_id, total, overpay))

        # When each is paid and cancelled at the same moment
        def work(i: int, batch: list[tuple[int, int, int, int]] = batch) -> str:
            order_id, _, total, overpay = batch[i // 2]
            if i % 2 == 0:
                return attempt(
                    pg_database,
                    lambda s: flow_service.pay(
                        s,
                        order_id,
                        amount=total + overpay,
                        method="transfer",
                        reference=f"wire-{order_id}",
                    ),
                )
            return attempt(
                pg_database, lambda s: flow_service.cancel(s, order_id, reason="changed my mind")
            )

        outcomes = run_at_once(2 * per_round, work)

        # Then the cancel always wins in the end (it is allowed from processed too): the
        # order is cancelled with its stock back, and what was paid is refunded in full
        for k, (order_id, customer_id, total, overpay) in enumerate(batch):
            paid_outcome, cancel_outcome = outcomes[2 * k], outcomes[2 * k + 1]
            assert cancel_outcome == OK
            assert paid_outcome in (OK, "already_cancelled"), paid_outcome
            paid_outcomes[paid_outcome] += 1
            row = order_row(pg_database, order_id)
            assert row.status == "cancelled"
            if paid_outcome == OK:
                assert (row.paid, row.refunded) == (total, total), row
                assert payment_count(pg_database, order_id) == 1
                expected_credit[customer_id] += overpay
                expected_refund[customer_id] += total
            else:
                assert (row.paid, row.refunded) == (0, 0), row
                assert payment_count(pg_database, order_id) == 0
        assert_books_balance(pg_database)

    assert paid_outcomes.total() == rounds * per_round
    for customer_id in customer_ids:
        assert factories.balance_of(pg_database, customer_id) == (
            OPENING + expected_credit[customer_id] + expected_refund[customer_id]
        )
    for product_id in product_ids:
        assert factories.stock_of(pg_database, product_id) == 200


def test_two_half_payments_racing_cancel_end_cancelled_with_every_payment_refunded(
    pg_database: Database,
) -> None:
    # Given an order awaiting payment that is paid in two halves while it is cancelled
    customer_id = factories.customer(pg_database, balance=OPENING)
    product_id = factories.product(pg_database, price=5_00, stock=20)
    for _ in range(10):
        order_id = factories.order(pg_database, customer_id, (product_id, 2))
        process(pg_database, order_id, PaymentFlow.ADVANCE)

        # When two payments of half the total and a cancel arrive at once
        def work(i: int, order_id: int = order_id) -> str:
            if i < 2:
                return attempt(
                    pg_database,
                    lambda s: flow_service.pay(
                        s, order_id, amount=5_00, method="card", reference=f"half-{i}"
                    ),
                )
            return attempt(pg_database, lambda s: flow_service.cancel(s, order_id, reason="oops"))

        outcomes = run_at_once(3, work)

        # Then whatever the order, the order ends cancelled with every cent paid refunded
        assert_expected(outcomes, {"already_cancelled"})
        assert outcomes[2] == OK
        row = order_row(pg_database, order_id)
        paid_ok = outcomes[:2].count(OK)
        assert (row.status, row.paid, row.refunded) == ("cancelled", paid_ok * 5_00, paid_ok * 5_00)
        assert factories.stock_of(pg_database, product_id) == 20
        assert_books_balance(pg_database)


# ---------------------------------------------------------------- cancel vs cancel


def test_ten_threads_cancelling_one_processed_order_cancel_it_once(pg_database: Database) -> None:
    # Given an order processed from the balance: 3 units at 12.50 and 2 at 4.00
    customer_id = factories.customer(pg_database, balance=OPENING)
    first = factories.product(pg_database, price=12_50, stock=10)
    second = factories.product(pg_database, price=4_00, stock=10)
    order_id = factories.order(pg_database, customer_id, (first, 3), (second, 2))
    process(pg_database, order_id)
    assert factories.balance_of(pg_database, customer_id) == OPENING - 45_50

    # When ten threads cancel it at once
    outcomes = run_at_once(
        10,
        lambda i: attempt(
            pg_database, lambda s: flow_service.cancel(s, order_id, reason=f"cancel {i}")
        ),
    )

    # Then one cancelled it, the other nine were told it already was
    assert Counter(outcomes) == Counter({OK: 1, "already_cancelled": 9}), outcomes
    # And the stock came back once and the money was refunded once
    assert factories.stock_of(pg_database, first) == 10
    assert factories.stock_of(pg_database, second) == 10
    assert factories.balance_of(pg_database, customer_id) == OPENING
    assert ledger_kinds(pg_database, customer_id) == Counter(
        {"adjustment": 1, "charge": 1, "refund": 1}
    )
    row = order_row(pg_database, order_id)
    assert (row.status, row.paid, row.refunded) == ("cancelled", 45_50, 45_50)
    assert_books_balance(pg_database)


# ---------------------------------------------------------------- one reference, many threads


@pytest.mark.parametrize(
    ("amount", "status", "paid", "credited"),
    [(10_00, "awaiting_payment", 10_00, 0), (40_00, "processed", 30_00, 10_00)],
    ids=["part", "overpaid"],
)
def test_ten_threads_paying_with_one_reference_record_it_once(
    pg_database: Database, amount: int, status: str, paid: int, credited: int
) -> None:
    # Given an order of 30.00 awaiting payment
    customer_id = factories.customer(pg_database, balance=OPENING)
    product_id = factories.product(pg_database, price=15_00, stock=10)
    order_id = factories.order(pg_database, customer_id, (product_id, 2))
    process(pg_database, order_id, PaymentFlow.ADVANCE)

    # When ten threads record the same payment (one reference) at once
    outcomes = run_at_once(
        10,
        lambda _: attempt(
            pg_database,
            lambda s: flow_service.pay(
                s, order_id, amount=amount, method="transfer", reference="wire-42"
            ),
        ),
    )

    # Then all succeed, and the payment is recorded (and any overpayment credited) once
    assert outcomes == [OK] * 10
    assert payment_count(pg_database, order_id) == 1
    row = order_row(pg_database, order_id)
    assert (row.status, row.paid) == (status, paid)
    assert factories.balance_of(pg_database, customer_id) == OPENING + credited
    assert ledger_kinds(pg_database, customer_id)["credit"] == (1 if credited else 0)
    assert_books_balance(pg_database)


# ---------------------------------------------------------------- return vs return


def test_returns_racing_on_one_delivered_order_never_return_more_than_shipped(
    pg_database: Database,
) -> None:
    # Given a delivered order of 5 units at 3.00 and 4 units at 7.00, paid from the balance
    customer_id = factories.customer(pg_database, balance=OPENING)
    cheap = factories.product(pg_database, price=3_00, stock=20)
    dear = factories.product(pg_database, price=7_00, stock=20)
    order_id = factories.order(pg_database, customer_id, (cheap, 5), (dear, 4))
    process(pg_database, order_id)
    ship(pg_database, order_id)
    first_line, second_line = (line.id for line in lines_of(pg_database, order_id))

    # When ten threads each return 1 to 3 units of the lines (together far more than
    # shipped), half of them restocking, one of them returning everything left
    requests: list[list[flow_service.ReturnLine] | None] = [
        [
            flow_service.ReturnLine(first_line, 1 + i % 3, restock=i % 2 == 0),
            *([flow_service.ReturnLine(second_line, 1 + i % 2)] if i % 3 == 0 else []),
        ]
        for i in range(9)
    ]
    requests.append(None)
    outcomes = run_at_once(
        len(requests),
        lambda i: attempt(
            pg_database,
            lambda s: flow_service.return_order(
                s, order_id, lines=requests[i], restock=True, reason=f"return {i}"
            ),
        ),
    )

    # Then some returns went through and the rest were refused
    assert_expected(outcomes, {"return_exceeds_quantity", "nothing_to_return"})
    assert OK in outcomes
    # And never more came back than was shipped, and what came back was refunded
    lines = lines_of(pg_database, order_id)
    returned = {line.id: line.quantity_returned for line in lines}
    restocked = {line.id: line.quantity_restocked for line in lines}
    assert returned[first_line] <= 5, returned
    assert returned[second_line] <= 4, returned
    row = order_row(pg_database, order_id)
    assert row.refunded == returned[first_line] * 3_00 + returned[second_line] * 7_00
    assert factories.balance_of(pg_database, customer_id) == OPENING - row.paid + row.refunded
    assert factories.stock_of(pg_database, cheap) == 20 - 5 + restocked[first_line]
    assert factories.stock_of(pg_database, dear) == 20 - 4 + restocked[second_line]
    assert_books_balance(pg_database)


def test_partial_returns_racing_add_up_to_exactly_what_succeeded(pg_database: Database) -> None:
    quantities = [2, 2, 2, 2, 3, 1, 1, 4]  # 17 units asked for, 6 shipped
    for _ in range(5):
        # Given a delivered order of 6 units at 2.00
        customer_id = factories.customer(pg_database, balance=OPENING)
        product_id = factories.product(pg_database, price=2_00, stock=6)
        order_id = factories.order(pg_database, customer_id, (product_id, 6))
        process(pg_database, order_id)
        ship(pg_database, order_id, deliver=False)
        (line,) = lines_of(pg_database, order_id)

        # When eight threads return parts of it at once, restocking
        def work(i: int, order_id: int = order_id, line_id: int = line.id) -> str:
            return attempt(
                pg_database,
                lambda s: flow_service.return_order(
                    s,
                    order_id,
                    lines=[flow_service.ReturnLine(line_id, quantities[i])],
                    restock=True,
                ),
            )

        outcomes = run_at_once(len(quantities), work)

        # Then the successful returns add up to what is recorded, and to at most 6
        assert_expected(outcomes, {"return_exceeds_quantity", "nothing_to_return"})
        accepted = sum(q for q, outcome in zip(quantities, outcomes, strict=True) if outcome == OK)
        (after,) = lines_of(pg_database, order_id)
        assert after.quantity_returned == accepted
        assert accepted <= 6
        assert order_row(pg_database, order_id).refunded == accepted * 2_00
        assert factories.stock_of(pg_database, product_id) == accepted
        assert factories.balance_of(pg_database, customer_id) == OPENING - 12_00 + accepted * 2_00
        assert_books_balance(pg_database)


# ---------------------------------------------------------------- process vs cancel


@pytest.mark.parametrize("flow", list(PaymentFlow))
def test_process_racing_cancel_on_a_pending_order_leaves_no_stock_or_money_behind(
    pg_database: Database, flow: PaymentFlow
) -> None:
    customer_id = factories.customer(pg_database, balance=OPENING)
    for round_ in range(10):
        # Given pending orders asking for 5 units of products with only 2 on the shelf
        # (processing with "adjust" settles their lines at 2)
        batch = []
        for n in range(4):
            product_id = factories.product(pg_database, price=3_00 + n, stock=2)
            other = factories.product(pg_database, price=1_00, stock=10)
            order_id = factories.order(pg_database, customer_id, (product_id, 5), (other, 1))
            batch.append((order_id, product_id, other))

        # When each is processed and cancelled at the same moment
        # (which thread of a pair is released first alternates from round to round)
        def work(i: int, batch: list[tuple[int, int, int]] = batch, round_: int = round_) -> str:
            order_id = batch[i // 2][0]
            if (i + round_) % 2 == 0:
                return attempt(
                    pg_database,
                    lambda s: processing.process_order(s, order_id, Strategy.ADJUST, flow=flow),
                )
            return attempt(pg_database, lambda s: flow_service.cancel(s, order_id, reason="no"))

        outcomes = run_at_once(2 * len(batch), work)

        # Then every order ends cancelled, with its stock back and its money refunded
        assert_expected(outcomes, {"already_cancelled"})
        for order_id, product_id, other in batch:
            row = order_row(pg_database, order_id)
            assert (row.status, row.refunded) == ("cancelled", row.paid), row
            assert factories.stock_of(pg_database, product_id) == 2, order_id
            assert factories.stock_of(pg_database, other) == 10, order_id
        assert factories.balance_of(pg_database, customer_id) == OPENING
        assert_books_balance(pg_database)


# ---------------------------------------------------------------- idempotency over HTTP


@pytest.fixture
def live_server(pg_database: Database) -> Iterator[tuple[str, str]]:
    """The app served by a real uvicorn on 127.0.0.1: (base URL, an admin's token)."""
    with serve(pg_database) as base_url:
        yield base_url, factories.token_for(pg_database, factories.user(pg_database, role="admin"))


def post_at_once(
    server: tuple[str, str], count: int, path: str, body: dict[str, Any], key: str
) -> list[httpx2.Response]:
    """The same POST from ``count`` threads at once, each on its own connection."""
    base_url, token = server
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    return requests_at_once(base_url, count, "POST", path, headers=headers, body=body)


def assert_done_once(responses: list[httpx2.Response]) -> httpx2.Response:
    """One 200 did the work; the others replayed it or were told the key is in use."""
    successes = [r for r in responses if r.status_code == 200]
    in_use = [r for r in responses if r.status_code == 409]
    others = [(r.status_code, r.text) for r in responses if r.status_code not in (200, 409)]
    assert others == []
    assert [r.json()["code"] for r in in_use] == ["idempotency_key_in_use"] * len(in_use)
    assert successes, "no request succeeded"
    assert len({r.content for r in successes}) == 1
    fresh = [r for r in successes if r.headers.get("Idempotent-Replayed") is None]
    assert len(fresh) == 1
    assert all(r.headers.get("Idempotent-Replayed") == "true" for r in successes if r not in fresh)
    return fresh[0]


def test_ten_identical_cancel_requests_with_one_key_cancel_and_refund_once(
    pg_database: Database, live_server: tuple[str, str]
) -> None:
    # Given an order processed from the balance: 3 units at 4.25
    customer_id = factories.customer(pg_database, balance=OPENING)
    product_id = factories.product(pg_database, price=4_25, stock=10)
    order_id = factories.order(pg_database, customer_id, (product_id, 3))
    process(pg_database, order_id)
    key = f"cancel-{uuid.uuid4().hex}"

    # When ten clients send the same cancel with the same key at once
    responses = post_at_once(
        live_server, 10, f"/api/orders/{order_id}/actions/cancel", {"reason": "duplicate"}, key
    )

    # Then it was cancelled once: stock back once, refunded once
    first = assert_done_once(responses).json()
    assert (first["id"], first["status"]) == (order_id, "cancelled")
    assert factories.stock_of(pg_database, product_id) == 10
    assert factories.balance_of(pg_database, customer_id) == OPENING
    assert ledger_kinds(pg_database, customer_id)["refund"] == 1
    assert_books_balance(pg_database)

    # And a later retry replays the response
    retry = post_at_once(
        live_server, 1, f"/api/orders/{order_id}/actions/cancel", {"reason": "duplicate"}, key
    )[0]
    assert (retry.status_code, retry.headers.get("Idempotent-Replayed")) == (200, "true")
    assert retry.content == responses[[r.status_code for r in responses].index(200)].content


def test_ten_identical_pay_requests_with_one_key_record_one_payment(
    pg_database: Database, live_server: tuple[str, str]
) -> None:
    # Given an order of 12.00 awaiting payment
    customer_id = factories.customer(pg_database, balance=OPENING)
    product_id = factories.product(pg_database, price=4_00, stock=10)
    order_id = factories.order(pg_database, customer_id, (product_id, 3))
    process(pg_database, order_id, PaymentFlow.ADVANCE)
    key = f"pay-{uuid.uuid4().hex}"

    # When ten clients send the same payment of 5.00 (no reference) with one key at once
    responses = post_at_once(
        live_server,
        10,
        f"/api/orders/{order_id}/actions/pay",
        {"amount": "5.00", "method": "card"},
        key,
    )

    # Then one payment was recorded
    first = assert_done_once(responses).json()
    assert (first["status"], first["paid"]) == ("awaiting_payment", "5.00")
    assert payment_count(pg_database, order_id) == 1
    row = order_row(pg_database, order_id)
    assert (row.status, row.paid) == ("awaiting_payment", 5_00)
    assert factories.balance_of(pg_database, customer_id) == OPENING
    assert factories.stock_of(pg_database, product_id) == 7
    assert_books_balance(pg_database)
