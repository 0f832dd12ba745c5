"""Concurrency on PostgreSQL: real threads, real processes, a real HTTP server.

Every scenario starts its workers at the same moment (a barrier) and then checks
the books: no unit sold twice, stock never negative, stock + sold = initial
stock, one charge per processed order, unique consecutive order numbers, and
one effect per idempotency key.
"""

from __future__ import annotations

import multiprocessing
import random
import traceback
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select, text

from ordermill.db import Database
from ordermill.domain.orders import Strategy, parse_order_number
from ordermill.errors import Conflict, OrdermillError
from ordermill.services import carts as cart_service
from ordermill.services import idempotency, order_views, processing
from ordermill.services import orders as order_service
from ordermill.services.tables import cart_items, customers, order_lines, orders, products
from tests import factories
from tests.concurrency import START_TIMEOUT, WORK_TIMEOUT, requests_at_once, run_at_once
from tests.e2e.live_server import live_server as serve

pytestmark = pytest.mark.postgres_only

INITIAL_STOCK = 20
PRICES = (3_07, 5_11, 11_13)
OPENING_BALANCE = 1_000_00
ORDER_COUNT = 60
CUSTOMER_COUNT = 6
THREADS = 12


# ---------------------------------------------------------------- helpers


def process_outcome(database: Database, order_id: int, strategy: Strategy) -> str:
    """Process one order in its own transaction: "processed" or the failure code."""
    try:
        with database.write() as session:
            processing.process_order(session, order_id, strategy)
    except OrdermillError as exc:
        return exc.code
    return "processed"


def process_all(database: Database, order_ids: list[int], strategy: Strategy) -> Counter[str]:
    return Counter(process_outcome(database, order_id, strategy) for order_id in order_ids)


def deal(items: list[int], hands: int) -> list[list[int]]:
    """Split ``items`` into ``hands`` interleaved lists (so every worker gets every product)."""
    return [items[hand::hands] for hand in range(hands)]


@dataclass(frozen=True)
class Store:
    product_ids: list[int]
    customer_ids: list[int]
    order_ids: list[int]
    demand: dict[int, int]  # units ordered per product, over all orders


def store_short_of_stock(database: Database, seed: int) -> Store:
    """3 products with 20 units each; 60 orders, each for 1-3 units of 2 of them."""
    rng = random.Random(seed)
    product_ids = [
        factories.product(database, price=price, stock=INITIAL_STOCK) for price in PRICES
    ]
    customer_ids = [
        factories.customer(database, balance=OPENING_BALANCE) for _ in range(CUSTOMER_COUNT)
    ]
    demand = dict.fromkeys(product_ids, 0)
    order_ids = []
    for _ in range(ORDER_COUNT):
        items = [(pid, rng.randint(1, 3)) for pid in rng.sample(product_ids, 2)]
        for pid, qty in items:
            demand[pid] += qty
        order_ids.append(factories.order(database, rng.choice(customer_ids), *items))
    return Store(product_ids, customer_ids, order_ids, demand)


@dataclass(frozen=True)
class Books:
    """What the database says after the burst."""

    stock: dict[int, int]
    sold: dict[int, int]  # units on processed order lines, per product
    charged: dict[int, int]  # opening balance minus balance now, per customer
    processed_totals: dict[int, int]  # sum of processed orders' totals, per customer
    status: dict[int, str]  # per order
    mispriced_lines: int  # lines whose total is not quantity x unit price
    mistotalled_orders: int  # processed orders whose total is not the sum of their lines
    changed_pending_lines: int  # lines of pending orders no longer at the ordered quantity


def read_books(database: Database, store: Store) -> Books:
    processed = orders.c.status == "processed"
    with database.read() as session:
        stock = dict(
            session.execute(
                select(products.c.id, products.c.stock).where(products.c.id.in_(store.product_ids))
            ).all()
        )
        sold = dict.fromkeys(store.product_ids, 0) | dict(
            session.execute(
                select(order_lines.c.product_id, func.sum(order_lines.c.quantity))
                .join(orders, orders.c.id == order_lines.c.order_id)
                .where(processed)
                .group_by(order_lines.c.product_id)
            ).all()
        )
        balances = dict(
            session.execute(
                select(customers.c.id, customers.c.balance).where(
                    customers.c.id.in_(store.customer_ids)
                )
            ).all()
        )
        processed_totals = dict.fromkeys(store.customer_ids, 0) | dict(
            session.execute(
                select(orders.c.customer_id, func.sum(orders.c.total))
                .where(processed)
                .group_by(orders.c.customer_id)
            ).all()
        )
        status = dict(session.execute(select(orders.c.id, orders.c.status)).all())
        mispriced = session.execute(
            select(func.count())
            .select_from(order_lines)
            .where(order_lines.c.line_total != order_lines.c.quantity * order_lines.c.unit_price)
        ).scalar_one()
        line_sums = (
            select(order_lines.c.order_id, func.sum(order_lines.c.line_total).label("lines"))
            .group_by(order_lines.c.order_id)
            .subquery()
        )
        mistotalled = session.execute(
            select(func.count())
            .select_from(orders.join(line_sums, line_sums.c.order_id == orders.c.id))
            .where(processed, orders.c.total != line_sums.c.lines)
        ).scalar_one()
        changed_pending = session.execute(
            select(func.count())
            .select_from(order_lines.join(orders, orders.c.id == order_lines.c.order_id))
            .where(
                orders.c.status == "pending",
                order_lines.c.quantity != order_lines.c.quantity_ordered,
            )
        ).scalar_one()
    return Books(
        stock=stock,
        sold={pid: int(units) for pid, units in sold.items()},
        charged={cid: OPENING_BALANCE - balance for cid, balance in balances.items()},
        processed_totals={cid: int(total) for cid, total in processed_totals.items()},
        status=status,
        mispriced_lines=mispriced,
        mistotalled_orders=mistotalled,
        changed_pending_lines=changed_pending,
    )


def assert_books_balance(books: Books, store: Store) -> None:
    """No unit oversold or lost, and every customer paid exactly for what they got."""
    assert all(units >= 0 for units in books.stock.values()), books.stock
    assert {pid: books.stock[pid] + books.sold[pid] for pid in store.product_ids} == dict.fromkeys(
        store.product_ids, INITIAL_STOCK
    )
    assert books.charged == books.processed_totals
    assert books.mispriced_lines == 0
    assert books.mistotalled_orders == 0
    assert books.changed_pending_lines == 0


# ---------------------------------------------------------------- scarce stock, threads


def test_threads_processing_orders_for_scarce_stock_with_adjust_sell_every_unit_exactly_once(
    pg_database: Database,
) -> None:
    # Given 60 orders asking for far more than the 20 units of each product
    store = store_short_of_stock(pg_database, seed=2)
    assert all(units > INITIAL_STOCK for units in store.demand.values())

    # When 12 threads process them all at once with "adjust"
    hands = deal(store.order_ids, THREADS)
    outcomes = sum(
        run_at_once(THREADS, lambda i: process_all(pg_database, hands[i], Strategy.ADJUST)),
        Counter[str](),
    )

    # Then every order is processed, the shelves are empty and nothing was sold twice
    assert outcomes == Counter({"processed": ORDER_COUNT})
    books = read_books(pg_database, store)
    assert books.stock == dict.fromkeys(store.product_ids, 0)
    assert books.sold == dict.fromkeys(store.product_ids, INITIAL_STOCK)
    assert_books_balance(books, store)
    assert sum(books.charged.values()) == INITIAL_STOCK * sum(PRICES)


def test_threads_processing_orders_for_scarce_stock_with_reject_process_whole_orders_or_none(
    pg_database: Database,
) -> None:
    # Given 60 orders asking for far more than the 20 units of each product
    store = store_short_of_stock(pg_database, seed=3)
    assert all(units > INITIAL_STOCK for units in store.demand.values())

    # When 12 threads process them all at once with "reject"
    hands = deal(store.order_ids, THREADS)
    outcomes = sum(
        run_at_once(THREADS, lambda i: process_all(pg_database, hands[i], Strategy.REJECT)),
        Counter[str](),
    )

    # Then some orders are processed in full, the rest are refused and left untouched
    assert set(outcomes) == {"processed", "insufficient_stock"}
    assert outcomes.total() == ORDER_COUNT
    books = read_books(pg_database, store)
    assert Counter(books.status.values()) == Counter(
        {"processed": outcomes["processed"], "pending": outcomes["insufficient_stock"]}
    )
    assert_books_balance(books, store)


# ---------------------------------------------------------------- scarce stock, processes


def _process_in_child(
    url: str,
    order_ids: list[int],
    strategy: str,
    barrier: Any,
    results: Any,
) -> None:
    """A worker process: its own engine and pool, processing its share of the orders."""
    try:
        database = Database(url)
        try:
            barrier.wait(timeout=START_TIMEOUT)
            outcomes = process_all(database, order_ids, Strategy(strategy))
        finally:
            database.dispose()
        results.put(("ok", dict(outcomes)))
    except BaseException:
        results.put(("error", traceback.format_exc()))


def test_processes_processing_orders_for_scarce_stock_sell_every_unit_exactly_once(
    pg_database: Database,
) -> None:
    # Given 60 orders asking for far more than the 20 units of each product
    store = store_short_of_stock(pg_database, seed=5)
    assert all(units > INITIAL_STOCK for units in store.demand.values())

    # When 4 separate processes process them all at once with "adjust"
    workers = 4
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers)
    results = context.Queue()
    children = [
        context.Process(
            target=_process_in_child,
            args=(pg_database.url, hand, Strategy.ADJUST.value, barrier, results),
            daemon=True,
        )
        for hand in deal(store.order_ids, workers)
    ]
    for child in children:
        child.start()
    try:
        reports = [results.get(timeout=WORK_TIMEOUT) for _ in children]
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.kill()
                child.join(timeout=5)
        results.close()
        results.join_thread()

    # Then every child finished, every order is processed and nothing was sold twice
    assert [report for kind, report in reports if kind == "error"] == []
    assert [child.exitcode for child in children] == [0] * workers
    outcomes = sum((Counter(report) for _, report in reports), Counter[str]())
    assert outcomes == Counter({"processed": ORDER_COUNT})
    books = read_books(pg_database, store)
    assert books.stock == dict.fromkeys(store.product_ids, 0)
    assert books.sold == dict.fromkeys(store.product_ids, INITIAL_STOCK)
    assert_books_balance(books, store)


# ---------------------------------------------------------------- placed and processed at once


def multixacts_made(database: Database) -> int:
    """How many multixacts the cluster has handed out so far (PostgreSQL makes one when a
    second transaction locks a row another still holds a lock on)."""
    with database.read() as session:
        return int(
            session.execute(
                text(
                    "SELECT mxid_age(datminmxid) FROM pg_database"
                    " WHERE datname = current_database()"
                )
            ).scalar_one()
        )


def test_orders_placed_and_processed_at_once_on_the_same_products_queue_on_their_locks(
    pg_database: Database, live_server: str
) -> None:
    # Given 3 products with 20 units each and 6 customers with money
    store = Store(
        product_ids=[
            factories.product(pg_database, price=price, stock=INITIAL_STOCK) for price in PRICES
        ],
        customer_ids=[
            factories.customer(pg_database, balance=OPENING_BALANCE) for _ in range(CUSTOMER_COUNT)
        ],
        order_ids=[],
        demand={},
    )
    before = multixacts_made(pg_database)

    def place_and_process(hand: int) -> list[tuple[int, str]]:
        """3 orders for a unit of each product, listed in an order of this thread's own."""
        rng = random.Random(hand)
        answers = []
        with admin_client(live_server) as client:
            for _ in range(3):
                items = [{"product_id": pid, "quantity": 1} for pid in store.product_ids]
                rng.shuffle(items)
                answer = client.post(
                    "/api/orders",
                    json={
                        "customer_id": store.customer_ids[hand % CUSTOMER_COUNT],
                        "items": items,
                        "process": True,
                        "strategy": "reject",
                    },
                )
                answers.append((answer.status_code, answer.json().get("code", "")))
        return answers

    # When 12 clients place and process 3 orders each at the same moment (36 units of each
    # product asked for, 20 on the shelf)
    answers = Counter(a for hand in run_at_once(THREADS, place_and_process) for a in hand)

    # Then 20 orders went through and the other 16 were refused whole, leaving nothing behind
    assert answers == Counter({(201, ""): 20, (409, "insufficient_stock"): 16})
    books = read_books(pg_database, store)
    assert books.stock == dict.fromkeys(store.product_ids, 0)
    assert books.sold == dict.fromkeys(store.product_ids, INITIAL_STOCK)
    assert sorted(books.status.values()) == ["processed"] * 20
    assert_books_balance(books, store)
    # And each order locked its customer and products before writing its lines, so no
    # transaction's share lock (the lines' foreign-key checks) waited beside another's
    assert multixacts_made(pg_database) == before


def test_orders_decided_from_reads_that_stopped_holding_are_placed_under_locks_once_each(
    pg_database: Database, live_server: str
) -> None:
    # Given 3 products with 20 units each and only 2 customers, so that orders placed at
    # the same moment for the same customer change the balance the others decided from
    store = Store(
        product_ids=[
            factories.product(pg_database, price=price, stock=INITIAL_STOCK) for price in PRICES
        ],
        customer_ids=[factories.customer(pg_database, balance=OPENING_BALANCE) for _ in range(2)],
        order_ids=[],
        demand={},
    )

    def place_and_process(hand: int) -> list[tuple[int, str, str]]:
        answers = []
        with admin_client(live_server) as client:
            for _ in range(2):
                answer = client.post(
                    "/api/orders",
                    json={
                        "customer_id": store.customer_ids[hand % 2],
                        "items": [{"product_id": pid, "quantity": 1} for pid in store.product_ids],
                        "process": True,
                    },
                )
                body = answer.json()
                answers.append((answer.status_code, body.get("status", ""), body.get("number", "")))
        return answers

    # When 12 clients place and process 2 orders each at the same moment (24 units of each
    # product asked for, 20 on the shelf, adjusted to what is left)
    answers = [a for hand in run_at_once(THREADS, place_and_process) for a in hand]

    # Then every order was placed once and numbered 1..24 without a gap, every unit on the
    # shelf sold once, and every customer charged exactly for what their orders got
    assert Counter(status for status, _state, _number in answers) == Counter({201: 24})
    parsed = sorted(parse_order_number(number)[1] for _s, _state, number in answers)
    assert parsed == list(range(1, 25))
    books = read_books(pg_database, store)
    assert books.stock == dict.fromkeys(store.product_ids, 0)
    assert books.sold == dict.fromkeys(store.product_ids, INITIAL_STOCK)
    assert_books_balance(books, store)
    with pg_database.read() as session:
        assert session.execute(select(func.count()).select_from(orders)).scalar_one() == 24
        charges = session.execute(
            text(
                "SELECT count(*), count(DISTINCT order_id),"
                " (SELECT count(*) FROM orders WHERE total > 0)"
                " FROM ledger_entries WHERE order_id IS NOT NULL"
            )
        ).one()
    assert charges[0] == charges[1] == charges[2] >= 20  # one charge per order that got units


def test_orders_placed_at_once_through_one_token_lock_nothing_they_share(
    pg_database: Database, live_server: str
) -> None:
    # Given 12 products and 12 customers
    product_ids = [factories.product(pg_database, stock=100) for _ in range(THREADS)]
    customer_ids = [factories.customer(pg_database) for _ in range(THREADS)]
    before = multixacts_made(pg_database)

    def place(hand: int) -> list[int]:
        order = {
            "customer_id": customer_ids[hand],
            "items": [{"product_id": product_ids[hand], "quantity": 1}],
        }
        with admin_client(live_server) as client:  # one admin user and token for all
            return [client.post("/api/orders", json=order).status_code for _ in range(5)]

    # When 12 clients of the same user place 5 orders each at the same moment, each for a
    # customer and product of its own
    statuses = Counter(s for hand in run_at_once(THREADS, place) for s in hand)

    # Then all 60 were placed, and no two transactions locked the same row at once: the
    # audit entries name the user and token without locking their rows
    assert statuses == Counter({201: THREADS * 5})
    assert multixacts_made(pg_database) == before


# ---------------------------------------------------------------- one order, many hands


def test_one_order_processed_by_ten_threads_at_once_is_charged_and_stocked_once(
    pg_database: Database,
) -> None:
    # Given a pending order for 3 units at 12.50
    customer = factories.customer(pg_database, balance=100_00)
    product = factories.product(pg_database, price=12_50, stock=10)
    order_id = factories.order(pg_database, customer, (product, 3))

    # When 10 threads process it at the same moment
    outcomes = run_at_once(10, lambda _: process_outcome(pg_database, order_id, Strategy.ADJUST))

    # Then one of them processed it and the other nine were told it already was
    assert Counter(outcomes) == Counter({"processed": 1, "already_processed": 9})
    assert factories.stock_of(pg_database, product) == 7
    assert factories.balance_of(pg_database, customer) == 100_00 - 37_50
    with pg_database.read() as session:
        order = order_views.get_order(session, order_id)
    assert (order.status, order.total, order.lines[0].quantity) == ("processed", 37_50, 3)


# ---------------------------------------------------------------- order numbers


def test_orders_created_by_eight_threads_at_once_are_numbered_one_to_n_without_gaps(
    pg_database: Database,
) -> None:
    # Given a customer and a product, and no order yet this year
    customer = factories.customer(pg_database)
    product = factories.product(pg_database, stock=1_000)
    threads, per_thread = 8, 25

    def place_many(_: int) -> list[str]:
        numbers = []
        for _ in range(per_thread):
            with pg_database.write() as session:
                view = order_service.place_order(
                    session,
                    customer_id=customer,
                    items=[order_service.ItemRequest(product, 1)],
                    currency="USD",
                )
            numbers.append(view.number)
        return numbers

    # When 8 threads create 25 orders each at the same time
    numbers = [number for batch in run_at_once(threads, place_many) for number in batch]

    # Then the 200 numbers are this year's 1..200, each once
    parsed = [parse_order_number(number) for number in numbers]
    assert {year for year, _ in parsed} == {datetime.now(UTC).year}
    assert sorted(sequence for _, sequence in parsed) == list(range(1, threads * per_thread + 1))
    with pg_database.read() as session:
        stored = set(session.execute(select(orders.c.number)).scalars())
    assert stored == set(numbers)


# ---------------------------------------------------------------- idempotency over HTTP


@pytest.fixture
def live_server(pg_database: Database) -> Iterator[str]:
    """The app served by a real uvicorn on 127.0.0.1, in a background thread."""
    with serve(pg_database) as base_url:
        _ADMIN_TOKENS[base_url] = factories.token_for(
            pg_database, factories.user(pg_database, role="admin")
        )
        yield base_url


_ADMIN_TOKENS: dict[str, str] = {}


def admin_client(base_url: str) -> httpx2.Client:
    """An HTTP client signed in as an admin of the server at ``base_url``."""
    return httpx2.Client(
        base_url=base_url,
        timeout=WORK_TIMEOUT,
        headers={"Authorization": f"Bearer {_ADMIN_TOKENS[base_url]}"},
    )


def send_at_once(
    base_url: str,
    count: int,
    method: str,
    path: str,
    *,
    body: dict[str, Any] | None = None,
    key: str | None = None,
) -> list[httpx2.Response]:
    """The same request from ``count`` threads at once, each with its own connection."""
    headers = {"Authorization": f"Bearer {_ADMIN_TOKENS[base_url]}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return requests_at_once(base_url, count, method, path, headers=headers, body=body)


def split_by_status(
    responses: list[httpx2.Response], success: int
) -> tuple[list[httpx2.Response], list[httpx2.Response]]:
    """(successes, idempotency conflicts); fails on any other response."""
    successes = [r for r in responses if r.status_code == success]
    in_use = [r for r in responses if r.status_code == 409]
    others = [(r.status_code, r.text) for r in responses if r.status_code not in (success, 409)]
    assert others == []
    assert [r.json()["code"] for r in in_use] == ["idempotency_key_in_use"] * len(in_use)
    assert successes, "no request succeeded"
    return successes, in_use


def test_ten_identical_process_requests_with_one_idempotency_key_process_the_order_once(
    pg_database: Database, live_server: str
) -> None:
    # Given a pending order for 3 units at 4.25
    customer = factories.customer(pg_database, balance=100_00)
    product = factories.product(pg_database, price=4_25, stock=10)
    order_id = factories.order(pg_database, customer, (product, 3))
    key = f"process-{uuid.uuid4().hex}"

    # When 10 clients send the same processing request with the same key at once
    responses = send_at_once(
        live_server, 10, "PUT", f"/api/orders/{order_id}", body={"process": True}, key=key
    )

    # Then one did the work, the rest got its response again or "still running"
    successes, _ = split_by_status(responses, 200)
    assert len({r.content for r in successes}) == 1
    assert [r.headers.get("Idempotent-Replayed") for r in successes].count(None) == 1
    first = successes[0].json()
    assert (first["id"], first["status"], first["total"]) == (order_id, "processed", "12.75")
    assert factories.stock_of(pg_database, product) == 7
    assert factories.balance_of(pg_database, customer) == 100_00 - 12_75

    # And a later retry with the key replays that response without charging again
    with admin_client(live_server) as client:
        retry = client.put(
            f"/api/orders/{order_id}", json={"process": True}, headers={"Idempotency-Key": key}
        )
    assert (retry.status_code, retry.content) == (200, successes[0].content)
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert factories.balance_of(pg_database, customer) == 100_00 - 12_75


def test_ten_identical_create_requests_with_one_idempotency_key_create_one_order(
    pg_database: Database, live_server: str
) -> None:
    # Given a customer and a product with 10 units at 2.50
    customer = factories.customer(pg_database, balance=100_00)
    product = factories.product(pg_database, price=2_50, stock=10)
    body = {
        "customer_id": customer,
        "items": [{"product_id": product, "quantity": 4}],
        "process": True,
    }
    key = f"create-{uuid.uuid4().hex}"

    # When 10 clients post the same order (processed right away) with the same key at once
    responses = send_at_once(live_server, 10, "POST", "/api/orders", body=body, key=key)

    # Then exactly one order exists, stock and balance changed once, all successes agree
    successes, _ = split_by_status(responses, 201)
    assert len({r.content for r in successes}) == 1
    assert len({r.headers["Location"] for r in successes}) == 1
    created = successes[0].json()
    with pg_database.read() as session:
        order_ids = list(session.execute(select(orders.c.id)).scalars())
    assert order_ids == [created["id"]]
    assert (created["status"], created["total"]) == ("processed", "10.00")
    assert factories.stock_of(pg_database, product) == 6
    assert factories.balance_of(pg_database, customer) == 100_00 - 10_00


def test_a_duplicate_on_another_connection_sees_the_key_in_use_until_the_first_commits(
    pg_database: Database,
) -> None:
    # (Another connection is what a duplicate handled by another server process has.)
    key = f"cross-{uuid.uuid4().hex}"
    fingerprint = idempotency.fingerprint("PUT", "/api/orders/1", {"process": True})
    stored = idempotency.StoredResponse(200, '{"id": 1}', {})

    # Given a first request that claimed the key and is still running
    with pg_database.write() as first:
        assert idempotency.claim(first, key, fingerprint) is None

        # When a duplicate on another connection claims it meanwhile
        with pytest.raises(Conflict) as raised, pg_database.write() as duplicate:
            idempotency.claim(duplicate, key, fingerprint)

        # Then it is told the key is in use
        assert raised.value.code == "idempotency_key_in_use"
        idempotency.store(first, key, fingerprint, stored)

    # And once the first committed, a retry gets the stored response
    with pg_database.write() as retry:
        assert idempotency.claim(retry, key, fingerprint) == stored


# ---------------------------------------------------------------- checkout


def test_two_checkouts_of_one_cart_at_once_make_one_order_with_every_item(
    pg_database: Database, live_server: str
) -> None:
    # Given 5 customers, each with a cart of 2 units of one product and 3 of another
    first = factories.product(pg_database, price=1_00, stock=100)
    second = factories.product(pg_database, price=2_00, stock=100)
    shoppers = [factories.customer(pg_database) for _ in range(5)]
    for customer in shoppers:
        with pg_database.write() as session:
            cart_service.set_cart_item(session, customer, first, 2)
            cart_service.set_cart_item(session, customer, second, 3)

    # When each cart is checked out twice, all 10 requests at the same moment
    targets = [customer for customer in shoppers for _ in range(2)]
    with ExitStack() as stack:
        clients = [stack.enter_context(admin_client(live_server)) for _ in targets]
        responses = run_at_once(
            len(targets),
            lambda i: clients[i].post(f"/api/customers/{targets[i]}/cart/checkout"),
        )

    # Then each customer got one order holding the whole cart, and one "cart_empty"
    by_customer: dict[int, list[httpx2.Response]] = {}
    for customer, response in zip(targets, responses, strict=True):
        by_customer.setdefault(customer, []).append(response)
    for customer, pair in by_customer.items():
        assert sorted(r.status_code for r in pair) == [201, 409], [r.text for r in pair]
        created = next(r for r in pair if r.status_code == 201).json()
        refused = next(r for r in pair if r.status_code == 409).json()
        assert refused["code"] == "cart_empty"
        assert created["customer_id"] == customer
        assert sorted((line["product_id"], line["quantity"]) for line in created["lines"]) == [
            (first, 2),
            (second, 3),
        ]
    with pg_database.read() as session:
        per_customer = Counter(session.execute(select(orders.c.customer_id)).scalars())
        left_in_carts = session.execute(select(func.count()).select_from(cart_items)).scalar_one()
    assert per_customer == Counter(dict.fromkeys(shoppers, 1))
    assert left_in_carts == 0
