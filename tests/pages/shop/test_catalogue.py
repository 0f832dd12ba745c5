"""/ and /products/{id}: the products on sale, searched and paged, each with Add to cart."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.services import carts, catalog
from ordermill.web.app import create_app
from tests import factories
from tests.pages.forms import csrf_of, flashes, follow, statements_for, submit, text_of
from tests.pages.shop.conftest import Shopper

XSS = "<script>alert(1)</script>"
TIMES = "\N{MULTIPLICATION SIGN}"


@contextmanager
def browser(database: Database, **settings: Any) -> Iterator[TestClient]:
    """A visitor's browser on a store with these settings."""
    app = create_app(Settings(database_url=database.url, **settings), database)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client


def cards(page: str) -> list[str]:
    """The text of each product on a catalogue page, in order."""
    return [
        text_of(card)
        for card in re.findall(r'<li class="card product-card">(.*?)</li>', page, re.S)
    ]


def names(page: str) -> list[str]:
    found = re.findall(r'<h2><a href="/products/\d+">(.*?)</a></h2>', page)
    return [html.unescape(name) for name in found]


def next_link(page: str) -> str | None:
    found = re.search(r'<a href="([^"]+)" rel="next">Next page', page)
    return html.unescape(found.group(1)) if found else None


def cart_of(database: Database, customer_id: int) -> dict[int, int]:
    with database.read() as session:
        return {i.product_id: i.quantity for i in carts.get_cart(session, customer_id).items}


# ---------------------------------------------------------------- the catalogue


def test_the_catalogue_shows_each_product_on_sale_with_its_price_sku_and_availability(
    visitor: TestClient, database: Database
) -> None:
    factories.product(database, name="Green tea", sku="TEA-G", price=4_50, stock=20)
    factories.product(database, name="Honey", sku="HON-1", price=7_00, stock=3)
    factories.product(database, name="Candle", sku="CAN-1", price=12_00, stock=0)
    factories.product(database, name="Old mug", sku="MUG-0", stock=9, active=False)

    page = visitor.get("/")

    assert page.status_code == 200
    assert cards(page.text) == [
        "Green tea SKU TEA-G Price $4.50 Availability In stock Quantity Add to cart : Green tea",
        "Honey SKU HON-1 Price $7.00 Availability Only 3 left Quantity Add to cart : Honey",
        "Candle SKU CAN-1 Price $12.00 Availability Out of stock "
        "Out of stock: it can't be added to a cart now.",
    ]
    assert "Old mug" not in page.text
    assert page.text.count('action="/cart/items"') == 2


@pytest.mark.parametrize(
    ("low_at", "stock", "words"),
    [(5, 5, "Only 5 left"), (5, 6, "In stock"), (10, 8, "Only 8 left"), (0, 1, "In stock")],
)
def test_only_a_few_left_follows_the_stores_low_stock_level(
    database: Database, low_at: int, stock: int, words: str
) -> None:
    factories.product(database, name="Honey", stock=stock)

    with browser(database, low_stock_default=low_at) as client:
        page = client.get("/").text

    assert f"Availability {words} " in cards(page)[0]


def test_the_add_to_cart_form_has_a_labelled_quantity_of_at_least_one(
    visitor: TestClient, database: Database
) -> None:
    tea = factories.product(database, name="Tea", stock=20)

    page = visitor.get("/").text

    assert f'<label for="quantity-{tea}">Quantity</label>' in page
    field = re.search(rf'<input id="quantity-{tea}"[^>]*>', page)
    assert field is not None
    assert 'type="number"' in field.group(0)
    assert 'min="1"' in field.group(0)
    assert f'name="product_id" value="{tea}"' in page


def test_products_are_found_by_a_piece_of_their_name_or_sku_in_any_case(
    visitor: TestClient, database: Database
) -> None:
    factories.product(database, name="Green Tea", sku="G-1")
    factories.product(database, name="Mug", sku="TEA-MUG")
    factories.product(database, name="Black Tea", sku="B-1", active=False)
    factories.product(database, name="Candle", sku="C-1")

    by_name_or_sku = visitor.get("/", params={"q": "tEa"}).text
    by_sku = visitor.get("/", params={"q": "c-1"}).text

    assert names(by_name_or_sku) == ["Green Tea", "Mug"]
    assert names(by_sku) == ["Candle"]
    assert 'value="tEa"' in by_name_or_sku
    assert "Show all products" in by_name_or_sku


def test_a_search_that_finds_nothing_says_so(visitor: TestClient, database: Database) -> None:
    factories.product(database, name="Tea")

    page = visitor.get("/", params={"q": XSS}).text

    assert names(page) == []
    assert f"No products match “{XSS}”." in text_of(page)
    assert XSS not in page


def test_an_empty_catalogue_says_there_is_nothing_for_sale_yet(
    visitor: TestClient, database: Database
) -> None:
    factories.product(database, name="Old", active=False)

    page = visitor.get("/").text

    assert "There are no products for sale yet." in text_of(page)


def test_the_catalogue_comes_a_page_at_a_time_and_the_next_page_keeps_the_search(
    database: Database,
) -> None:
    for n in range(5):
        factories.product(database, name=f"Tea {n}")
    factories.product(database, name="Candle")

    with browser(database, page_size_default=2) as client:
        first = client.get("/", params={"q": "tea"}).text
        second_url = next_link(first)
        assert second_url is not None
        second = client.get(second_url).text
        third_url = next_link(second)
        assert third_url is not None
        third = client.get(third_url).text

    assert names(first) == ["Tea 0", "Tea 1"]
    assert parse_qs(urlsplit(second_url).query)["q"] == ["tea"]
    assert names(second) == ["Tea 2", "Tea 3"]
    assert names(third) == ["Tea 4"]
    assert next_link(third) is None
    assert '<a href="/?q=tea">← First page</a>' in third


def test_a_changed_cursor_is_a_400_page_not_an_error(visitor: TestClient) -> None:
    response = visitor.get("/", params={"cursor": "not-a-cursor"})

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")


def test_the_catalogue_takes_the_same_number_of_queries_for_3_or_30_products(
    visitor: TestClient, database: Database
) -> None:
    def queries_for_the_catalogue() -> int:
        return len(statements_for(database, visitor, "/"))

    for _ in range(3):
        factories.product(database)
    few = queries_for_the_catalogue()
    for _ in range(27):
        factories.product(database)
    many = queries_for_the_catalogue()

    assert few == many


# ---------------------------------------------------------------- a product's page


def test_a_products_page_shows_its_description_as_text_with_its_line_breaks(
    visitor: TestClient, database: Database
) -> None:
    tea = factories.product(
        database,
        name="Green tea",
        sku="TEA-G",
        price=4_50,
        stock=3,
        description=f"Steep 3 minutes.\n{XSS}\nServes 20.",
    )

    page = visitor.get(f"/products/{tea}")

    assert page.status_code == 200
    assert "<h1>Green tea</h1>" in page.text
    assert (
        '<p class="pre-line description">Steep 3 minutes.\n'
        "&lt;script&gt;alert(1)&lt;/script&gt;\nServes 20.</p>"
    ) in page.text
    assert XSS not in page.text
    text = text_of(page.text)
    assert "SKU TEA-G Price $4.50 Availability Only 3 left" in text
    assert f'name="next" value="/products/{tea}"' in page.text


def test_a_product_without_a_description_says_so(visitor: TestClient, database: Database) -> None:
    tea = factories.product(database)

    assert "No description yet." in text_of(visitor.get(f"/products/{tea}").text)


def test_the_catalogue_links_each_product_to_its_page(
    visitor: TestClient, database: Database
) -> None:
    tea = factories.product(database, name="Tea")

    page = visitor.get("/").text

    assert f'<a href="/products/{tea}">Tea</a>' in page


@pytest.mark.parametrize("which", ["archived", "unknown"])
def test_an_archived_or_unknown_products_page_is_a_404_page(
    visitor: TestClient, database: Database, which: str
) -> None:
    archived = factories.product(database, name="Old mug", active=False)
    product_id = archived if which == "archived" else 999_999

    response = visitor.get(f"/products/{product_id}")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Old mug" not in response.text


def test_a_product_name_with_markup_is_shown_as_text(
    visitor: TestClient, database: Database
) -> None:
    tea = factories.product(database, name=XSS, sku="XSS-1")

    pages = [visitor.get("/").text, visitor.get(f"/products/{tea}").text]

    for page in pages:
        assert XSS not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# ---------------------------------------------------------------- Add to cart


def test_add_to_cart_adds_the_quantity_and_comes_back_to_the_same_page_saying_so(
    customer: Shopper, database: Database
) -> None:
    tea = factories.product(database, name="Green tea", stock=20)

    response = submit(
        customer.browser,
        "/?q=tea",
        "/cart/items",
        {"product_id": str(tea), "quantity": "2", "next": "/?q=tea"},
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/?q=tea"
    assert flashes(follow(customer.browser, response).text) == [
        ("ok", f"Added 2 {TIMES} Green tea to your cart.")
    ]
    assert cart_of(database, customer.customer_id) == {tea: 2}


def test_add_to_cart_on_a_products_page_comes_back_to_it(
    customer: Shopper, database: Database
) -> None:
    tea = factories.product(database, name="Tea", stock=20)
    page = f"/products/{tea}"

    response = submit(
        customer.browser,
        page,
        "/cart/items",
        {"product_id": str(tea), "quantity": "1", "next": page},
    )

    assert response.headers["location"] == page


@pytest.mark.parametrize("elsewhere", ["https://evil.example/", "//evil.example/", "", "cart"])
def test_add_to_cart_never_sends_the_browser_to_another_site(
    customer: Shopper, database: Database, elsewhere: str
) -> None:
    tea = factories.product(database, stock=20)

    response = submit(
        customer.browser,
        "/",
        "/cart/items",
        {"product_id": str(tea), "quantity": "1", "next": elsewhere},
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert cart_of(database, customer.customer_id) == {tea: 1}


def test_someone_not_signed_in_pressing_add_to_cart_logs_in_and_comes_back_to_the_page(
    visitor: TestClient, database: Database
) -> None:
    tea = factories.product(database, name="Tea", stock=20)
    customer_id, _user_id = factories.customer_login(database)
    with database.read() as session:
        email = catalog.get_customer(session, customer_id).email
    page = f"/products/{tea}"

    pressed = submit(
        visitor, page, "/cart/items", {"product_id": str(tea), "quantity": "2", "next": page}
    )

    assert pressed.status_code == 303
    assert pressed.headers["location"] == f"/login?next={page}"
    login = visitor.get(pressed.headers["location"]).text
    assert f'name="next" value="{page}"' in login
    signed_in = visitor.post(
        "/login",
        data={
            "email": email,
            "password": factories.PASSWORD,
            "next": page,
            "csrf_token": csrf_of(login),
        },
    )
    assert signed_in.headers["location"] == page
    assert visitor.get(page).status_code == 200
    assert cart_of(database, customer_id) == {}  # nothing was added while signed out
