"""The order page's actions: each does what the API does and says so, a wrong field comes
back on the page, a refusal is said in words, and a forged post changes nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.domain.access import Permission
from ordermill.web.app import create_app
from ordermill.web.auth import route_permission
from ordermill.web.pages.sessions import route_checks_csrf
from tests import factories
from tests.pages import order_scenes as scenes
from tests.pages.forms import csrf_of, flashes, follow, log_in, submit, text_of

XSS = "<script>alert(1)</script>"


def signed_in(database: Database, email: str, **settings: Any) -> TestClient:
    factories.user(database, role="staff", email=email)
    app = create_app(Settings(database_url=database.url, **settings), database)
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    client.__enter__()
    assert log_in(client, email).status_code == 303
    return client


@pytest.fixture
def colleague(database: Database) -> Iterator[TestClient]:
    """A second staff member, in a browser of their own."""
    client = signed_in(database, "colleague@example.com")
    yield client
    client.__exit__(None, None, None)


def landed(client: TestClient, response: Any) -> tuple[str, list[tuple[str, str]]]:
    """Where a redirect-after-POST went, and the messages on that page."""
    assert response.status_code == 303, (response.status_code, text_of(response.text)[:400])
    page = follow(client, response)
    assert page.status_code == 200
    return response.headers["location"], flashes(page.text)


# ---------------------------------------------------------------- every route


def test_every_order_form_route_checks_its_token_and_the_write_permission() -> None:
    app = create_app(Settings(database_url="sqlite://"))
    routes = [
        context
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        and str(context.path).startswith("/admin/orders")
    ]
    posts = [route for route in routes if "POST" in (route.methods or ())]
    gets = [route for route in routes if "GET" in (route.methods or ())]

    assert sorted(str(route.path) for route in posts) == [
        "/admin/orders/bulk-process",
        "/admin/orders/{ref}/cancel",
        "/admin/orders/{ref}/delete",
        "/admin/orders/{ref}/deliver",
        "/admin/orders/{ref}/fulfill",
        "/admin/orders/{ref}/notes",
        "/admin/orders/{ref}/pay",
        "/admin/orders/{ref}/process",
        "/admin/orders/{ref}/return",
    ]
    assert all(route_checks_csrf(route.dependant) for route in posts)
    assert {route_permission(route.dependant) for route in posts} == {Permission.ORDERS_WRITE}
    assert {route_permission(route.dependant) for route in gets} == {Permission.ORDERS_READ}


def _ready_for(database: Database, name: str) -> scenes.Placed:
    """An order the action ``name`` would change."""
    if name in ("process", "delete", "notes", "bulk-process"):
        return scenes.place(database)
    if name == "pay":
        return scenes.awaiting_payment(database)
    if name in ("fulfill", "cancel"):
        return scenes.processed(database)
    return scenes.fulfilled(database)  # deliver, return


def _data_for(name: str, placed: scenes.Placed, database: Database) -> dict[str, Any]:
    order = scenes.order(database, placed.id)
    assert order is not None
    return {
        "process": {"strategy": "adjust"},
        "pay": {"amount": "100.00", "method": "cash"},
        "fulfill": {"carrier": "UPS"},
        "cancel": {"reason": "forged"},
        "return": {f"line_{order.lines[0].id}": "1", "restock": "yes"},
        "notes": {"text": "forged note"},
        "bulk-process": {"order_id": str(placed.id)},
    }.get(name, {})


def _snapshot(database: Database, placed: scenes.Placed) -> tuple[Any, ...]:
    order = scenes.order(database, placed.id)
    assert order is not None
    with database.read() as session:
        from ordermill.services import timeline

        events = len(timeline.list_events(session, placed.id))
    return (
        order.status,
        order.paid,
        order.refunded,
        [line.quantity_returned for line in order.lines],
        events,
        factories.balance_of(database, placed.customer),
        factories.stock_of(database, placed.product),
    )


ROUTES = ["process", "pay", "fulfill", "deliver", "cancel", "return", "delete", "notes"]


@pytest.mark.parametrize("tamper", ["no token", "wrong token", "no csrf cookie"])
@pytest.mark.parametrize("name", [*ROUTES, "bulk-process"])
def test_a_post_without_this_browsers_token_is_refused_and_changes_nothing(
    staff: TestClient, database: Database, name: str, tamper: str
) -> None:
    placed = _ready_for(database, name)
    before = _snapshot(database, placed)
    data = _data_for(name, placed, database)
    token = csrf_of(staff.get(placed.page).text)
    if tamper == "wrong token":
        data["csrf_token"] = "f" * 64
    elif tamper == "no csrf cookie":
        data["csrf_token"] = token
        staff.cookies.delete("ordermill_csrf")
    path = "/admin/orders/bulk-process" if name == "bulk-process" else f"{placed.page}/{name}"

    response = staff.post(path, data=data)

    assert response.status_code == 403
    assert "Nothing was changed" in text_of(response.text)
    assert _snapshot(database, placed) == before


# ---------------------------------------------------------------- process


def test_process_takes_the_stock_charges_the_balance_and_says_so(
    staff: TestClient, database: Database
) -> None:
    placed = scenes.place(database, quantity=5, price=2_00, stock=3, balance=50_00)
    order = scenes.order(database, placed.id)
    assert order is not None
    sku = order.lines[0].sku

    response = submit(staff, placed.page, f"{placed.page}/process", {"strategy": "adjust"})

    where, said = landed(staff, response)
    assert where == placed.page
    assert said == [
        (
            "ok",
            f"Order {placed.number} processed: $6.00 charged to the customer's balance. "
            f"Quantities changed to what was in stock: {sku} 3 of 5.",
        )
    ]
    assert scenes.status_of(database, placed.id) == "processed"
    assert factories.balance_of(database, placed.customer) == 44_00
    assert factories.stock_of(database, placed.product) == 0


def test_process_in_the_advance_flow_holds_the_stock_until_paid(database: Database) -> None:
    client = signed_in(database, "advance@example.com", payment_flow="advance")
    placed = scenes.place(database, quantity=2, price=5_00)

    response = submit(client, placed.page, f"{placed.page}/process", {"strategy": "adjust"})

    assert landed(client, response)[1] == [
        ("ok", f"Order {placed.number} processed: its stock is held until $10.00 is paid.")
    ]
    assert scenes.status_of(database, placed.id) == "awaiting_payment"
    client.__exit__(None, None, None)


def test_process_with_reject_refuses_a_short_order_in_words_and_changes_nothing(
    staff: TestClient, database: Database
) -> None:
    placed = scenes.place(database, quantity=5, stock=3)

    where, said = landed(
        staff, submit(staff, placed.page, f"{placed.page}/process", {"strategy": "reject"})
    )

    assert where == placed.page
    [(level, text)] = said
    assert level == "error"
    assert text == (
        f"Not enough stock for: product {placed.product} (5 ordered, 3 available). "
        "Choose Adjust or Ignore to process what is in stock."
    )
    assert scenes.status_of(database, placed.id) == "pending"


def test_a_strategy_not_in_the_list_comes_back_on_the_page(
    staff: TestClient, database: Database
) -> None:
    placed = scenes.place(database)

    response = submit(staff, placed.page, f"{placed.page}/process", {"strategy": "hope"})

    assert response.status_code == 400
    assert "Choose what to do when stock is short: adjust, reject or ignore." in text_of(
        response.text
    )
    assert 'aria-invalid="true" aria-describedby="process-strategy-error"' in response.text
    assert scenes.status_of(database, placed.id) == "pending"


# ---------------------------------------------------------------- mark as paid


@pytest.mark.parametrize(
    ("amount", "said"),
    [
        ("4.00", "Payment of $4.00 recorded on order {n}. Still due: $6.00."),
        ("10", "Payment of $10.00 recorded on order {n}. The order is paid in full."),
        (
            "12.50",
            "Payment of $12.50 recorded on order {n}. The order is paid in full. "
            "$2.50 over the total went to the customer's balance.",
        ),
    ],
)
def test_mark_as_paid_records_the_payment_and_says_what_is_left(
    staff: TestClient, database: Database, amount: str, said: str
) -> None:
    placed = scenes.awaiting_payment(database, quantity=1, price=10_00)

    response = submit(
        staff, placed.page, f"{placed.page}/pay", {"amount": amount, "method": "bank_transfer"}
    )

    assert landed(staff, response)[1] == [("ok", said.format(n=placed.number))]


def test_the_same_payment_reference_twice_is_recorded_once_and_the_second_says_so(
    staff: TestClient, database: Database
) -> None:
    placed = scenes.awaiting_payment(database, quantity=2, price=10_00)
    data = {"amount": "5.00", "method": "bank_transfer", "reference": "TX-1"}
    landed(staff, submit(staff, placed.page, f"{placed.page}/pay", data))

    again = landed(staff, submit(staff, placed.page, f"{placed.page}/pay", data))

    assert again[1] == [
        (
            "error",
            f"A payment with the reference TX-1 is already recorded on order {placed.number}; "
            "nothing changed.",
        )
    ]
    order = scenes.order(database, placed.id)
    assert order is not None
    assert order.paid == 5_00


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"amount": "", "method": "cash"}, "amount", "Type the amount received, such as 12.50."),
        ({"amount": "ten", "method": "cash"}, "amount", "Amount must be a decimal number"),
        ({"amount": "0", "method": "cash"}, "amount", "The amount must be more than zero."),
        ({"amount": "-3", "method": "cash"}, "amount", "Amount must not be negative."),
        ({"amount": "1.234", "method": "cash"}, "amount", "Amount may have at most 2 decimal"),
        ({"amount": "1", "method": "bitcoin"}, "method", "Choose how the money was paid"),
        (
            {"amount": "1", "method": "cash", "reference": "R" * 201},
            "reference",
            "Use at most 200 characters (201 now).",
        ),
    ],
)
def test_a_wrong_payment_comes_back_with_the_message_and_what_was_typed(
    staff: TestClient, database: Database, data: dict[str, str], field: str, message: str
) -> None:
    placed = scenes.awaiting_payment(database)

    response = submit(staff, placed.page, f"{placed.page}/pay", data)

    assert response.status_code == 400
    assert message in text_of(response.text)
    assert f'id="pay-{field}-error"' in response.text
    assert (
        f'id="pay-amount" name="amount" inputmode="decimal" required value="{data["amount"]}"'
        in (response.text)
    )
    order = scenes.order(database, placed.id)
    assert order is not None
    assert order.paid == 0


# ---------------------------------------------------------------- fulfill, deliver


def test_fulfill_on_the_page_with_carrier_and_tracking_then_deliver(
    staff: TestClient, database: Database
) -> None:
    placed = scenes.processed(database)

    shipped = landed(
        staff,
        submit(
            staff,
            placed.page,
            f"{placed.page}/fulfill",
            {"carrier": "DHL", "tracking_number": "JD0001"},
        ),
    )
    delivered = landed(staff, submit(staff, placed.page, f"{placed.page}/deliver"))

    assert shipped == (
        placed.page,
        [("ok", f"Order {placed.number} marked as shipped (DHL, JD0001).")],
    )
    assert delivered == (placed.page, [("ok", f"Order {placed.number} marked as delivered.")])
    order = scenes.order(database, placed.id)
    assert order is not None
    assert (order.status, order.carrier, order.tracking_number) == ("delivered", "DHL", "JD0001")


def test_a_carrier_name_too_long_comes_back_on_the_page(
    staff: TestClient, database: Database
) -> None:
    placed = scenes.processed(database)

    response = submit(staff, placed.page, f"{placed.page}/fulfill", {"carrier": "C" * 101})

    assert response.status_code == 400
    assert "Use at most 100 characters (101 now)." in text_of(response.text)
    assert scenes.status_of(database, placed.id) == "processed"


# ---------------------------------------------------------------- cancel, return


def test_cancel_puts_the_stock_back_and_refunds_the_balance(
    staff: TestClient, database: Database
) -> None:
    placed = scenes.processed(database, quantity=2, price=10_00, stock=5, balance=50_00)

    said = landed(
        staff, submit(staff, placed.page, f"{placed.page}/cancel", {"reason": f"Oops {XSS}"})
    )

    assert said[1] == [
        (
            "ok",
            f"Order {placed.number} cancelled; its stock is back on the shelves. "
            "$20.00 refunded to the customer's balance.",
        )
    ]
    assert factories.stock_of(database, placed.product) == 5
    assert factories.balance_of(database, placed.customer) == 50_00
    order = scenes.order(database, placed.id)
    assert order is not None
    assert order.cancel_reason == f"Oops {XSS}"


@pytest.mark.parametrize(
    ("reason", "message"),
    [("", "Say why the order is cancelled."), ("   ", "Say why the order is cancelled."),
     ("x" * 501, "Use at most 500 characters (501 now).")],
)  # fmt: skip
def test_a_cancel_without_a_reason_comes_back_on_the_page(
    staff: TestClient, database: Database, reason: str, message: str
) -> None:
    placed = scenes.processed(database)

    response = submit(staff, placed.page, f"{placed.page}/cancel", {"reason": reason})

    assert response.status_code == 400
    assert message in text_of(response.text)
    assert scenes.status_of(database, placed.id) == "processed"


def test_return_takes_back_some_units_restocks_them_and_refunds_them(
    staff: TestClient, database: Database
) -> None:
    placed = scenes.fulfilled(database, quantity=4, price=3_00, stock=10, balance=50_00)
    order = scenes.order(database, placed.id)
    assert order is not None
    line = order.lines[0].id

    said = landed(
        staff,
        submit(
            staff,
            placed.page,
            f"{placed.page}/return",
            {f"line_{line}": "3", "restock": "yes", "reason": "too big"},
        ),
    )

    assert said[1] == [
        (
            "ok",
            f"Return recorded on order {placed.number}: 3 unit(s) came back, back in stock. "
            "Refunded to the customer's balance so far: $9.00.",
        )
    ]
    assert factories.stock_of(database, placed.product) == 9
    assert factories.balance_of(database, placed.customer) == 50_00 - 12_00 + 9_00


@pytest.mark.parametrize(
    ("typed", "field", "message"),
    [
        ("0", "lines", "Type how many units of at least one line come back."),
        ("", "lines", "Type how many units of at least one line come back."),
        ("two", "line", "Type a whole number of units, such as 2."),
        ("-1", "line", "Type a whole number of units, such as 2."),
    ],
)
def test_a_wrong_return_comes_back_on_the_page_with_nothing_returned(
    staff: TestClient, database: Database, typed: str, field: str, message: str
) -> None:
    placed = scenes.fulfilled(database)
    order = scenes.order(database, placed.id)
    assert order is not None
    name = f"line_{order.lines[0].id}"

    response = submit(staff, placed.page, f"{placed.page}/return", {name: typed})

    assert response.status_code == 400
    assert message in text_of(response.text)
    assert f'id="return-{name if field == "line" else "lines"}-error"' in response.text
    assert scenes.status_of(database, placed.id) == "fulfilled"


def test_returning_more_than_is_left_or_a_line_of_another_order_is_refused(
    staff: TestClient, database: Database
) -> None:
    placed = scenes.fulfilled(database, quantity=2)
    other = scenes.fulfilled(database)
    mine = scenes.order(database, placed.id)
    theirs = scenes.order(database, other.id)
    assert mine is not None
    assert theirs is not None

    too_many = submit(
        staff, placed.page, f"{placed.page}/return", {f"line_{mine.lines[0].id}": "5"}
    )
    [(level, text)] = landed(staff, too_many)[1]
    foreign = submit(
        staff, placed.page, f"{placed.page}/return", {f"line_{theirs.lines[0].id}": "1"}
    )

    assert level == "error"
    assert text.startswith(f"Line {mine.lines[0].id} ({mine.lines[0].sku}) has 2 unit(s) left")
    assert foreign.status_code == 400
    assert f"line {theirs.lines[0].id} is not a line of this order" in text_of(foreign.text)
    assert scenes.status_of(database, placed.id) == "fulfilled"


# ---------------------------------------------------------------- notes


def test_a_note_is_added_to_the_timeline_as_text(staff: TestClient, database: Database) -> None:
    placed = scenes.place(database)

    response = submit(
        staff,
        placed.page,
        f"{placed.page}/notes",
        {"text": f"Fragile {XSS}", "visibility": "staff"},
    )

    assert response.headers["location"] == f"{placed.page}#timeline"
    page = follow(staff, response).text
    assert flashes(page) == [("ok", "Note added (staff only see it).")]
    assert "Fragile &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert XSS not in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"text": "  "}, "Type the note first."),
        ({"text": "n" * 2001}, "Use at most 2000 characters (2001 now)."),
        ({"text": "hi", "visibility": "public"}, "Choose who sees the note"),
    ],
)
def test_a_wrong_note_comes_back_on_the_page(
    staff: TestClient, database: Database, data: dict[str, str], message: str
) -> None:
    placed = scenes.place(database)
    before = _snapshot(database, placed)

    response = submit(staff, placed.page, f"{placed.page}/notes", data)

    assert response.status_code == 400
    assert message in text_of(response.text)
    assert _snapshot(database, placed) == before


# ---------------------------------------------------------------- delete


def test_a_pending_order_is_deleted_and_staff_land_on_the_orders_table(
    staff: TestClient, database: Database
) -> None:
    placed = scenes.place(database)

    where, said = landed(staff, submit(staff, placed.page, f"{placed.page}/delete"))

    assert where == "/admin/orders"
    assert said == [("ok", f"Order {placed.number} deleted.")]
    assert scenes.order(database, placed.id) is None
    assert staff.get(placed.page).status_code == 404


@pytest.mark.parametrize("forgery", ["no token", "wrong token", "valid token"])
def test_a_processed_order_cannot_be_deleted_even_by_a_forged_post(
    staff: TestClient, database: Database, forgery: str
) -> None:
    placed = scenes.processed(database)
    token = csrf_of(staff.get(placed.page).text)  # the page shows no Delete button at all
    data = {"no token": {}, "wrong token": {"csrf_token": "0" * 64}}.get(
        forgery, {"csrf_token": token}
    )

    response = staff.post(f"{placed.page}/delete", data=data)

    if forgery == "valid token":
        where, said = landed(staff, response)
        assert where == placed.page
        assert said == [
            (
                "error",
                f"Order {placed.id} is processed and can't be deleted; processed orders are "
                "kept. (Only a pending order can be deleted)",
            )
        ]
    else:
        assert response.status_code == 403
    assert scenes.status_of(database, placed.id) == "processed"


def test_an_order_deleted_by_someone_else_meanwhile_leads_back_to_the_table_with_why(
    staff: TestClient, colleague: TestClient, database: Database
) -> None:
    placed = scenes.place(database)
    token = csrf_of(staff.get(placed.page).text)
    landed(colleague, submit(colleague, placed.page, f"{placed.page}/delete"))

    response = staff.post(
        f"{placed.page}/process", data={"strategy": "adjust", "csrf_token": token}
    )

    where, said = landed(staff, response)
    assert where == "/admin/orders"
    assert said == [
        ("error", f"Order {placed.number} does not exist. It may have been deleted meanwhile.")
    ]


# ---------------------------------------------------------------- two staff at once


def test_two_staff_pressing_process_on_pages_loaded_together_the_second_sees_the_first(
    staff: TestClient, colleague: TestClient, database: Database
) -> None:
    placed = scenes.place(database, quantity=2, price=10_00, balance=100_00)
    mine, theirs = csrf_of(staff.get(placed.page).text), csrf_of(colleague.get(placed.page).text)

    first = staff.post(f"{placed.page}/process", data={"strategy": "adjust", "csrf_token": mine})
    second = colleague.post(
        f"{placed.page}/process", data={"strategy": "adjust", "csrf_token": theirs}
    )

    assert landed(staff, first)[1][0][0] == "ok"
    assert second.status_code == 303
    page = follow(colleague, second)
    assert page.status_code == 200
    assert flashes(page.text) == [
        (
            "error",
            f"Can't process order {placed.number}: The order has already been processed.",
        )
    ]
    assert "badge status-processed" in page.text
    assert factories.balance_of(database, placed.customer) == 80_00  # charged once


def test_two_staff_pressing_fulfill_on_tables_loaded_together_the_second_is_told_it_was_done(
    staff: TestClient, colleague: TestClient, database: Database
) -> None:
    placed = scenes.processed(database)
    table = "/admin/orders"
    mine, theirs = csrf_of(staff.get(table).text), csrf_of(colleague.get(table).text)
    data = {"back": table}

    first = staff.post(f"{placed.page}/fulfill", data={**data, "csrf_token": mine})
    second = colleague.post(f"{placed.page}/fulfill", data={**data, "csrf_token": theirs})

    assert landed(staff, first) == (table, [("ok", f"Order {placed.number} marked as shipped.")])
    where, said = landed(colleague, second)
    assert where == table
    [(level, text)] = said
    assert level == "error"
    assert text.startswith(f"Order {placed.number} was already shipped on ")
    assert text.endswith("; nothing changed.")


@pytest.mark.postgres_only
def test_two_staff_processing_the_same_order_at_the_same_instant_charge_it_once(
    pg_database: Database,
) -> None:
    placed = scenes.place(pg_database, quantity=2, price=10_00, balance=100_00, stock=10)
    browsers = [signed_in(pg_database, f"racer{i}@example.com") for i in range(2)]
    tokens = [csrf_of(browser.get(placed.page).text) for browser in browsers]
    start = threading.Barrier(2)
    answers: list[Any] = [None, None]

    def press(i: int) -> None:
        start.wait()
        answers[i] = browsers[i].post(
            f"{placed.page}/process", data={"strategy": "adjust", "csrf_token": tokens[i]}
        )

    threads = [threading.Thread(target=press, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    said = sorted(
        landed(browser, answer)[1][0] for browser, answer in zip(browsers, answers, strict=True)
    )
    assert [level for level, _ in said] == ["error", "ok"]
    assert (
        said[0][1] == f"Can't process order {placed.number}: The order has already been processed."
    )
    assert factories.balance_of(pg_database, placed.customer) == 80_00
    assert factories.stock_of(pg_database, placed.product) == 8
    for browser in browsers:
        browser.__exit__(None, None, None)
