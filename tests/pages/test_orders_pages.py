"""The orders table: filters, sorts and pages; the green Fulfill button; bulk processing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.web.app import create_app
from tests import factories
from tests.pages import order_scenes as scenes
from tests.pages.forms import csrf_of, flashes, follow, log_in, submit, text_of

XSS = "<script>alert(1)</script>"


def rows(page: str) -> list[str]:
    """The table's rows (their HTML), top to bottom."""
    return re.findall(r'<tr class="row-[a-z_]+" id="order-\d+">.*?</tr>', page, re.S)


def numbers(page: str) -> list[str]:
    return [re.search(r'<a href="/admin/orders/([^"]+)">', row).group(1) for row in rows(page)]  # type: ignore[union-attr]


def cells(row: str) -> list[str]:
    """The text of each cell of a row."""
    return [text_of(cell) for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]


def row_of(page: str, number: str) -> str:
    [row] = [row for row in rows(page) if f'href="/admin/orders/{number}"' in row]
    return row


@pytest.fixture
def small_pages(database: Database) -> Iterator[TestClient]:
    """A staff browser on a store whose lists show two orders a page, in New York."""
    factories.user(database, role="staff", email="pages2@example.com")
    settings = Settings(database_url=database.url, page_size_default=2, timezone="America/New_York")
    with TestClient(create_app(settings, database), follow_redirects=False) as client:
        assert log_in(client, "pages2@example.com").status_code == 303
        yield client


# ---------------------------------------------------------------- who may look


def test_a_visitor_is_sent_to_the_login_page_and_back_to_the_same_filters(
    visitor: TestClient,
) -> None:
    response = visitor.get("/admin/orders?status=pending&sort=oldest")

    assert response.status_code == 303
    assert (
        response.headers["location"]
        == "/admin/login?next=/admin/orders%3Fstatus%3Dpending%26sort%3Doldest"
    )


def test_a_customers_session_is_no_way_into_the_orders_or_their_actions(
    visitor: TestClient, database: Database
) -> None:
    placed = scenes.place(database)
    _customer, user = factories.customer_login(database)
    visitor.cookies.set("ordermill_admin", factories.token_for(database, user))
    token = csrf_of(visitor.get("/admin/login").text)  # a login form: not signed in here

    table = visitor.get("/admin/orders")
    page = visitor.get(placed.page)
    pressed = visitor.post(f"{placed.page}/process", data={"csrf_token": token})

    for response in (table, page, pressed):
        assert response.status_code == 303
        assert response.headers["location"].startswith("/admin/login?next=")
    assert scenes.status_of(database, placed.id) == "pending"


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_staff_and_admins_both_see_the_orders_table(
    database: Database, role: str, request: pytest.FixtureRequest
) -> None:
    client: TestClient = request.getfixturevalue(role)
    placed = scenes.place(database)

    response = client.get("/admin/orders")

    assert response.status_code == 200
    assert numbers(response.text) == [placed.number]


# ---------------------------------------------------------------- what a row says


def test_a_row_shows_number_date_customer_status_total_and_items_pending_and_processed_apart(
    staff: TestClient, database: Database
) -> None:
    waiting = scenes.place(
        database, quantity=3, price=2_50, name="Ann Waits", email="ann@example.com"
    )
    done = scenes.processed(database, quantity=1, price=4_00, name="Bob Done")

    page = staff.get("/admin/orders").text

    pending_row, processed_row = row_of(page, waiting.number), row_of(page, done.number)
    assert pending_row.startswith('<tr class="row-pending"')
    assert processed_row.startswith('<tr class="row-processed"')
    assert cells(pending_row)[1:7] == [
        waiting.number,
        cells(pending_row)[2],
        "Ann Waits ann@example.com",
        "pending",
        "$7.50",
        "3",
    ]
    assert cells(pending_row)[2].endswith("UTC")  # when it was created, in the store's zone
    assert cells(processed_row)[3:6] == [
        f"Bob Done {cells(processed_row)[3].split()[-1]}",
        "processed",
        "$4.00",
    ]
    assert "badge status-pending" in pending_row
    assert "badge status-processed" in processed_row


def test_a_customer_named_like_a_script_is_shown_as_text(
    staff: TestClient, database: Database
) -> None:
    scenes.place(database, name=XSS)

    page = staff.get("/admin/orders").text

    assert XSS not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_an_empty_store_says_so(staff: TestClient) -> None:
    response = staff.get("/admin/orders")

    assert response.status_code == 200
    assert "No orders yet." in text_of(response.text)


# ---------------------------------------------------------------- filters


def test_orders_are_filtered_by_status(staff: TestClient, database: Database) -> None:
    waiting = scenes.place(database)
    scenes.processed(database)

    page = staff.get("/admin/orders?status=pending").text

    assert numbers(page) == [waiting.number]
    assert '<option value="pending" selected>' in page


@pytest.mark.parametrize("how", ["id", "email", "email in capitals"])
def test_orders_are_filtered_by_customer_id_or_email(
    staff: TestClient, database: Database, how: str
) -> None:
    mine = scenes.place(database, email="carol@example.com")
    scenes.place(database)
    typed = {"id": str(mine.customer), "email": "carol@example.com"}.get(how, "CAROL@Example.COM")

    page = staff.get("/admin/orders", params={"customer": typed}).text

    assert numbers(page) == [mine.number]


def test_a_customer_email_nobody_has_shows_no_orders_and_says_why(
    staff: TestClient, database: Database
) -> None:
    scenes.place(database)

    response = staff.get("/admin/orders", params={"customer": "nobody@example.com"})

    assert response.status_code == 200
    assert rows(response.text) == []
    assert "No customer has the email nobody@example.com." in text_of(response.text)


@pytest.mark.parametrize("how", ["number", "id"])
def test_an_order_is_found_by_its_number_or_id(
    staff: TestClient, database: Database, how: str
) -> None:
    scenes.place(database)
    wanted = scenes.place(database)
    scenes.place(database)

    typed = wanted.number if how == "number" else str(wanted.id)
    page = staff.get("/admin/orders", params={"number": typed}).text

    assert numbers(page) == [wanted.number]


def test_an_order_number_that_does_not_exist_says_so(staff: TestClient, database: Database) -> None:
    scenes.place(database)

    response = staff.get("/admin/orders", params={"number": "2020-99999"})

    assert response.status_code == 200
    assert rows(response.text) == []
    assert "No order has the id or number 2020-99999." in text_of(response.text)


def test_the_dates_are_days_in_the_stores_time_zone_the_last_one_included(
    small_pages: TestClient, database: Database
) -> None:
    # New York is UTC-5 in January: the 10th there runs from 05:00 UTC to 05:00 UTC on the 11th.
    early = scenes.place(database)  # 04:59 UTC on the 10th: still the 9th in New York
    first = scenes.place(database)  # 05:00 UTC on the 10th
    last = scenes.place(database)  # 04:59 UTC on the 11th: the 10th in New York
    late = scenes.place(database)  # 05:00 UTC on the 11th
    for placed, moment in [
        (early, datetime(2026, 1, 10, 4, 59, tzinfo=UTC)),
        (first, datetime(2026, 1, 10, 5, 0, tzinfo=UTC)),
        (last, datetime(2026, 1, 11, 4, 59, tzinfo=UTC)),
        (late, datetime(2026, 1, 11, 5, 0, tzinfo=UTC)),
    ]:
        scenes.set_order(database, placed.id, created=moment)

    page = small_pages.get(
        "/admin/orders", params={"created_from": "2026-01-10", "created_to": "2026-01-10"}
    ).text

    assert numbers(page) == [last.number, first.number]


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"status": "lost"}, "status", "There is no status 'lost'; choose one of: pending,"),
        ({"customer": "bob"}, "customer", "Type a customer's id (digits, like 42) or their email"),
        (
            {"created_from": "2026-13-01"},
            "created_from",
            "'2026-13-01' is not a date like 2026-01-31.",
        ),
        ({"created_to": "yesterday"}, "created_to", "'yesterday' is not a date like 2026-01-31."),
        (
            {"created_from": "2026-02-02", "created_to": "2026-02-01"},
            "created_to",
            "The last day comes before the first day.",
        ),
        ({"number": "abc"}, "number", "'abc' is neither an order id (digits, like 42) nor an"),
        ({"sort": "sideways"}, "sort", "Choose a sort from the list."),
        ({"customer": "x" * 400}, "customer", "This value is too long."),
        ({"cursor": "bm90IGEgY3Vyc29y"}, "cursor", "This page's link was changed or belongs to"),
    ],
)
def test_a_wrong_filter_is_a_readable_message_on_the_page_never_an_error_page(
    staff: TestClient, database: Database, params: dict[str, str], field: str, message: str
) -> None:
    scenes.place(database)

    response = staff.get("/admin/orders", params=params)

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert f'<p class="field-error" id="{field}-error">' in response.text
    assert message in text_of(response.text)
    assert rows(response.text) == []
    assert '<form method="get" action="/admin/orders"' in response.text  # to correct it


@pytest.mark.parametrize("timezone", ["UTC", "Asia/Tokyo", "Australia/Sydney"])
def test_the_first_and_last_days_of_the_calendar_are_dates_like_any_other(
    database: Database, timezone: str
) -> None:
    placed = scenes.place(database)
    factories.user(database, role="staff", email="calendar@example.com")
    settings = Settings(database_url=database.url, timezone=timezone)
    with TestClient(create_app(settings, database), follow_redirects=False) as client:
        log_in(client, "calendar@example.com")

        whole = client.get("/admin/orders?created_from=0001-01-02&created_to=9999-12-31")
        edge = client.get("/admin/orders?created_from=0001-01-01")

    assert whole.status_code == 200
    assert numbers(whole.text) == [placed.number]
    if timezone == "UTC":
        assert edge.status_code == 200
    else:  # midnight on 1 January of year 1 east of Greenwich is before year 1 in UTC
        assert edge.status_code == 400
        assert "0001-01-01 is outside the range of dates." in text_of(edge.text)


def test_a_wrong_filter_keeps_what_was_typed_in_the_form(staff: TestClient) -> None:
    page = staff.get("/admin/orders", params={"customer": "bob <b>", "status": "pending"}).text

    assert 'value="bob &lt;b&gt;"' in page
    assert '<option value="pending" selected>' in page


# ---------------------------------------------------------------- sorts and pages


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("newest", [3, 2, 1, 0]),
        ("oldest", [0, 1, 2, 3]),
        ("total_high", [2, 0, 3, 1]),
        ("total_low", [1, 3, 0, 2]),
    ],
)
def test_the_table_sorts_by_date_or_total_a_page_at_a_time(
    small_pages: TestClient, database: Database, sort: str, order: list[int]
) -> None:
    placed = [scenes.place(database, quantity=q, price=1_00) for q in (5, 1, 9, 3)]
    seen: list[str] = []
    url = f"/admin/orders?sort={sort}&status=pending"

    pages = 0
    while url:
        page = small_pages.get(url)
        assert page.status_code == 200
        seen += numbers(page.text)
        pages += 1
        found = re.search(r'<a href="([^"]+)" rel="next">', page.text)
        url = found.group(1).replace("&amp;", "&") if found else ""
        if url:
            query = parse_qs(urlsplit(url).query)
            assert query["sort"] == [sort] if sort != "newest" else "sort" not in query
            assert query["status"] == ["pending"]  # the filters go along

    assert seen == [placed[i].number for i in order]
    assert pages == 2


# ---------------------------------------------------------------- Fulfill on the table


def test_only_orders_the_workflow_lets_ship_have_the_green_fulfill_button(
    staff: TestClient, database: Database
) -> None:
    waiting = scenes.place(database)
    unpaid = scenes.awaiting_payment(database)
    paid = scenes.processed(database)
    shipped = scenes.fulfilled(database)

    page = staff.get("/admin/orders").text

    button = '<button type="submit" class="success">Fulfill'
    assert button in row_of(page, paid.number)
    for other in (waiting, unpaid, shipped):
        assert button not in row_of(page, other.number)


def test_fulfill_on_the_table_redirects_back_to_the_same_table_where_the_row_has_changed(
    staff: TestClient, database: Database
) -> None:
    paid = scenes.processed(database)
    table = f"/admin/orders?customer={paid.customer}&sort=oldest"

    response = submit(staff, table, f"/admin/orders/{paid.number}/fulfill", {"back": table})

    assert response.status_code == 303
    assert response.headers["location"] == table
    landed = follow(staff, response)
    assert flashes(landed.text) == [("ok", f"Order {paid.number} marked as shipped.")]
    row = row_of(landed.text, paid.number)
    assert "badge status-fulfilled" in row
    assert "Fulfill" not in row
    assert scenes.status_of(database, paid.id) == "fulfilled"


@pytest.mark.parametrize(
    "back", ["https://evil.example/admin/orders", "//evil.example/", "/admin/users"]
)
def test_fulfill_never_sends_staff_back_to_another_site_or_page(
    staff: TestClient, database: Database, back: str
) -> None:
    paid = scenes.processed(database)

    response = submit(
        staff, "/admin/orders", f"/admin/orders/{paid.number}/fulfill", {"back": back}
    )

    assert response.headers["location"] == paid.page


def test_a_fulfill_posted_without_its_token_is_refused_and_the_order_stays_unshipped(
    staff: TestClient, database: Database
) -> None:
    paid = scenes.processed(database)

    response = staff.post(f"/admin/orders/{paid.number}/fulfill", data={"back": "/admin/orders"})

    assert response.status_code == 403
    assert scenes.status_of(database, paid.id) == "processed"


# ---------------------------------------------------------------- bulk processing


def test_only_pending_rows_can_be_ticked_for_bulk_processing(
    staff: TestClient, database: Database
) -> None:
    waiting = scenes.place(database)
    done = scenes.processed(database)

    page = staff.get("/admin/orders").text

    assert f'name="order_id" value="{waiting.id}" form="bulk"' in row_of(page, waiting.number)
    assert 'name="order_id"' not in row_of(page, done.number)
    assert '<form method="post" action="/admin/orders/bulk-process" id="bulk"' in page


def test_bulk_processing_says_how_each_order_ended_on_the_table_it_returns_to(
    staff: TestClient, database: Database
) -> None:
    plain = scenes.place(database, quantity=2, stock=10)
    short = scenes.place(database, quantity=5, stock=3)
    broke = scenes.place(database, balance=0)
    done = scenes.processed(database)
    table = "/admin/orders?sort=oldest"
    ids = [plain.id, short.id, broke.id, done.id]

    response = submit(
        staff,
        table,
        "/admin/orders/bulk-process",
        {"order_id": [str(i) for i in ids], "strategy": "adjust", "back": table},
    )

    assert response.headers["location"] == table
    landed = follow(staff, response)
    assert flashes(landed.text) == [
        (
            "ok",
            f"Processed 2 of 4 order(s): {plain.number}, "
            f"{short.number} (quantities changed to the stock).",
        ),
        (
            "error",
            "Not processed (2): The customer's balance must be positive to charge it: "
            f"{broke.number}. "
            f"The order has already been processed: {done.number}.",
        ),
    ]
    assert [scenes.status_of(database, i) for i in ids] == [
        "processed",
        "processed",
        "pending",
        "processed",
    ]
    assert "badge status-processed" in row_of(landed.text, plain.number)
    assert factories.stock_of(database, short.product) == 0


def test_bulk_processing_with_reject_leaves_short_orders_pending_and_says_so(
    staff: TestClient, database: Database
) -> None:
    short = scenes.place(database, quantity=5, stock=3)

    landed = follow(
        staff,
        submit(
            staff,
            "/admin/orders",
            "/admin/orders/bulk-process",
            {"order_id": str(short.id), "strategy": "reject"},
        ),
    )

    assert flashes(landed.text) == [
        (
            "error",
            "Not processed (1): There is not enough stock for every line (strategy reject): "
            f"{short.number}.",
        )
    ]
    assert scenes.status_of(database, short.id) == "pending"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Tick at least one pending order to process."),
        ({"order_id": "abc"}, "The orders to process are named by their ids."),
        ({"order_id": "1", "strategy": "hope"}, "Choose what to do when stock is short."),
        ({"order_id": [str(i) for i in range(1, 502)]}, "Process at most 500 orders at once."),
    ],
)
def test_a_wrong_bulk_form_changes_nothing_and_says_why(
    staff: TestClient, database: Database, data: dict[str, object], message: str
) -> None:
    waiting = scenes.place(database)

    response = submit(staff, "/admin/orders", "/admin/orders/bulk-process", data)

    assert response.headers["location"] == "/admin/orders"
    assert flashes(follow(staff, response).text) == [("error", message)]
    assert scenes.status_of(database, waiting.id) == "pending"


def test_an_order_deleted_before_the_bulk_click_is_named_as_gone(
    staff: TestClient, database: Database
) -> None:
    response = submit(staff, "/admin/orders", "/admin/orders/bulk-process", {"order_id": "999"})

    assert flashes(follow(staff, response).text) == [
        ("error", "Not processed (1): No such order (deleted meanwhile?): 999.")
    ]


@pytest.mark.parametrize("tamper", ["no token", "wrong token"])
def test_a_bulk_post_without_this_browsers_token_is_refused_and_nothing_is_processed(
    staff: TestClient, database: Database, tamper: str
) -> None:
    waiting = scenes.place(database)
    data = {"order_id": str(waiting.id), "strategy": "adjust"}
    if tamper == "wrong token":
        csrf_of(staff.get("/admin/orders").text)
        data["csrf_token"] = "0" * 64

    response = staff.post("/admin/orders/bulk-process", data=data)

    assert response.status_code == 403
    assert scenes.status_of(database, waiting.id) == "pending"
