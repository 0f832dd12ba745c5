"""What a text message says, decided from an event alone: who gets one, the words of each
built-in template, a store's own template, and the templates shipping with the package."""

from __future__ import annotations

import fnmatch
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jinja2 import UndefinedError
from jinja2.exceptions import SecurityError

from ordermill.config import Settings
from ordermill.domain.events import ORDER_EVENTS, EventType
from ordermill.notify.channels import Audience, ChannelName, EventContext, Person
from ordermill.notify.sms import SmsChannel
from ordermill.services.order_views import OrderView

ROOT = Path(__file__).resolve().parents[2]
BUILT_IN = ROOT / "src" / "ordermill" / "templates" / "sms"
NOW = datetime(2026, 5, 4, 10, 30, tzinfo=UTC)


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "twilio_account_sid": "AC123",
        "twilio_auth_token": "token",
        "twilio_from": "+15557654321",
        "notify_customer_sms": [t.value for t in ORDER_EVENTS],
    }
    values.update(overrides)
    return Settings(**values)


def order(**fields: Any) -> OrderView:
    values: dict[str, Any] = {
        "id": 42,
        "number": "2026-00042",
        "customer_id": 7,
        "status": "fulfilled",
        "strategy": None,
        "created": NOW,
        "processed": NOW,
        "currency": "EUR",
        "shipping_address": "1 Long Street",
        "note": None,
        "extra": {},
        "total": 123_45,
        "payment_flow": "advance",
    }
    values.update(fields)
    return OrderView(**values)


def event(
    type: str,
    *,
    person: Person | None = None,
    data: dict[str, Any] | None = None,
    **order_fields: Any,
) -> EventContext:
    return EventContext(
        id=1,
        type=type,
        created=NOW,
        data=data or {},
        order=order(**order_fields),
        person=person if person is not None else Person("Ann", "ann@example.com", "+15550102030"),
    )


def body(channel: SmsChannel, context: EventContext) -> str:
    (draft,) = channel.drafts(context)
    text: str = draft.content["body"]
    return text


def test_the_channel_is_configured_only_with_an_account_a_token_and_a_sender() -> None:
    assert SmsChannel.configured(settings())
    for missing in ("twilio_account_sid", "twilio_auth_token", "twilio_from"):
        assert not SmsChannel.configured(settings(**{missing: None}))
        with pytest.raises(ValueError, match="Twilio"):
            SmsChannel(settings(**{missing: None}))


def test_by_default_only_a_fulfilled_order_is_texted() -> None:
    channel = SmsChannel(settings(notify_customer_sms=Settings().notify_customer_sms))

    assert [e for e in ORDER_EVENTS if channel.drafts(event(e.value))] == [
        EventType.ORDER_FULFILLED
    ]


def test_the_draft_is_to_the_customer_by_phone_with_the_text() -> None:
    context = event("order.fulfilled", data={"carrier": "DHL", "tracking_number": "T-1"})

    (draft,) = SmsChannel(settings()).drafts(context)

    assert draft.channel is ChannelName.SMS
    assert draft.audience is Audience.CUSTOMER
    assert draft.recipient == "+15550102030"
    assert draft.content == {
        "to": "+15550102030",
        "body": "Hi Ann, your order 2026-00042 is on its way (DHL, tracking T-1).",
    }


def test_no_phone_or_no_person_means_no_text() -> None:
    channel = SmsChannel(settings())

    assert channel.drafts(event("order.fulfilled", person=Person("Bo", "bo@example.com"))) == []
    no_one = EventContext(id=1, type="order.fulfilled", created=NOW, data={})
    assert channel.drafts(no_one) == []


@pytest.mark.parametrize(
    ("type", "data", "fields", "expected"),
    [
        ("order.created", {}, {}, "Hi Ann, thanks for your order 2026-00042 (123.45 EUR)."),
        ("order.processed", {}, {}, "Hi Ann, your order 2026-00042 is confirmed"),
        ("order.awaiting_payment", {}, {"paid": 23_45}, "your payment of 100.00 EUR."),
        ("order.paid", {}, {}, "we have received the payment for your order 2026-00042."),
        ("order.fulfilled", {"carrier": "DHL"}, {}, "your order 2026-00042 is on its way (DHL)."),
        ("order.fulfilled", {"tracking_number": "T-1"}, {}, "is on its way (tracking T-1)."),
        ("order.fulfilled", {}, {}, "Hi Ann, good news: your order 2026-00042 is ready."),
        ("order.delivered", {}, {}, "your order 2026-00042 has been delivered."),
        ("order.cancelled", {"refunded": 123_45}, {}, "123.45 EUR has been refunded to you."),
        ("order.cancelled", {"refunded": 0}, {}, "your order 2026-00042 has been cancelled."),
        ("order.returned", {"refunded": 12_00}, {}, "12.00 EUR has been refunded to you."),
    ],
)
def test_each_order_event_has_a_short_text_of_its_own(
    type: str, data: dict[str, Any], fields: dict[str, Any], expected: str
) -> None:
    text = body(SmsChannel(settings()), event(type, data=data, **fields))

    assert expected in text
    assert text == text.strip()
    assert "\n" not in text
    assert len(text) < 320


def test_every_built_in_template_stays_short_with_a_long_name_and_shipping_details() -> None:
    channel = SmsChannel(settings())
    person = Person("Maximiliane Alexandra von Hohenberg-Schwarzenfeld", "m@example.com", "+49301")
    data = {"carrier": "Deutsche Post DHL", "tracking_number": "JJD0099999999999", "refunded": 1}

    for type in ORDER_EVENTS:
        text = body(channel, event(type.value, person=person, data=data, total=99_999_99))
        assert len(text) < 320, (type, text)


def test_a_store_template_overrides_one_event_and_keeps_the_others(tmp_path: Path) -> None:
    (tmp_path / "sms").mkdir()
    (tmp_path / "sms" / "order.fulfilled.txt").write_text(
        "{{ name }}, your cake ({{ number }}) is ready for pick-up!\n", encoding="utf-8"
    )
    channel = SmsChannel(settings(templates_dir=str(tmp_path)))

    assert (
        body(channel, event("order.fulfilled"))
        == "Ann, your cake (2026-00042) is ready for pick-up!"
    )
    assert body(channel, event("order.delivered")).startswith("Hi Ann, your order 2026-00042")


def test_a_store_template_naming_something_unknown_fails_loudly(tmp_path: Path) -> None:
    (tmp_path / "sms").mkdir()
    (tmp_path / "sms" / "order.fulfilled.txt").write_text("Hi {{ nickname }}", encoding="utf-8")
    channel = SmsChannel(settings(templates_dir=str(tmp_path)))

    with pytest.raises(UndefinedError, match="nickname"):
        channel.drafts(event("order.fulfilled"))


def test_a_store_template_cannot_reach_into_python() -> None:
    channel = SmsChannel(settings())
    template = channel.env.from_string("{{ name.__class__.__mro__ }}")

    with pytest.raises(SecurityError):
        template.render(name="Ann")


def test_user_text_is_shown_as_typed_never_run_as_template_code() -> None:
    person = Person(
        "{{ 7 * 7 }}{% for x in range(3) %}x{% endfor %}", "a@example.com", "+15550102030"
    )

    text = body(SmsChannel(settings()), event("order.delivered", person=person))

    assert text.startswith("Hi {{ 7 * 7 }}{% for x in range(3) %}x{% endfor %}, your order")


def test_a_whatsapp_sender_prefixes_the_recipient() -> None:
    (draft,) = SmsChannel(settings(twilio_from="whatsapp:+15557654321")).drafts(
        event("order.fulfilled")
    )

    assert draft.recipient == "whatsapp:+15550102030"
    assert draft.content["to"] == "whatsapp:+15550102030"


def test_the_templates_ship_with_the_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["ordermill"]
    package = ROOT / "src" / "ordermill"
    shipped = sorted(BUILT_IN.iterdir())

    assert {path.stem for path in shipped} == {t.value for t in ORDER_EVENTS}
    for path in shipped:
        relative = path.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(relative, glob) for glob in globs), relative
