"""The dashboard at /admin: work waiting, low stock, sales per day and top products for a
period, as charts, tables and CSV files."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.domain.workflow import PaymentFlow
from ordermill.services import catalog, processing, workflow
from ordermill.services import orders as order_service
from ordermill.web.app import create_app
from ordermill.web.pages.downloads import csv_safe
from tests import factories
from tests.pages.forms import log_in, text_of

Browser = Callable[..., TestClient]


@pytest.fixture
def store(database: Database) -> Iterator[Browser]:
    """Open the back office as staff, in a store with the given settings."""
    clients: list[TestClient] = []
    email = "dash-staff@example.com"
    factories.user(database, role="staff", email=email)

    def open_store(**settings: object) -> TestClient:
        app = create_app(Settings(database_url=database.url, **settings), database)  # type: ignore[arg-type]
        client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
        client.__enter__()
        clients.append(client)
        assert log_in(client, email).status_code == 303
        return client

    yield open_store
    for client in clients:
        client.__exit__(None, None, None)


def sell(
    database: Database,
    customer: int,
    *items: tuple[int, int],
    when: datetime | None = None,
    flow: PaymentFlow = PaymentFlow.BALANCE,
) -> int:
    """Place an order and process it (at ``when``, default now)."""
    moment = when or datetime.now(UTC)
    with database.write() as session:
        view = order_service.place_order(
            session,
            customer_id=customer,
            items=[order_service.ItemRequest(pid, qty) for pid, qty in items],
            currency="USD",
            now=moment - timedelta(minutes=1),
        )
        processing.process_order(session, view.id, flow=flow, now=moment)
        return view.id


def day_row(page: str, day: str) -> str:
    """The text of the sales table's row for ``day`` (YYYY-MM-DD)."""
    found = re.search(rf'<tr data-day="{day}">(.*?)</tr>', page, re.S)
    assert found, f"no row for {day}"
    return text_of(found.group(1))


def bar_label(page: str, chart: str, key: str) -> str:
    """The words on the ``chart``'s shape for ``key`` (a day, a product id)."""
    svg = re.search(rf'<svg id="{chart}".*?</svg>', page, re.S)
    assert svg, f"no chart {chart}"
    found = re.search(rf'<rect class="bar" data-key="{key}"[^>]*aria-label="([^"]*)"', svg.group(0))
    assert found, f"no shape for {key} in {chart}"
    return html.unescape(found.group(1))


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


# ---------------------------------------------------------------- who may look


def test_a_visitor_is_sent_to_log_in_first(visitor: TestClient) -> None:
    for path in ("/admin", "/admin/sales.csv?period=7", "/admin/top-products.csv"):
        response = visitor.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/admin/login?next=/admin")


def test_staff_and_admins_see_the_dashboard(staff: TestClient, admin: TestClient) -> None:
    for client in (staff, admin):
        page = client.get("/admin")
        assert page.status_code == 200
        assert "<h1>Dashboard</h1>" in page.text
        assert 'aria-current="page">Dashboard' in page.text


# ---------------------------------------------------------------- work waiting


def test_the_orders_waiting_are_counted_with_links_to_the_orders_table(
    database: Database, staff: TestClient
) -> None:
    customer = factories.customer(database, balance=1_000_00)
    tea = factories.product(database, price=2_00, stock=100)
    for _ in range(2):
        factories.order(database, customer, (tea, 1))
    sell(database, customer, (tea, 1), flow=PaymentFlow.ADVANCE)
    for _ in range(3):
        sell(database, customer, (tea, 1))
    shipped = sell(database, customer, (tea, 1))
    with database.write() as session:
        workflow.fulfill(session, shipped)

    page = staff.get("/admin").text

    def card(name: str) -> tuple[str, str]:
        found = re.search(
            rf'<a class="card work-count" id="count-{name}" href="([^"]+)">(.*?)</a>', page, re.S
        )
        assert found, name
        return html.unescape(found.group(1)), text_of(found.group(2))

    assert card("to-process") == ("/admin/orders?status=pending", "2 orders to process (pending)")
    assert card("awaiting-payment") == (
        "/admin/orders?status=awaiting_payment",
        "1 awaiting payment",
    )
    assert card("to-fulfil") == (
        "/admin/orders?status=processed",
        "3 to fulfil (processed and paid)",
    )


def test_low_stock_lists_products_at_or_below_their_threshold_with_links(
    database: Database, store: Browser
) -> None:
    def product(name: str, stock: int, threshold: int | None = None, active: bool = True) -> int:
        with database.write() as session:
            return catalog.create_product(
                session, name=name, sku=name.upper(), price=1_00, stock=stock, active=active,
                low_stock_threshold=threshold,
            ).id  # fmt: skip

    at_default = product("flour", 8)  # the store's default here is 8
    product("sugar", 9)
    own = product("yeast", 15, threshold=20)
    product("salt", 3, threshold=2)
    product("old", 0, active=False)

    page = store(low_stock_default=8).get("/admin").text

    table = re.search(r'<table id="low-stock">.*?</table>', page, re.S)
    assert table
    rows = re.findall(
        r'<tr class="low-stock"><th scope="row"><a href="([^"]+)">([^<]+)</a>', table.group(0)
    )
    assert rows == [(f"/admin/products/{at_default}", "flour"), (f"/admin/products/{own}", "yeast")]
    assert "2 products are at or below their low-stock threshold." in text_of(page)


def test_without_low_stock_the_page_says_so(staff: TestClient, database: Database) -> None:
    factories.product(database, stock=50)

    assert "No product on sale is low on stock." in text_of(staff.get("/admin").text)


# ---------------------------------------------------------------- sales


def test_the_sales_of_the_last_7_30_and_90_days_are_what_was_processed(
    database: Database, staff: TestClient
) -> None:
    customer = factories.customer(database, balance=10_000_00)
    tea = factories.product(database, price=2_50, stock=1000, name="Tea")
    cake = factories.product(database, price=4_00, stock=1000, name="Cake")
    now = datetime.now(UTC)
    sell(database, customer, (tea, 2), when=now)  # 5.00 today
    sell(database, customer, (tea, 1), (cake, 1), when=now - timedelta(days=3))  # 6.50
    sell(database, customer, (cake, 2), when=now - timedelta(days=20))  # 8.00
    sell(database, customer, (cake, 5), when=now - timedelta(days=60))  # 20.00
    factories.order(database, customer, (cake, 9))  # pending: not a sale
    gone = sell(database, customer, (tea, 7), when=now)
    with database.write() as session:
        workflow.cancel(session, gone, reason="double order")

    week, month, quarter = (staff.get(f"/admin?period={n}") for n in (7, 30, 90))

    assert [r.status_code for r in (week, month, quarter)] == [200, 200, 200]
    assert "2 sales · $11.50 revenue" in text_of(week.text)
    assert "3 sales · $19.50 revenue" in text_of(month.text)
    assert "4 sales · $39.50 revenue" in text_of(quarter.text)
    today = now.date().isoformat()
    assert day_row(week.text, today).endswith(" 1 $5.00")
    assert bar_label(week.text, "orders-USD", today).endswith(": 1 order")
    assert bar_label(week.text, "revenue-USD", today).endswith(": $5.00")
    assert len(re.findall(r"<tr data-day=", week.text)) == 7
    assert len(re.findall(r"<tr data-day=", quarter.text)) == 90


def test_the_default_period_is_the_last_30_days_and_the_page_says_what_a_sale_is(
    staff: TestClient,
) -> None:
    page = staff.get("/admin").text

    assert '<option value="30" selected>Last 30 days</option>' in page
    assert len(re.findall(r"<tr data-day=", page)) == 30
    assert "A sale is an order that was processed and paid" in text_of(page)
    assert "No sales in this period." in text_of(page)
    assert "0 sales · $0.00 revenue" in text_of(page)


def test_top_products_show_units_and_revenue_in_a_chart_and_a_table(
    database: Database, staff: TestClient
) -> None:
    customer = factories.customer(database, balance=10_000_00)
    tea = factories.product(database, price=2_50, stock=1000, name="Tea", sku="T-1")
    cake = factories.product(database, price=4_00, stock=1000, name="Cake", sku="C-1")
    sell(database, customer, (tea, 3), (cake, 1))
    sell(database, customer, (tea, 1))

    page = staff.get("/admin?period=7").text

    table = re.search(r'<table id="top-USD-table">.*?</table>', page, re.S)
    assert table
    rows = [text_of(row) for row in re.findall(r"<tr>(.*?)</tr>", table.group(0), re.S)[1:]]
    assert rows == ["1 Tea T-1 4 $10.00", "2 Cake C-1 1 $4.00"]
    assert bar_label(page, "top-USD", str(tea)) == "1. Tea (T-1): 4 units, $10.00"
    assert f'<a href="/admin/products/{cake}">Cake</a>' in page


def test_days_are_the_store_s_days_in_its_time_zone(database: Database, store: Browser) -> None:
    customer = factories.customer(database, balance=1_000_00)
    tea = factories.product(database, price=1_00, stock=100)
    # Paris is UTC+1 in January: 23:00 UTC is already the next day there.
    sell(database, customer, (tea, 1), when=datetime(2026, 1, 14, 22, 59, 59, tzinfo=UTC))
    sell(database, customer, (tea, 2), when=datetime(2026, 1, 14, 23, 0, tzinfo=UTC))
    custom = "/admin?period=custom&from=2026-01-14&to=2026-01-15"

    paris = store(timezone="Europe/Paris").get(custom).text
    london = store(timezone="Europe/London").get(custom).text

    assert day_row(paris, "2026-01-14") == "Wed 14 Jan 2026 1 $1.00"
    assert day_row(paris, "2026-01-15") == "Thu 15 Jan 2026 1 $2.00"
    assert day_row(london, "2026-01-14") == "Wed 14 Jan 2026 2 $3.00"
    assert day_row(london, "2026-01-15") == "Thu 15 Jan 2026 0 $0.00"
    assert "(Europe/Paris)" in text_of(paris)


def test_a_custom_period_fills_the_form_and_the_links_to_its_files(
    database: Database, staff: TestClient
) -> None:
    page = staff.get("/admin?period=custom&from=2026-02-27&to=2026-03-02").text

    assert '<option value="custom" selected>Custom period</option>' in page
    assert 'name="from" type="date" value="2026-02-27"' in page
    assert 'name="to" type="date" value="2026-03-02"' in page
    assert "Fri 27 Feb 2026 to Mon 2 Mar 2026" in text_of(page)
    assert re.findall(r'<tr data-day="([^"]+)"', page) == [
        "2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02",
    ]  # fmt: skip
    assert 'href="/admin/sales.csv?period=custom&amp;from=2026-02-27&amp;to=2026-03-02"' in page
    assert (
        'href="/admin/top-products.csv?period=custom&amp;from=2026-02-27&amp;to=2026-03-02"' in page
    )


def test_dates_alone_ask_for_a_custom_period(staff: TestClient) -> None:
    page = staff.get("/admin?from=2026-02-01&to=2026-02-03").text

    assert '<option value="custom" selected>Custom period</option>' in page
    assert len(re.findall(r"<tr data-day=", page)) == 3


WRONG_PERIODS = [
    ("period=custom&from=2026-03-05&to=2026-03-01", "The period ends (2026-03-01) before it"),
    ("period=custom&from=5/3/2026&to=2026-03-09", "The start date “5/3/2026” is not a date"),
    ("period=custom&from=2026-02-30&to=2026-03-09", "The start date “2026-02-30” does not exist."),
    ("period=custom&from=2026-03-01&to=", "A custom period needs a start date and an end"),
    ("period=custom", "A custom period needs a start date and an end date."),
    ("period=custom&from=2025-01-01&to=2026-03-01", "A period is at most 366 days long."),
    ("period=custom&from=0001-01-01&to=0001-01-02", "is out of range"),
    ("period=custom&from=2026-01-01&to=9999-12-31", "is out of range"),
    ("period=45", "Choose the last 7, 30 or 90 days, or a custom period."),
    ("period=%3Cscript%3E", "Choose the last 7, 30 or 90 days, or a custom period."),
]


@pytest.mark.parametrize(("query", "message"), WRONG_PERIODS)
def test_a_wrong_period_is_explained_on_the_page_with_400(
    database: Database, staff: TestClient, query: str, message: str
) -> None:
    factories.order(database, factories.customer(database), (factories.product(database), 1))

    response = staff.get(f"/admin?{query}")

    assert response.status_code == 400
    assert message in text_of(response.text)
    assert 'role="alert" id="period-error"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert "1 order to process" in text_of(response.text)  # the rest of the page is there
    assert "<svg" not in response.text
    assert "<script>" not in response.text


def test_a_wrong_date_is_given_back_in_the_form_escaped(staff: TestClient) -> None:
    response = staff.get('/admin?period=custom&from="><script>x</script>&to=2026-01-01')

    assert response.status_code == 400
    assert 'value="&#34;&gt;&lt;script&gt;x&lt;/script&gt;"' in response.text
    assert "<script>x" not in response.text


# ---------------------------------------------------------------- user text


def test_a_product_name_is_text_in_the_charts_and_the_tables(
    database: Database, staff: TestClient
) -> None:
    customer = factories.customer(database, balance=1_000_00)
    evil = "<script>alert(1)</script>"
    product = factories.product(database, price=1_00, stock=10, name=evil, sku="<b>x</b>")
    with database.write() as session:
        catalog.update_product(
            session, catalog.get_product(session, product), catalog.ProductChanges(stock=2)
        )
    sell(database, customer, (product, 1))

    page = staff.get("/admin?period=7")

    assert page.status_code == 200
    assert "<script>alert(1)" not in page.text
    assert "<b>x</b>" not in page.text
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert page.text.count(escaped) >= 4  # the bar's name, title and label; the tables
    assert bar_label(page.text, "top-USD", str(product)).startswith(f"1. {evil} (<b>x</b>)")


def test_the_page_has_no_inline_script_or_style(database: Database, staff: TestClient) -> None:
    customer = factories.customer(database, balance=1_000_00)
    sell(database, customer, (factories.product(database, stock=5), 1))

    page = staff.get("/admin?period=7").text

    assert "<svg" in page
    assert " style=" not in page
    assert "<style" not in page
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/ordermill.js" defer>']


def test_the_dashboard_takes_no_posts(staff: TestClient) -> None:
    assert staff.post("/admin", data={}).status_code == 405


# ---------------------------------------------------------------- CSV


def test_the_sales_csv_holds_every_day_of_the_period_with_a_filename(
    database: Database, store: Browser
) -> None:
    customer = factories.customer(database, balance=1_000_00)
    tea = factories.product(database, price=2_50, stock=100)
    sell(database, customer, (tea, 3), when=datetime(2026, 1, 14, 23, 30, tzinfo=UTC))
    sell(database, customer, (tea, 1), when=datetime(2026, 1, 16, 9, 0, tzinfo=UTC))

    response = store(timezone="Europe/Paris").get(
        "/admin/sales.csv?period=custom&from=2026-01-14&to=2026-01-16"
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="sales-2026-01-14-to-2026-01-16.csv"'
    )
    assert csv_rows(response.text) == [
        ["day", "currency", "orders", "revenue"],
        ["2026-01-14", "USD", "0", "0.00"],
        ["2026-01-15", "USD", "1", "7.50"],
        ["2026-01-16", "USD", "1", "2.50"],
    ]


def test_the_top_products_csv_keeps_names_that_look_like_formulas_as_text(
    database: Database, staff: TestClient
) -> None:
    customer = factories.customer(database, balance=1_000_00)
    names = ['=HYPERLINK("http://x","y")', "+1+1", "-2", "@SUM(A1)", "Plain, quoted"]
    ids = [factories.product(database, price=1_00, stock=100, name=n) for n in names]
    for n, product in enumerate(ids):
        sell(database, customer, (product, 10 - n))

    response = staff.get("/admin/top-products.csv?period=7")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="top-products-\d{4}-\d\d-\d\d-to-\d{4}-\d\d-\d\d\.csv"',
        response.headers["content-disposition"],
    )
    rows = csv_rows(response.text)
    assert rows[0] == ["rank", "product_id", "sku", "product", "currency", "units", "revenue"]
    assert [row[3] for row in rows[1:]] == [
        "'=HYPERLINK(\"http://x\",\"y\")", "'+1+1", "'-2", "'@SUM(A1)", "Plain, quoted",
    ]  # fmt: skip
    assert rows[1][:2] == ["1", str(ids[0])]
    assert rows[1][4:] == ["USD", "10", "10.00"]


def test_a_sku_that_looks_like_a_formula_is_text_too(database: Database, staff: TestClient) -> None:
    customer = factories.customer(database, balance=1_000_00)
    product = factories.product(database, price=1_00, stock=10, name="Mug", sku="=1+2")
    sell(database, customer, (product, 1))

    rows = csv_rows(staff.get("/admin/top-products.csv?period=7").text)

    assert rows[1][2:4] == ["'=1+2", "Mug"]


def test_every_start_a_spreadsheet_reads_as_a_formula_is_neutralised() -> None:
    for text in ("=1", "+1", "-1", "@A1", "\t=1", "\r=1"):
        assert csv_safe(text) == "'" + text
    for text in ("Tea", "1-2", "a=b", "", "'quoted"):
        assert csv_safe(text) == text


@pytest.mark.parametrize("path", ["/admin/sales.csv", "/admin/top-products.csv"])
def test_a_csv_for_a_wrong_period_is_a_400_page(staff: TestClient, path: str) -> None:
    response = staff.get(f"{path}?period=custom&from=2026-03-05&to=2026-03-01")

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "The period ends (2026-03-01) before it starts (2026-03-05)." in text_of(response.text)
