"""Request and response bodies. Requests forbid unknown fields; money is a decimal string."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    PlainSerializer,
    field_validator,
)

from ordermill.domain.money import (
    MAX_AMOUNT_MINOR,
    MINOR_PER_MAJOR,
    format_amount,
    parse_amount,
)
from ordermill.domain.orders import Strategy
from ordermill.domain.phones import (
    ACCEPTS,
    E164_PATTERN,
    INPUT_PATTERN,
    MAX_INPUT_LENGTH,
    normalize_phone,
)
from ordermill.domain.workflow import Action, PaymentFlow
from ordermill.errors import Code, InvalidInput
from ordermill.services.products import MAX_DESCRIPTION_LENGTH

Money = Annotated[
    int,
    PlainSerializer(format_amount, return_type=str, when_used="json"),
    Field(json_schema_extra={"type": "string", "pattern": r"^-?\d+\.\d{2}$", "example": "12.50"}),
]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(max_length=2000)]
Quantity = Annotated[int, Field(ge=1, le=1_000_000, strict=True)]
Id = Annotated[int, Field(ge=1, le=2_147_483_647, strict=True)]


def amount_field(value: Any, field: str, *, allow_negative: bool = False) -> int:
    """Validate money input inside a schema, reporting the problem against ``field``."""
    try:
        return parse_amount(value, field=field, allow_negative=allow_negative)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None


# Tabs and line breaks are text; other control characters are not, and PostgreSQL
# can't store NUL at all.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# The same rule as a JSON Schema pattern, declared on every free text field of a request.
PLAIN_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def reject_unstorable(value: Any) -> Any:
    """Refuse what JSON columns and text can't hold, anywhere inside a value.

    Control characters (PostgreSQL can't store NUL), and NaN or Infinity, which
    Python's JSON parser accepts but JSON itself doesn't have.
    """
    if isinstance(value, str):
        if _CONTROL_CHARACTERS.search(value):
            raise ValueError("must not contain control characters")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
    elif isinstance(value, dict):
        for key, item in value.items():
            reject_unstorable(key)
            reject_unstorable(item)
    elif isinstance(value, list):
        for item in value:
            reject_unstorable(item)
    return value


def _declare_plain_text(schema: dict[str, Any]) -> None:
    """Give every free text property the pattern ``reject_unstorable`` enforces."""
    for prop in schema.get("properties", {}).values():
        for variant in (prop, *prop.get("anyOf", ())):
            if variant.get("type") == "string" and not variant.keys() & {
                "pattern",
                "format",
                "enum",
                "const",
            }:
                variant["pattern"] = PLAIN_TEXT


class RequestModel(BaseModel):
    """A request body: unknown fields and unstorable values are refused (400)."""

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra=_declare_plain_text
    )

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return reject_unstorable(value)


_MAX_MAJOR = MAX_AMOUNT_MINOR // MINOR_PER_MAJOR


def _amount_schema(*, signed: bool) -> dict[str, Any]:
    """Money in: a number, or a decimal string with at most 2 decimals, up to the maximum."""
    sign = "-?" if signed else ""
    digits = len(str(_MAX_MAJOR)) - 1  # 99999999999.99 is the largest with every digit free
    return {
        "anyOf": [
            {"type": "string", "pattern": rf"^{sign}\d{{1,{digits}}}(\.\d{{1,2}})?$"},
            {"type": "number", "minimum": -_MAX_MAJOR if signed else 0, "maximum": _MAX_MAJOR},
        ],
        "example": "12.50",
    }


AmountIn = Annotated[Any, Field(json_schema_extra=_amount_schema(signed=False))]
SignedAmountIn = Annotated[Any, Field(json_schema_extra=_amount_schema(signed=True))]


# ---------------------------------------------------------------- customers


def _phone(value: str) -> str:
    try:
        return normalize_phone(value)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None


PhoneIn = Annotated[
    str,
    AfterValidator(_phone),
    Field(
        description=f"For text messages: {ACCEPTS}; stored as +15550102030. null clears it.",
        json_schema_extra={
            "pattern": INPUT_PATTERN,
            "maxLength": MAX_INPUT_LENGTH,
            "examples": ["+1 (555) 010-2030"],
        },
    ),
]
PhoneOut = Annotated[
    str,
    Field(description="E.164", json_schema_extra={"pattern": E164_PATTERN}),
]


class CustomerCreate(RequestModel):
    """A new customer; the balance starts at 0 (admins adjust it with its own route)."""

    name: Name
    email: EmailStr
    phone: PhoneIn | None = None


class CustomerUpdate(RequestModel):
    """The fields to change; ``phone: null`` forgets the number."""

    name: Name | None = None
    email: EmailStr | None = None
    phone: PhoneIn | None = None


class CustomerPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    email: str
    phone: PhoneOut | None
    balance: Money
    created: datetime


# ---------------------------------------------------------------- products


Threshold = Annotated[
    int,
    Field(
        ge=0,
        le=2_000_000_000,
        strict=True,
        description="Staff hear of the product when its stock falls to this or below",
    ),
]


def _one_kind_of_line_break(value: Any) -> Any:
    """A form's ``\\r\\n`` is one line break, as stored: the length counts it once."""
    return value.replace("\r\n", "\n") if isinstance(value, str) else value


Description = Annotated[
    str,
    Field(
        max_length=MAX_DESCRIPTION_LENGTH,
        description="Plain text for customers; line breaks are kept (\\r\\n counts as one)",
    ),
    BeforeValidator(_one_kind_of_line_break),  # after Field: the limit stays a string's
]


class ProductCreate(RequestModel):
    name: Name
    sku: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    price: AmountIn
    stock: Annotated[int, Field(ge=0, le=2_000_000_000, strict=True)] = 0
    active: bool = True
    low_stock_threshold: Threshold | None = None
    description: Description | None = None

    @field_validator("price", mode="before")
    @classmethod
    def _price(cls, value: Any) -> int:
        return amount_field(value, "price")


class ProductUpdate(RequestModel):
    name: Name | None = None
    sku: (
        Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
        | None
    ) = None
    price: AmountIn | None = None
    stock: Annotated[int, Field(ge=0, le=2_000_000_000, strict=True)] | None = None
    active: bool | None = None
    low_stock_threshold: Threshold | None = Field(
        default=None, description="null: the store's default threshold again"
    )
    description: Description | None = Field(
        default=None, description="Plain text for customers; null or empty: no description"
    )

    @field_validator("price", mode="before")
    @classmethod
    def _price(cls, value: Any) -> int | None:
        return None if value is None else amount_field(value, "price")


class StockAdjust(RequestModel):
    """Units in or out, with why: a delivery, a count, a write-off."""

    delta: Annotated[
        int,
        Field(
            ge=-2_000_000_000,
            le=2_000_000_000,
            strict=True,
            description="Units added to the stock; negative to take them away (not 0)",
        ),
    ]
    reason: Annotated[
        str, Field(min_length=1, max_length=500, description="Why, for the audit log")
    ]

    @field_validator("delta")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("delta must not be zero")
        return value


class ProductPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    sku: str
    price: Money
    stock: int
    active: bool
    low_stock_threshold: int | None = Field(
        description="Staff hear of the product when its stock falls to this or below"
        " (null: the store's default, ORDERMILL_LOW_STOCK_DEFAULT)"
    )
    description: str | None = Field(
        description="Plain text for customers, line breaks as \\n (null: none)"
    )
    created: datetime


# ---------------------------------------------------------------- carts


class CartItemSet(RequestModel):
    quantity: Annotated[int, Field(ge=0, le=1_000_000, strict=True)]


class CartItemPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    product_id: int
    name: str
    sku: str
    unit_price: Money
    quantity: int
    line_total: Money
    available: int = Field(description="Units in stock right now")
    active: bool


class CartPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    customer_id: int
    items: list[CartItemPublic]
    total: Money


FlowField = Field(
    default=None, description="balance or advance; the store's ORDERMILL_PAYMENT_FLOW if left out"
)


class CheckoutRequest(RequestModel):
    shipping_address: Text | None = None
    note: Text | None = None
    process: bool = False
    strategy: Strategy = Strategy.ADJUST
    flow: PaymentFlow | None = FlowField


# ---------------------------------------------------------------- orders


class OrderItemIn(RequestModel):
    product_id: Id
    quantity: Quantity


# Store-specific data is kept with the order and sent back with every read of it.
EXTRA_MAX_DEPTH = 32
EXTRA_MAX_KEYS = 1000
EXTRA_MAX_BYTES = 16 * 1024


def bounded_extra(value: Any) -> Any:
    """Refuse store-specific data nested too deeply, with too many keys, or too large.

    Walks the value without recursion, so depth is checked before anything else
    (the serializer and the storable check) has to descend into it.
    """
    if not isinstance(value, dict):
        return value  # the field's type says what is wrong
    keys = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > EXTRA_MAX_DEPTH:
            raise ValueError(f"nested more than {EXTRA_MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            keys += len(item)
            if keys > EXTRA_MAX_KEYS:
                raise ValueError(f"has more than {EXTRA_MAX_KEYS} keys")
            children = list(item.values())
        else:
            children = item
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    if size > EXTRA_MAX_BYTES:
        raise ValueError(f"is {size} bytes as JSON; at most {EXTRA_MAX_BYTES} are kept")
    return value


class OrderCreate(RequestModel):
    customer_id: Id
    items: Annotated[list[OrderItemIn], Field(min_length=1, max_length=500)]
    shipping_address: Text | None = None
    note: Text | None = None
    extra: dict[str, Any] | None = Field(
        default=None,
        description=(
            f"Store-specific data: at most {EXTRA_MAX_DEPTH} levels deep, "
            f"{EXTRA_MAX_KEYS} keys and {EXTRA_MAX_BYTES} bytes as JSON"
        ),
    )
    process: bool = Field(default=False, description="Also process the order right away")
    strategy: Strategy = Strategy.ADJUST
    flow: PaymentFlow | None = FlowField

    @field_validator("extra", mode="before")
    @classmethod
    def _bounded_extra(cls, value: Any) -> Any:
        return bounded_extra(value)


class OrderProcess(RequestModel):
    """``process`` must be present; only ``true`` processes the order."""

    process: Any = Field(description="true processes the order; any other value leaves it as is")
    strategy: Strategy = Strategy.ADJUST
    flow: PaymentFlow | None = FlowField


class OrderLinePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    product_id: int | None = Field(description="null once the product left the catalog")
    name: str
    sku: str
    unit_price: Money
    quantity_ordered: int
    quantity: int = Field(description="What processing settled on (the ordered quantity before)")
    line_total: Money
    quantity_returned: int
    quantity_restocked: int = Field(description="Returned units put back in stock")
    extra: dict[str, Any] = Field(description="Store-specific data copied from the cart item")


class Adjustment(BaseModel):
    line_id: int
    product_id: int | None
    sku: str
    ordered: int
    processed: int


class OrderPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: str
    customer_id: int
    status: str
    strategy: str | None = Field(description="The shortage strategy used when processed")
    created: datetime
    processed: datetime | None
    currency: str
    shipping_address: str | None
    note: str | None
    extra: dict[str, Any]
    total: Money
    payment_flow: str | None = Field(description="balance or advance, once processed")
    paid: Money = Field(description="Payments applied to the order")
    refunded: Money = Field(description="Given back to the customer's balance")
    balance_due: Money = Field(description="Still to be paid")
    is_fully_paid: bool
    fulfilled: datetime | None = Field(description="When it was shipped")
    carrier: str | None
    tracking_number: str | None
    delivered: datetime | None
    cancelled: datetime | None
    cancel_reason: str | None
    lines: list[OrderLinePublic]
    adjustments: list[Adjustment] = Field(
        description="Lines whose processed quantity differs from the ordered one"
    )


# ---------------------------------------------------------------- workflow actions

Reason = Annotated[str, Field(min_length=1, max_length=500)]


class ProcessAction(RequestModel):
    strategy: Strategy = Strategy.ADJUST
    flow: PaymentFlow | None = FlowField


class PayAction(RequestModel):
    amount: AmountIn = Field(description="Money received (more than the balance due is credited)")
    method: Annotated[str, Field(min_length=1, max_length=40)] = Field(
        description="bank_transfer, cash, card…"
    )
    reference: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None, description="The payment's reference: the same one is recorded once"
    )

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> int:
        minor = amount_field(value, "amount")
        if minor <= 0:
            raise ValueError("amount must be greater than 0")
        return minor


class FulfillAction(RequestModel):
    carrier: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    tracking_number: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class CancelAction(RequestModel):
    reason: Reason


class ReturnLineIn(RequestModel):
    line_id: Id
    quantity: Quantity
    restock: bool | None = Field(default=None, description="Overrides the request's restock")


class ReturnAction(RequestModel):
    lines: Annotated[list[ReturnLineIn], Field(min_length=1, max_length=500)] | None = Field(
        default=None, description="Lines and quantities; leave out to return everything left"
    )
    restock: bool = Field(default=False, description="Put the returned units back in stock")
    reason: Reason | None = None


class CustomerCancel(RequestModel):
    reason: Reason | None = None


class ActionPublic(BaseModel):
    action: Action
    label: str
    allowed: bool
    reason: str | None = Field(description="Why not, as a stable code (null when allowed)")
    message: str | None = Field(description="Why not, for people")


class ActionsPublic(BaseModel):
    order_id: int
    status: str
    actions: list[ActionPublic]


class EventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    kind: str
    actor: str
    visibility: str
    detail: dict[str, Any]


class NoteCreate(RequestModel):
    text: Annotated[str, Field(min_length=1, max_length=2000)]
    visibility: Annotated[str, Field(pattern="^(staff|customer)$")] = Field(
        default="staff", description="staff (the default) or customer (shown on their order)"
    )


class LedgerEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    kind: str = Field(description="charge, refund, credit or adjustment")
    amount: Money = Field(description="Signed: a charge is negative")
    balance_after: Money
    order_id: int | None
    reason: str | None
    actor: str


class ReorderAdded(BaseModel):
    product_id: int
    sku: str
    quantity: int
    unit_price: Money = Field(description="Today's price")
    price_then: Money = Field(description="The price on the original order")
    available: int


class ReorderUnavailable(BaseModel):
    line_id: int
    product_id: int | None
    name: str
    sku: str
    reason: str = Field(description="product_removed or product_inactive")


class ReorderPublic(BaseModel):
    cart: CartPublic
    added: list[ReorderAdded]
    unavailable: list[ReorderUnavailable]


class ProblemField(BaseModel):
    """One wrong input of a 400: which field, and what is wrong with it."""

    field: str = Field(description="The field (a dotted path into the body), query or header")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, with the stable ``code`` to act on."""

    type: str = Field(description="/problems/{code}")
    title: str
    status: int
    detail: str = Field(description="What went wrong, for people")
    code: Code = Field(description="Stable: what went wrong, for programs")
    errors: list[ProblemField] | None = Field(default=None, description="400: every wrong input")
    short_lines: list[dict[str, Any]] | None = Field(
        default=None, description="insufficient_stock: the lines that are short"
    )
