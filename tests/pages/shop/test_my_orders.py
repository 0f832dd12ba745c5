"""My Orders: the customer's orders, each order's page and invoice, Order again and Cancel;
only ever their own."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import select

from ordermill.db import Database
from ordermill.services import catalog, processing, timeline
from ordermill.services import orders as order_service
from ordermill.services import workflow as flow_service
from ordermill.services.audit import Actor
from ordermill.services.tables import order_events
from ordermill.services.timeline import Visibility
from tests import factories
from tests.pages import order_scenes as scenes
from tests.pages.forms import csrf_of, flashes, statements_for, text_of
from tests.pages.shop.conftest import Shopper
from tests.pages.shop.test_checkout import cart_of, signed_in
from tests.pages.test_page_access import snapshot

_FORM = re.compile(
    r'action="([^"]+)"[^>]*>\s*<input type="hidden" name="csrf_token" value="([0-9a-f]+)">'
    r'\s*<input type="hidden" name="form_key" value="([^"]+)">'
)
STAFF = Actor("staff@example.com", None, None)


def page_of(number: str) -> str:
    return f"/account/orders/{number}"


def form_on(browser: Any, page: str, action: str) -> dict[str, str]:
    """The form posting to ``action`` on ``page``: its CSRF token and its key."""
    opened = browser.get(page)
    assert opened.status_code == 200, opened.text[:400]
    for target, token, key in _FORM.findall(opened.text):
        if target == action:
            return {"csrf_token": token, "form_key": key}
    raise AssertionError(f"no form posting to {action} on {page}")


def press(
    browser: Any, number: str, action: str, form: dict[str, str] | None = None, **fields: str
) -> httpx.Response:
    """Press the order page's button ``action`` (reorder, cancel), or send ``form`` again."""
    target = f"{page_of(number)}/{action}"
    sent = form or form_on(browser, page_of(number), target)
    return browser.post(target, data={**sent, **fields})


def messages_after(browser: Any, answer: httpx.Response) -> list[tuple[str, str]]:
    """The messages a redirect-after-POST left (read on any page the browser opens next)."""
    assert answer.status_code == 303, (answer.status_code, text_of(answer.text)[:400])
    return flashes(browser.get("/account/orders").text)


def placed_for(
    database: Database, buyer: Shopper, *items: tuple[int, int], **fields: Any
) -> scenes.Placed:
    """A pending order of the customer's with (product_id, quantity) lines."""
    with database.write() as session:
        view = order_service.place_order(
            session,
            customer_id=buyer.customer_id,
            items=[order_service.ItemRequest(pid, qty) for pid, qty in items],
            currency="USD",
            **fields,
        )
    return scenes.Placed(view.id, view.number, buyer.customer_id, items[0][0])


@pytest.fixture
def cake(database: Database) -> int:
    return factories.product(database, name="Lemon cake", sku="CAKE-1", price=12_50, stock=10)


@pytest.fixture
def tea(database: Database) -> int:
    return factories.product(database, name="Earl Grey", sku="TEA-1", price=4_20, stock=100)


# ---------------------------------------------------------------- the list


def test_my_orders_lists_the_customers_orders_newest_first_with_their_status_in_words(
    database: Database, customer: Shopper, other_customer: Shopper, cake: int
) -> None:
    start = datetime(2026, 2, 1, 9, tzinfo=UTC)
    oldest = placed_for(database, customer, (cake, 1), now=start)
    middle = placed_for(database, customer, (cake, 2), now=start + timedelta(days=1))
    newest = placed_for(database, customer, (cake, 3), now=start + timedelta(days=2))
    theirs = placed_for(database, other_customer, (cake, 1), now=start + timedelta(days=3))
    with database.write() as session:
        processing.process_order(session, middle.id)
        flow_service.cancel(session, oldest.id, reason="changed my mind")

    page = customer.browser.get("/account/orders")
    text = text_of(page.text)

    assert page.status_code == 200
    assert (
        f"{newest.number} 2026-02-03 Received 3 $37.50 "
        f"{middle.number} 2026-02-02 Paid, being prepared 2 $25.00 "
        f"{oldest.number} 2026-02-01 Cancelled 1 $12.50"
    ) in text
    assert f'href="/account/orders/{newest.number}"' in page.text
    assert theirs.number not in text
    assert "awaiting_payment" not in page.text
    assert ">pending<" not in page.text


def test_my_orders_come_a_page_at_a_time(database: Database, customer: Shopper, cake: int) -> None:
    start = datetime(2026, 2, 1, 9, tzinfo=UTC)
    numbers = [
        placed_for(database, customer, (cake, 1), now=start + timedelta(hours=n)).number
        for n in range(5)
    ]

    with signed_in(database, customer.email, page_size_default=2) as browser:
        seen: list[str] = []
        path: str | None = "/account/orders"
        while path:
            page = browser.get(path).text
            seen += re.findall(r'<th scope="row"><a href="/account/orders/([0-9-]+)">', page)
            found = re.search(r'<a href="([^"]+)" rel="next">', page)
            path = found.group(1).replace("&amp;", "&") if found else None

    assert seen == numbers[::-1]


def test_a_customer_without_orders_is_told_so(customer: Shopper) -> None:
    text = text_of(customer.browser.get("/account/orders").text)

    assert "You have no orders yet." in text


def test_my_orders_costs_the_same_statements_for_two_orders_or_twenty(
    database: Database, customer: Shopper, other_customer: Shopper, cake: int, tea: int
) -> None:
    def count(buyer: Shopper) -> int:
        return len(statements_for(database, buyer.browser, "/account/orders"))

    for _ in range(2):
        placed_for(database, customer, (cake, 1), (tea, 2))
    for _ in range(20):
        placed_for(database, other_customer, (cake, 1), (tea, 2))

    assert count(customer) == count(other_customer)


# ---------------------------------------------------------------- one order


def test_the_order_page_shows_the_lines_as_ordered_and_the_status_with_its_dates(
    database: Database, customer: Shopper, cake: int, tea: int
) -> None:
    placed = placed_for(
        database, customer, (cake, 2), (tea, 1), shipping_address="1 Main St", note="Ring"
    )
    with database.write() as session:
        catalog.update_product(
            session,
            catalog.get_product(session, cake),
            catalog.ProductChanges(name="Orange cake", price=99_00),
        )
        processing.process_order(session, placed.id)
        flow_service.fulfill(session, placed.id, carrier="DHL", tracking_number="JD0146")

    text = text_of(customer.browser.get(page_of(placed.number)).text)

    assert f"Order {placed.number}" in text
    assert "Lemon cake CAKE-1 $12.50 2 2 $25.00" in text  # the snapshot, not today's product
    assert "Orange cake" not in text
    assert "Total $29.20" in text
    assert "Status Shipped Your order is on its way to you." in text
    assert re.search(r"Placed \d+ \w+ 2\d{3}, \d\d:\d\d UTC Processed", text)
    assert "Carrier DHL Tracking number JD0146" in text
    assert "Paid $29.20" in text
    assert "Store balance $29.20" in text  # the payment
    assert "1 Main St" in text
    assert "Ring" in text


def test_the_history_shows_what_the_customer_may_see_and_none_of_the_stores_notes(
    database: Database, customer: Shopper, cake: int
) -> None:
    placed = placed_for(database, customer, (cake, 1))
    with database.write() as session:
        processing.process_order(session, placed.id)
        for text, seen in (
            ("Packed with care", Visibility.CUSTOMER),
            ("Rude one", Visibility.STAFF),
        ):
            timeline.add_note(session, placed.id, text, visibility=seen, actor=STAFF)

    text = text_of(customer.browser.get(page_of(placed.number)).text)

    assert "Order placed" in text
    assert "Processed" in text
    assert "Payment recorded" in text
    assert "Message from the store Packed with care" in text
    assert "Rude one" not in text
    assert "If stock was short" not in text  # how the store took the stock is its own


def test_a_paid_orders_invoice_is_the_one_the_back_office_prints(
    database: Database, customer: Shopper, cake: int, staff: Any
) -> None:
    placed = placed_for(database, customer, (cake, 2), shipping_address="1 Main St")
    with database.write() as session:
        processing.process_order(session, placed.id)
    order_page = customer.browser.get(page_of(placed.number)).text

    mine = customer.browser.get(f"{page_of(placed.number)}/invoice")
    printed = staff.get(f"/admin/orders/{placed.number}/invoice")

    assert f'href="/account/orders/{placed.number}/invoice"' in order_page
    assert mine.status_code == printed.status_code == 200
    article = re.compile(r'<article class="document invoice".*?</article>', re.S)
    assert article.search(mine.text).group(0) == article.search(printed.text).group(0)  # type: ignore[union-attr]
    assert "/admin" not in mine.text


def test_an_unpaid_orders_invoice_is_a_409_page_saying_why(
    database: Database, customer: Shopper, cake: int
) -> None:
    placed = placed_for(database, customer, (cake, 1))

    answer = customer.browser.get(f"{page_of(placed.number)}/invoice")

    assert answer.status_code == 409
    assert "has not been processed yet: its invoice is made once it is paid" in answer.text
    assert f'href="/account/orders/{placed.number}"' in answer.text
    assert "/admin" not in answer.text
    assert "The invoice is here once the order is paid." in text_of(
        customer.browser.get(page_of(placed.number)).text
    )


# ---------------------------------------------------------------- order again


def test_order_again_puts_the_products_in_the_cart_and_names_what_is_gone_or_short(
    database: Database, customer: Shopper, cake: int, tea: int
) -> None:
    scone = factories.product(database, name="Scone", sku="SCONE-1", stock=1)
    old = factories.product(database, name="Old biscuit", sku="OLD-1")
    placed = placed_for(database, customer, (cake, 2), (scone, 3), (old, 1))
    with database.write() as session:
        catalog.update_product(
            session, catalog.get_product(session, old), catalog.ProductChanges(active=False)
        )

    answer = press(customer.browser, placed.number, "reorder")

    assert answer.headers["location"] == "/cart"
    assert cart_of(database, customer.customer_id) == [(cake, 2), (scone, 3)]
    assert messages_after(customer.browser, answer) == [
        (
            "ok",
            f"Added to your cart from order {placed.number}, at today's prices: "
            "Lemon cake (2), Scone (3).",
        ),
        (
            "error",
            "No longer sold, so not added: Old biscuit. "
            "Not enough in stock for what is in your cart: Scone (only 1 left).",
        ),
    ]


def test_order_again_sent_twice_adds_the_products_once(
    database: Database, customer: Shopper, cake: int
) -> None:
    placed = placed_for(database, customer, (cake, 2))
    form = form_on(customer.browser, page_of(placed.number), f"{page_of(placed.number)}/reorder")

    first = press(customer.browser, placed.number, "reorder", form)
    second = press(customer.browser, placed.number, "reorder", form)

    assert first.headers["location"] == second.headers["location"] == "/cart"
    assert cart_of(database, customer.customer_id) == [(cake, 2)]
    assert messages_after(customer.browser, second) == [
        ("ok", "This form was sent already, so nothing was added to your cart twice.")
    ]


def test_order_again_with_nothing_left_to_sell_stays_on_the_order_and_says_so(
    database: Database, customer: Shopper, cake: int
) -> None:
    placed = placed_for(database, customer, (cake, 2))
    with database.write() as session:
        catalog.update_product(
            session, catalog.get_product(session, cake), catalog.ProductChanges(active=False)
        )

    answer = press(customer.browser, placed.number, "reorder")

    assert answer.headers["location"] == page_of(placed.number)
    assert messages_after(customer.browser, answer) == [
        ("error", "Nothing was added to your cart. No longer sold, so not added: Lemon cake.")
    ]
    assert cart_of(database, customer.customer_id) == []


# ---------------------------------------------------------------- cancel


def test_a_pending_order_is_cancelled_by_its_customer_with_a_reason(
    database: Database, customer: Shopper, cake: int
) -> None:
    placed = placed_for(database, customer, (cake, 2))
    assert "Cancel order" in customer.browser.get(page_of(placed.number)).text

    answer = press(customer.browser, placed.number, "cancel", reason="Ordered twice")

    assert answer.headers["location"] == page_of(placed.number)
    assert messages_after(customer.browser, answer) == [
        ("ok", f"Order {placed.number} is cancelled.")
    ]
    after = scenes.order(database, placed.id)
    assert after is not None
    assert (after.status, after.cancel_reason) == ("cancelled", "Ordered twice")
    text = text_of(customer.browser.get(page_of(placed.number)).text)
    assert "Status Cancelled" in text
    assert "Why cancelled Ordered twice" in text
    assert "Cancel order" not in text
    assert "This order is cancelled already." in text


def test_cancelling_an_order_awaiting_payment_refunds_what_was_paid(
    database: Database, customer: Shopper, cake: int
) -> None:
    placed = scenes.awaiting_payment(database, customer=customer.customer_id, product=cake)
    with database.write() as session:
        flow_service.pay(session, placed.id, amount=5_00, method="bank_transfer")
    balance = factories.balance_of(database, customer.customer_id)

    answer = press(customer.browser, placed.number, "cancel")

    assert messages_after(customer.browser, answer) == [
        ("ok", f"Order {placed.number} is cancelled. $5.00 went back to your store balance.")
    ]
    assert factories.balance_of(database, customer.customer_id) == balance + 5_00
    assert factories.stock_of(database, cake) == 10  # the held stock is back


def test_a_paid_order_has_no_cancel_button_and_says_why(
    database: Database, customer: Shopper, cake: int
) -> None:
    placed = scenes.processed(database, customer=customer.customer_id, product=cake)

    page = customer.browser.get(page_of(placed.number)).text

    assert f'action="/account/orders/{placed.number}/cancel"' not in page
    assert (
        "Your order is paid and the store is preparing it, so it can no longer be cancelled "
        "here; contact the store if you need to."
    ) in text_of(page)


def test_a_cancel_that_crossed_the_payment_is_refused_with_the_reason(
    database: Database, customer: Shopper, cake: int
) -> None:
    placed = placed_for(database, customer, (cake, 2))
    form = form_on(customer.browser, page_of(placed.number), f"{page_of(placed.number)}/cancel")
    with database.write() as session:
        processing.process_order(session, placed.id)  # the store was quicker
    before = snapshot(database)

    answer = press(customer.browser, placed.number, "cancel", form)

    assert answer.headers["location"] == page_of(placed.number)
    assert messages_after(customer.browser, answer) == [
        (
            "error",
            f"Order {placed.number} was not cancelled: Your order is paid and the store is "
            "preparing it, so it can no longer be cancelled here; contact the store if you "
            "need to.",
        )
    ]
    assert snapshot(database) == before


def _cancelled_events(database: Database, order_id: int) -> int:
    with database.read() as session:
        kinds = session.execute(
            select(order_events.c.kind).where(order_events.c.order_id == order_id)
        ).scalars()
        return sum(kind == "cancelled" for kind in kinds)


def test_the_same_cancel_sent_twice_cancels_once_and_both_land_on_the_order(
    database: Database, customer: Shopper, cake: int
) -> None:
    placed = placed_for(database, customer, (cake, 2))
    form = form_on(customer.browser, page_of(placed.number), f"{page_of(placed.number)}/cancel")

    first = press(customer.browser, placed.number, "cancel", form)
    second = press(customer.browser, placed.number, "cancel", form)

    assert first.headers["location"] == second.headers["location"] == page_of(placed.number)
    assert messages_after(customer.browser, second) == [
        ("ok", f"Order {placed.number} is cancelled.")
    ]
    assert _cancelled_events(database, placed.id) == 1


def test_a_second_cancel_from_another_tab_changes_nothing_and_says_so(
    database: Database, customer: Shopper, cake: int
) -> None:
    placed = placed_for(database, customer, (cake, 2))
    action = f"{page_of(placed.number)}/cancel"
    one_tab = form_on(customer.browser, page_of(placed.number), action)
    other_tab = form_on(customer.browser, page_of(placed.number), action)
    assert press(customer.browser, placed.number, "cancel", one_tab).status_code == 303
    before = snapshot(database)

    again = press(customer.browser, placed.number, "cancel", other_tab)

    assert messages_after(customer.browser, again) == [
        ("error", f"Order {placed.number} is cancelled already; nothing changed.")
    ]
    assert snapshot(database) == before


def test_a_too_long_reason_is_refused_next_to_the_field_and_nothing_changes(
    database: Database, customer: Shopper, cake: int
) -> None:
    placed = placed_for(database, customer, (cake, 2))
    before = snapshot(database)

    answer = press(customer.browser, placed.number, "cancel", reason="z" * 501)

    assert answer.status_code == 400
    assert '<p class="field-error" id="reason-error">Use at most 500 characters.</p>' in answer.text
    assert snapshot(database) == before


# ---------------------------------------------------------------- only their own


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("GET", "/invoice"),
        ("POST", "/reorder"),
        ("POST", "/cancel"),
        ("GET", "/thank-you"),
    ],
)
def test_another_customers_order_is_the_404_of_a_number_no_order_has_and_nothing_changes(
    database: Database,
    customer: Shopper,
    other_customer: Shopper,
    cake: int,
    method: str,
    suffix: str,
) -> None:
    placed = placed_for(database, customer, (cake, 2))
    with database.write() as session:
        processing.process_order(session, placed.id)  # paid: it has an invoice
    unknown = "2001-00042"
    base = "/orders" if suffix == "/thank-you" else "/account/orders"
    token = csrf_of(other_customer.browser.get("/account/orders").text)
    before = snapshot(database)

    def ask(number: str) -> httpx.Response:
        path = f"{base}/{number}{suffix}"
        if method == "GET":
            return other_customer.browser.get(path)
        return other_customer.browser.post(path, data={"csrf_token": token, "form_key": "k1"})

    theirs, nobodys = ask(placed.number), ask(unknown)

    assert theirs.status_code == nobodys.status_code == 404
    assert text_of(theirs.text) == text_of(nobodys.text).replace(unknown, placed.number)
    assert snapshot(database) == before
    assert cart_of(database, other_customer.customer_id) == []


def test_what_customers_staff_and_products_wrote_is_shown_as_text(
    database: Database, customer: Shopper
) -> None:
    trap = factories.product(database, name="<script>alert(1)</script>", sku="TRAP-1")
    placed = placed_for(
        database, customer, (trap, 1), shipping_address="<b>bold</b>", note="<i>it</i>"
    )
    with database.write() as session:
        processing.process_order(session, placed.id)
        timeline.add_note(
            session, placed.id, "<img src=x>", visibility=Visibility.CUSTOMER, actor=STAFF
        )
        flow_service.fulfill(session, placed.id, carrier="<u>DHL</u>", tracking_number="<s>1</s>")

    pages = [
        customer.browser.get(page_of(placed.number)).text,
        customer.browser.get(f"{page_of(placed.number)}/invoice").text,
        customer.browser.get("/account/orders").text,
    ]
    answer = press(customer.browser, placed.number, "reorder")
    pages.append(customer.browser.get("/account/orders").text)  # with the reorder's message

    assert answer.status_code == 303
    for page in pages:
        for raw in ("<script>alert", "<b>bold", "<i>it", "<img src=x>", "<u>DHL", "<s>1"):
            assert raw not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0]
    assert "&lt;img src=x&gt;" in pages[0]
    assert "&lt;u&gt;DHL&lt;/u&gt;" in pages[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; (1)" in pages[3]
