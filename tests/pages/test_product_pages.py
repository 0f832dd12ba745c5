"""/admin/products: the catalog with its stock, a product's page, its form, archiving and
stock adjustments with a reason."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.services import accounts, audit, catalog
from ordermill.web.app import create_app
from tests import factories
from tests.pages.forms import flashes, follow, log_in, submit, text_of

XSS = "<script>alert(1)</script>"


def product_row(database: Database, product_id: int) -> dict[str, Any]:
    with database.read() as session:
        product = catalog.get_product(session, product_id)
        return {
            "name": product.name,
            "sku": product.sku,
            "price": product.price,
            "stock": product.stock,
            "active": product.active,
            "low_stock_threshold": product.low_stock_threshold,
        }


def product_count(database: Database) -> int:
    with database.read() as session:
        return len(catalog.list_products(session, limit=500).items)


def audit_of(database: Database, product_id: int) -> list[audit.AuditEntry]:
    with database.read() as session:
        return audit.list_entries(session, limit=50, entity="product", entity_id=product_id).items


def field_value(page: str, name: str) -> str:
    found = re.search(rf'<input id="{name}" name="{name}"[^>]* value="([^"]*)"', page)
    assert found, f"no input {name} with a value on the page"
    return html.unescape(found.group(1))


def error_next_to(page: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="{name}-error">(.*?)</p>', page, re.S)
    assert found, f"no error next to {name}: {text_of(page)[:800]}"
    return html.unescape(found.group(1))


def table_rows(page: str) -> list[str]:
    return re.findall(r"<tr[^>]*>.*?</tr>", page.split("<tbody>")[1], re.S)


# ---------------------------------------------------------------- the list


def test_the_list_shows_price_and_stock_and_marks_the_low_rows(
    staff: TestClient, database: Database
) -> None:
    plenty = factories.product(database, name="Plenty", price=12_50, stock=6)
    at_default = factories.product(database, name="At default", stock=5)
    own = factories.product(database, name="Own threshold", stock=8)
    with database.write() as session:
        changes = catalog.ProductChanges(low_stock_threshold=10)
        catalog.update_product(session, catalog.get_product(session, own), changes)

    page = staff.get("/admin/products")

    assert page.status_code == 200
    rows = {
        re.search(r'href="/admin/products/(\d+)"', r).group(1): r for r in table_rows(page.text)
    }  # type: ignore[union-attr]
    assert 'class="low-stock"' not in rows[str(plenty)]
    assert "$12.50" in rows[str(plenty)]
    assert ">6<" in rows[str(plenty)].replace(" ", "")
    assert 'class="low-stock"' in rows[str(at_default)]
    assert 'class="low-stock"' in rows[str(own)]
    assert "10" in text_of(rows[str(own)])


def test_the_store_default_threshold_comes_from_the_settings(database: Database) -> None:
    factories.user(database, role="staff", email="clerk@example.com")
    factories.product(database, name="Seven left", stock=7)
    app = create_app(Settings(database_url=database.url, low_stock_default=7), database)
    with TestClient(app, follow_redirects=False) as browser:
        log_in(browser, "clerk@example.com")

        page = browser.get("/admin/products").text

    assert 'class="low-stock"' in table_rows(page)[0]


def test_products_are_found_by_name_or_sku_and_by_whether_they_are_sold(
    staff: TestClient, database: Database
) -> None:
    teapot = factories.product(database, name="Blue Teapot", sku="POT-1")
    factories.product(database, name="Kettle", sku="KET-1")
    old_cup = factories.product(database, name="Tea cup", sku="CUP-1", active=False)

    by_name = staff.get("/admin/products", params={"q": "teap"}).text
    by_sku = staff.get("/admin/products", params={"q": "pot-1"}).text
    archived = staff.get("/admin/products", params={"q": "tea", "status": "archived"}).text
    nothing = staff.get("/admin/products", params={"q": "zebra"}).text

    assert [f"/admin/products/{teapot}"] == re.findall(r'href="(/admin/products/\d+)"', by_name)
    assert f"/admin/products/{teapot}" in by_sku
    assert "/admin/products/" + str(old_cup) in archived
    assert f'/admin/products/{teapot}"' not in archived
    assert "No products match these filters." in text_of(nothing)


def test_the_next_page_keeps_the_search(database: Database) -> None:
    factories.user(database, role="staff", email="clerk@example.com")
    ids = [factories.product(database, name=f"Tea {n}") for n in range(3)]
    factories.product(database, name="Coffee")
    app = create_app(Settings(database_url=database.url, page_size_default=2), database)
    with TestClient(app, follow_redirects=False) as browser:
        log_in(browser, "clerk@example.com")

        first = browser.get("/admin/products", params={"q": "tea"}).text
        next_url = html.unescape(re.search(r'href="([^"]+)" rel="next"', first).group(1))  # type: ignore[union-attr]
        second = browser.get(next_url).text

    assert "q=tea" in next_url
    shown = re.findall(r'href="/admin/products/(\d+)"', first + second)
    assert [int(i) for i in shown] == ids


@pytest.mark.parametrize(
    "query", [{"status": "gone"}, {"cursor": "not-a-cursor"}, {"q": "x" * 201}]
)
def test_a_wrong_filter_is_a_400_page_not_an_error(
    staff: TestClient, query: dict[str, str]
) -> None:
    response = staff.get("/admin/products", params=query)

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")


# ---------------------------------------------------------------- who may


@pytest.mark.parametrize(
    "path",
    ["/admin/products", "/admin/products/new", "/admin/products/{id}", "/admin/products/{id}/edit"],
)
def test_a_visitor_is_sent_to_the_login_first(
    visitor: TestClient, database: Database, path: str
) -> None:
    product_id = factories.product(database)

    response = visitor.get(path.format(id=product_id))

    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login?next=/admin/products")


@pytest.mark.parametrize("path", ["/admin/products/{id}", "/admin/products/{id}/edit"])
def test_an_unknown_product_is_a_404_page(staff: TestClient, path: str) -> None:
    response = staff.get(path.format(id=987_654))

    assert response.status_code == 404
    assert "Product 987654 does not exist." in text_of(response.text)


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("stock", {"delta": "1", "reason": "found"}),
        ("archive", {}),
        ("unarchive", {}),
        ("edit", {"name": "Ghost", "sku": "GHOST", "price": "1.00"}),
    ],
)
def test_acting_on_an_unknown_product_is_a_404_page(
    staff: TestClient, action: str, data: dict[str, str]
) -> None:
    response = submit(staff, "/admin/products", f"/admin/products/987654/{action}", data)

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


# ---------------------------------------------------------------- a new product


def test_staff_add_a_product_and_land_on_its_page(staff: TestClient, database: Database) -> None:
    response = submit(
        staff,
        "/admin/products/new",
        "/admin/products/new",
        {
            "name": "Lemon cake",
            "sku": "CAKE-1",
            "price": "12.50",
            "stock": "4",
            "low_stock_threshold": "2",
            "active": "1",
        },
    )

    assert response.status_code == 303
    product_id = int(response.headers["location"].rsplit("/", 1)[1])
    page = follow(staff, response).text
    assert flashes(page) == [("ok", "Added Lemon cake.")]
    assert "$12.50" in page
    assert product_row(database, product_id) == {
        "name": "Lemon cake",
        "sku": "CAKE-1",
        "price": 12_50,
        "stock": 4,
        "active": True,
        "low_stock_threshold": 2,
    }
    [created] = audit_of(database, product_id)
    assert created.actor == "staff-pages@example.com"


def test_a_product_added_unchecked_is_archived_with_the_store_threshold(
    staff: TestClient, database: Database
) -> None:
    response = submit(
        staff,
        "/admin/products/new",
        "/admin/products/new",
        {"name": "Old stock", "sku": "OLD-1", "price": "3"},
    )

    product_id = int(response.headers["location"].rsplit("/", 1)[1])
    row = product_row(database, product_id)
    assert (row["active"], row["stock"], row["low_stock_threshold"]) == (False, 0, None)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "Fill this in."),
        ("name", "   ", "Fill this in."),
        ("name", "x" * 201, "Use at most 200 characters."),
        ("name", "Nul\x00byte", "Must not contain control characters."),
        ("sku", "", "Fill this in."),
        ("sku", "has space", "Use letters, digits, dots, dashes and underscores"),
        ("price", "", "Fill this in."),
        ("price", "12,50", "Price must be a decimal number such as 12.50."),
        ("price", "1.234", "Price may have at most 2 decimal places."),
        ("price", "-1", "Price must not be negative."),
        ("price", "1e3", "Price must be a decimal number such as 12.50."),
        ("price", "99999999999999", "Price is too large."),
        ("stock", "many", "Enter a whole number"),
        ("stock", "-1", "Use a number of at least 0."),
        ("stock", "2.5", "Enter a whole number"),
        ("low_stock_threshold", "some", "Enter a whole number"),
    ],
)
def test_a_wrong_field_shows_the_form_again_with_the_message_and_what_was_typed(
    staff: TestClient, database: Database, field: str, value: str, message: str
) -> None:
    data = {"name": "Teapot", "sku": "POT-1", "price": "20.00", "stock": "3", field: value}

    response = submit(staff, "/admin/products/new", "/admin/products/new", data)

    assert response.status_code == 400
    assert message in error_next_to(response.text, field)
    assert 'aria-invalid="true"' in response.text
    if field != "name" or "\x00" not in value:
        assert field_value(response.text, field) == value
    assert field_value(response.text, "price") == data["price"]
    assert product_count(database) == 0


def test_a_sku_in_use_is_shown_next_to_the_sku_and_nothing_is_added(
    staff: TestClient, database: Database
) -> None:
    factories.product(database, sku="POT-1")

    response = submit(
        staff,
        "/admin/products/new",
        "/admin/products/new",
        {"name": "Another pot", "sku": "POT-1", "price": "5"},
    )

    assert response.status_code == 400
    assert error_next_to(response.text, "sku") == "A product with SKU POT-1 already exists."
    assert field_value(response.text, "name") == "Another pot"
    assert product_count(database) == 1


# ---------------------------------------------------------------- editing


def test_the_edit_form_shows_the_product_and_saves_the_changes(
    staff: TestClient, database: Database
) -> None:
    pen = factories.product(database, name="Pen", sku="PEN-1", price=2_50, stock=9)
    form = staff.get(f"/admin/products/{pen}/edit").text
    assert field_value(form, "price") == "2.50"
    assert field_value(form, "low_stock_threshold") == ""

    response = submit(
        staff,
        f"/admin/products/{pen}/edit",
        f"/admin/products/{pen}/edit",
        {
            "name": "Fountain pen",
            "sku": "PEN-2",
            "price": "30",
            "low_stock_threshold": "3",
            "active": "1",
        },
    )

    assert response.status_code == 303
    assert flashes(follow(staff, response).text) == [("ok", "Saved Fountain pen.")]
    assert product_row(database, pen) == {
        "name": "Fountain pen",
        "sku": "PEN-2",
        "price": 30_00,
        "stock": 9,
        "active": True,
        "low_stock_threshold": 3,
    }


def test_an_empty_threshold_goes_back_to_the_store_default_and_unchecked_archives(
    staff: TestClient, database: Database
) -> None:
    pen = factories.product(database, name="Pen", sku="PEN-1")
    with database.write() as session:
        changes = catalog.ProductChanges(low_stock_threshold=4)
        catalog.update_product(session, catalog.get_product(session, pen), changes)

    submit(
        staff,
        f"/admin/products/{pen}/edit",
        f"/admin/products/{pen}/edit",
        {"name": "Pen", "sku": "PEN-1", "price": "10.00", "low_stock_threshold": ""},
    )

    row = product_row(database, pen)
    assert (row["low_stock_threshold"], row["active"]) == (None, False)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "Fill this in."),
        ("sku", "", "Fill this in."),
        ("price", "", "Fill this in."),
        ("price", "ten", "Price must be a decimal number such as 12.50."),
        ("low_stock_threshold", "-2", "Use a number of at least 0."),
        ("sku", "TAKEN-1", "A product with SKU TAKEN-1 already exists."),
    ],
)
def test_a_wrong_edit_shows_the_form_again_and_changes_nothing(
    staff: TestClient, database: Database, field: str, value: str, message: str
) -> None:
    factories.product(database, sku="TAKEN-1")
    pen = factories.product(database, name="Pen", sku="PEN-1", price=2_50)
    before = product_row(database, pen)
    data = {"name": "New name", "sku": "PEN-9", "price": "3.00", "active": "1", field: value}

    response = submit(staff, f"/admin/products/{pen}/edit", f"/admin/products/{pen}/edit", data)

    assert response.status_code == 400
    assert message in error_next_to(response.text, field)
    assert field_value(response.text, field) == value
    assert field_value(response.text, "name") == data["name"]
    assert product_row(database, pen) == before


# ---------------------------------------------------------------- descriptions


def textarea_value(page: str, name: str) -> str:
    found = re.search(rf'<textarea id="{name}" name="{name}"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, f"no textarea {name} on the page"
    return html.unescape(found.group(1))


def description_of(database: Database, product_id: int) -> str | None:
    with database.read() as session:
        return catalog.get_product(session, product_id).description


def test_staff_give_a_new_product_a_description_shown_as_text_with_its_line_breaks(
    staff: TestClient, database: Database
) -> None:
    form = staff.get("/admin/products/new").text
    assert textarea_value(form, "description") == ""
    assert 'for="description"' in form

    response = submit(
        staff,
        "/admin/products/new",
        "/admin/products/new",
        {
            "name": "Mug",
            "sku": "MUG-1",
            "price": "8.00",
            "active": "1",
            "description": f"Stoneware.\r\n{XSS}\r\nDishwasher safe.",
        },
    )

    product_id = int(response.headers["location"].rsplit("/", 1)[1])
    page = follow(staff, response).text
    assert description_of(database, product_id) == f"Stoneware.\n{XSS}\nDishwasher safe."
    assert XSS not in page
    assert '<dd class="pre-line">Stoneware.\n&lt;script&gt;alert(1)&lt;/script&gt;\n' in page


def test_the_edit_form_shows_the_description_and_saves_or_empties_it(
    staff: TestClient, database: Database
) -> None:
    pen = factories.product(database, name="Pen", sku="PEN-1", description="Blue ink.\nRefillable.")
    data = {"name": "Pen", "sku": "PEN-1", "price": "10.00", "active": "1"}
    form = staff.get(f"/admin/products/{pen}/edit").text
    assert textarea_value(form, "description") == "Blue ink.\nRefillable."

    submit(
        staff,
        f"/admin/products/{pen}/edit",
        f"/admin/products/{pen}/edit",
        {**data, "description": "Black ink."},
    )
    changed = description_of(database, pen)
    submit(
        staff,
        f"/admin/products/{pen}/edit",
        f"/admin/products/{pen}/edit",
        {**data, "description": "  "},
    )

    assert changed == "Black ink."
    assert description_of(database, pen) is None
    assert "Description None" in text_of(staff.get(f"/admin/products/{pen}").text)


@pytest.mark.parametrize("action", ["new", "edit"])
def test_a_description_over_5000_characters_shows_the_form_again_and_changes_nothing(
    staff: TestClient, database: Database, action: str
) -> None:
    pen = factories.product(database, name="Pen", sku="PEN-1", description="Kept")
    path = "/admin/products/new" if action == "new" else f"/admin/products/{pen}/edit"
    typed = "word " * 1_001  # 5,004 characters once the last space is trimmed
    data = {"name": "Pen", "sku": "PEN-2", "price": "1.00", "active": "1", "description": typed}

    response = submit(staff, path, path, data)

    assert response.status_code == 400
    assert error_next_to(response.text, "description") == "Use at most 5000 characters."
    assert textarea_value(response.text, "description") == typed
    assert description_of(database, pen) == "Kept"
    assert product_count(database) == 1


# ---------------------------------------------------------------- archiving


def test_archiving_stops_the_sale_and_selling_again_brings_it_back(
    staff: TestClient, database: Database
) -> None:
    pen = factories.product(database, name="Pen")

    archived = submit(staff, f"/admin/products/{pen}", f"/admin/products/{pen}/archive")
    page = follow(staff, archived).text
    assert flashes(page) == [("ok", "Pen is archived: it is no longer sold.")]
    assert product_row(database, pen)["active"] is False
    assert "Sell again" in text_of(page)

    restored = submit(staff, f"/admin/products/{pen}", f"/admin/products/{pen}/unarchive")
    assert flashes(follow(staff, restored).text) == [("ok", "Pen is sold again.")]
    assert product_row(database, pen)["active"] is True


# ---------------------------------------------------------------- stock adjustments


def test_a_stock_adjustment_with_a_reason_changes_the_stock_and_is_audited(
    staff: TestClient, database: Database
) -> None:
    pen = factories.product(database, name="Pen", stock=10)

    response = submit(
        staff,
        f"/admin/products/{pen}",
        f"/admin/products/{pen}/stock",
        {"delta": "-3", "reason": "broken"},
    )

    page = follow(staff, response).text
    assert flashes(page) == [("ok", "Stock of Pen: -3 (broken), now 7.")]
    assert product_row(database, pen)["stock"] == 7
    latest = audit_of(database, pen)[0]
    assert (latest.action, latest.detail["reason"], latest.actor) == (
        "product.stock_adjusted",
        "broken",
        "staff-pages@example.com",
    )


@pytest.mark.parametrize(
    ("delta", "reason", "field", "message", "status"),
    [
        ("5", "", "reason", "Fill this in.", 400),
        ("5", "x" * 501, "reason", "Use at most 500 characters.", 400),
        ("", "delivery", "delta", "Enter a whole number", 400),
        ("five", "delivery", "delta", "Enter a whole number", 400),
        ("0", "delivery", "delta", "Delta must not be zero.", 400),
        ("-11", "lost", "delta", "Product {id} has 10 in stock", 409),
    ],
)
def test_a_wrong_adjustment_shows_the_page_again_with_the_message_and_changes_nothing(
    staff: TestClient,
    database: Database,
    delta: str,
    reason: str,
    field: str,
    message: str,
    status: int,
) -> None:
    pen = factories.product(database, stock=10)
    entries = len(audit_of(database, pen))

    response = submit(
        staff,
        f"/admin/products/{pen}",
        f"/admin/products/{pen}/stock",
        {"delta": delta, "reason": reason},
    )

    assert response.status_code == status
    assert message.format(id=pen) in error_next_to(response.text, field)
    assert field_value(response.text, "delta") == delta
    assert field_value(response.text, "reason") == reason
    assert product_row(database, pen)["stock"] == 10
    assert len(audit_of(database, pen)) == entries


# ---------------------------------------------------------------- safety


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("/admin/products/new", {"name": "Forged", "sku": "FORGED", "price": "1"}),
        ("/admin/products/{id}/edit", {"name": "Forged", "sku": "FORGED", "price": "1"}),
        ("/admin/products/{id}/archive", {}),
        ("/admin/products/{id}/unarchive", {}),
        ("/admin/products/{id}/stock", {"delta": "-5", "reason": "forged"}),
    ],
)
@pytest.mark.parametrize("token", ["none", "wrong"])
def test_a_post_without_the_pages_token_is_refused_and_changes_nothing(
    staff: TestClient, database: Database, action: str, data: dict[str, str], token: str
) -> None:
    archived = action.endswith("unarchive")
    pen = factories.product(database, name="Pen", sku="PEN-1", stock=10, active=not archived)
    before = product_row(database, pen)
    if token == "wrong":
        data = {**data, "csrf_token": "0" * 64}

    response = staff.post(action.format(id=pen), data=data)

    assert response.status_code == 403
    assert "Nothing was changed" in text_of(response.text)
    assert product_row(database, pen) == before
    assert product_count(database) == 1


def test_a_name_and_a_reason_with_markup_are_shown_as_text(
    staff: TestClient, database: Database
) -> None:
    pen = factories.product(database, name=XSS, sku="XSS-1", stock=3)

    adjusted = submit(
        staff,
        f"/admin/products/{pen}",
        f"/admin/products/{pen}/stock",
        {"delta": "1", "reason": XSS},
    )
    landed = follow(staff, adjusted).text
    pages = [
        landed,
        staff.get("/admin/products").text,
        staff.get(f"/admin/products/{pen}/edit").text,
    ]

    for page in pages:
        assert XSS not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert flashes(landed) == [("ok", f"Stock of {XSS}: +1 ({XSS}), now 4.")]


def test_customers_never_reach_the_product_pages(visitor: TestClient, database: Database) -> None:
    _, user_id = factories.customer_login(database)
    with database.read() as session:
        email = accounts.get_user(session, user_id).email

    refused = log_in(visitor, email)

    assert refused.status_code == 400
    assert visitor.get("/admin/products").status_code == 303
