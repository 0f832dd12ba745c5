"""The storefront says every order state in a customer's words, and what happens next."""

from __future__ import annotations

from datetime import UTC, datetime

from ordermill.domain.orders import OrderStatus
from ordermill.domain.workflow import PaymentFlow
from ordermill.services.order_views import OrderView
from ordermill.web.pages.shop.order_words import STATUS, cancel_refusal, next_steps, status_words


def _order(status: OrderStatus, *, paid: int = 0, refunded: int = 0) -> OrderView:
    return OrderView(
        id=1,
        number="2026-00001",
        customer_id=1,
        status=status.value,
        strategy=None,
        created=datetime(2026, 1, 1, tzinfo=UTC),
        processed=None,
        currency="USD",
        shipping_address=None,
        note=None,
        extra={},
        total=25_00,
        paid=paid,
        refunded=refunded,
    )


def test_every_state_has_words_for_the_customer_and_none_is_the_raw_name() -> None:
    assert set(STATUS) == set(OrderStatus)
    assert all(status_words(s.value) != s.value for s in OrderStatus if "_" in s.value)


def test_every_state_says_what_happens_next_in_a_sentence_of_its_own() -> None:
    said = {status: next_steps(_order(status), PaymentFlow.BALANCE) for status in OrderStatus}

    assert all(sentence.endswith(".") for sentence in said.values())
    assert len(set(said.values())) == len(OrderStatus)


def test_a_pending_order_says_how_it_will_be_paid_in_this_store() -> None:
    pending = _order(OrderStatus.PENDING)

    assert "paid from your store balance" in next_steps(pending, PaymentFlow.BALANCE)
    assert "waits for your payment of $25.00" in next_steps(pending, PaymentFlow.ADVANCE)


def test_a_cancelled_order_says_what_went_back_to_the_balance() -> None:
    refunded = _order(OrderStatus.CANCELLED, paid=10_00, refunded=10_00)

    assert "$10.00 went back to your store balance" in next_steps(refunded, PaymentFlow.BALANCE)


def test_why_a_customer_may_not_cancel_is_said_in_their_words() -> None:
    assert cancel_refusal("not_cancellable_by_customer").startswith("Your order is paid")
    assert cancel_refusal("already_fulfilled") == (
        "Your order has shipped, so it can no longer be cancelled."
    )
    assert cancel_refusal(None) == ""
