"""The error catalogue: every error code ordermill answers with, in one table.

An error has a *kind* (the class: ``NotFound``, ``Conflict``, …) and a stable
snake_case *code* (``Code``). ``KINDS`` gives each kind its HTTP status, title and
CLI exit code; ``CATALOGUE`` gives each code its kind and what it means. The API's
problem+json answers, the OpenAPI document, the CLI's ``error[code]: message`` and
exit code, and the pages all read these two tables. Nothing here knows HTTP beyond
the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Code(StrEnum):
    """Every error code, as clients and scripts see it."""

    # Input
    VALIDATION_ERROR = "validation_error"
    INVALID_JSON = "invalid_json"
    INVALID_CURSOR = "invalid_cursor"
    INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key"
    OUTPUT_NOT_WRITABLE = "output_not_writable"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    WEBHOOK_URL_NOT_ALLOWED = "webhook_url_not_allowed"
    INVALID_RESET_TOKEN = "invalid_reset_token"
    # Who is calling
    NOT_AUTHENTICATED = "not_authenticated"
    INVALID_TOKEN = "invalid_token"
    INVALID_CREDENTIALS = "invalid_credentials"
    FORBIDDEN = "forbidden"
    SIGNUP_DISABLED = "signup_disabled"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    # Not found
    NOT_FOUND = "not_found"
    CUSTOMER_NOT_FOUND = "customer_not_found"
    PRODUCT_NOT_FOUND = "product_not_found"
    ORDER_NOT_FOUND = "order_not_found"
    USER_NOT_FOUND = "user_not_found"
    TOKEN_NOT_FOUND = "token_not_found"
    WEBHOOK_NOT_FOUND = "webhook_not_found"
    DELIVERY_NOT_FOUND = "delivery_not_found"
    # Conflicts with the current state
    CONFLICT = "conflict"
    EMAIL_TAKEN = "email_taken"
    SKU_TAKEN = "sku_taken"
    LAST_ADMIN = "last_admin"
    ROLE_NOT_CHANGEABLE = "role_not_changeable"
    CART_EMPTY = "cart_empty"
    CATALOG_CHANGED = "catalog_changed"
    PRODUCT_INACTIVE = "product_inactive"
    INSUFFICIENT_STOCK = "insufficient_stock"
    STOCK_BELOW_ZERO = "stock_below_zero"
    ORDER_NOT_DELETABLE = "order_not_deletable"
    CUSTOMER_HAS_ORDERS = "customer_has_orders"
    CUSTOMER_HAS_LEDGER = "customer_has_ledger"
    RETURN_EXCEEDS_QUANTITY = "return_exceeds_quantity"
    VETOED = "vetoed"
    IDEMPOTENCY_KEY_IN_USE = "idempotency_key_in_use"
    DELIVERY_NOT_FAILED = "delivery_not_failed"
    # The workflow's refusal reasons (``domain.workflow``)
    ALREADY_PROCESSED = "already_processed"
    ALREADY_PAID = "already_paid"
    ALREADY_FULFILLED = "already_fulfilled"
    ALREADY_DELIVERED = "already_delivered"
    ALREADY_CANCELLED = "already_cancelled"
    ALREADY_RETURNED = "already_returned"
    NOT_PROCESSED = "not_processed"
    NOT_PAID = "not_paid"
    NOT_FULFILLED = "not_fulfilled"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    NOTHING_TO_RETURN = "nothing_to_return"
    NOT_CANCELLABLE_BY_CUSTOMER = "not_cancellable_by_customer"
    # Requests
    PRECONDITION_FAILED = "precondition_failed"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    # The store's own side
    DATABASE_UNAVAILABLE = "database_unavailable"
    DATABASE_NOT_MIGRATED = "database_not_migrated"
    DATABASE_UNREADABLE = "database_unreadable"
    UNSUPPORTED_DATABASE = "unsupported_database"
    INVALID_SETTING = "invalid_setting"
    GRAPHVIZ_MISSING = "graphviz_missing"
    INTERNAL_ERROR = "internal_error"


class OrdermillError(Exception):
    """Base of every expected error; never a 500 unless its kind says the store is at fault."""

    code: str = Code.INTERNAL_ERROR

    def __init__(self, message: str, *, code: Code | str | None = None, **detail: Any) -> None:
        # ordermill's own code is a ``Code``; a plugin may raise a code of its own (a str).
        super().__init__(message)
        self.message = message
        if code is not None:
            known = catalogued(code)
            kind = known.kind if known else OrdermillError
            if not isinstance(self, kind):
                raise TypeError(
                    f"error code {code} is a {kind.__name__}, not a {type(self).__name__}"
                )
            self.code = code
        self.detail: dict[str, Any] = detail

    @property
    def hint(self) -> str | None:
        """What to do about it, where the catalogue knows."""
        known = catalogued(self.code)
        return known.hint if known else None


class InvalidInput(OrdermillError):
    """The request itself is wrong (a field, a value, a cursor)."""

    code = Code.VALIDATION_ERROR


class Unauthenticated(OrdermillError):
    """No valid credentials (answered with ``WWW-Authenticate: Bearer``)."""

    code = Code.NOT_AUTHENTICATED


class Forbidden(OrdermillError):
    """Valid credentials without the permission the request needs."""

    code = Code.FORBIDDEN


class NotFound(OrdermillError):
    """The addressed resource does not exist."""

    code = Code.NOT_FOUND


class MethodNotAllowed(OrdermillError):
    """The resource exists but not with this HTTP method."""

    code = Code.METHOD_NOT_ALLOWED


class NotAcceptable(OrdermillError):
    """The client accepts no media type the resource has."""

    code = Code.NOT_ACCEPTABLE


class Conflict(OrdermillError):
    """The request is valid but conflicts with the current state."""

    code = Code.CONFLICT


class PreconditionFailed(OrdermillError):
    """An ``If-Match`` precondition no longer holds."""

    code = Code.PRECONDITION_FAILED


class PayloadTooLarge(OrdermillError):
    """The request body is larger than the store accepts."""

    code = Code.PAYLOAD_TOO_LARGE


class UnsupportedMediaType(OrdermillError):
    """The body's content type or encoding can't be read."""

    code = Code.UNSUPPORTED_MEDIA_TYPE


class IdempotencyKeyReused(OrdermillError):
    """The same idempotency key came back with a different request."""

    code = Code.IDEMPOTENCY_KEY_REUSED


class TooManyAttempts(OrdermillError):
    """Throttled; ``detail["retry_after"]`` says how many seconds to wait."""

    code = Code.TOO_MANY_ATTEMPTS


class Misconfigured(OrdermillError):
    """The store's own settings or database are not usable as they are."""

    code = Code.INVALID_SETTING


class Unavailable(OrdermillError):
    """A dependency (the database) can't be reached now; retrying later may work."""

    code = Code.DATABASE_UNAVAILABLE


class InternalError(OrdermillError):
    """A bug: never raised on purpose, used to answer unexpected exceptions."""

    code = Code.INTERNAL_ERROR


@dataclass(frozen=True, slots=True)
class KindInfo:
    """How one kind of error is answered: HTTP status and title, CLI exit code."""

    status: int
    title: str
    exit_code: int
    description: str  # the OpenAPI response description for the status


# CLI exit codes: 2 bad input (as for a usage error), 3 not found, 4 refused by the
# current state, 5 not allowed, 6 the database can't be reached, 7 the store's set-up.
KINDS: dict[type[OrdermillError], KindInfo] = {
    InvalidInput: KindInfo(400, "Bad Request", 2, "Invalid input (problem+json naming the fields)"),
    Unauthenticated: KindInfo(
        401, "Unauthorized", 5, "No valid bearer token (WWW-Authenticate: Bearer)"
    ),
    Forbidden: KindInfo(403, "Forbidden", 5, "Your role may not do this"),
    NotFound: KindInfo(404, "Not Found", 3, "Not found"),
    MethodNotAllowed: KindInfo(405, "Method Not Allowed", 2, "Method not allowed (see Allow)"),
    NotAcceptable: KindInfo(406, "Not Acceptable", 2, "No acceptable media type"),
    Conflict: KindInfo(409, "Conflict", 4, "Conflict with the current state"),
    PreconditionFailed: KindInfo(412, "Precondition Failed", 4, "If-Match no longer matches"),
    PayloadTooLarge: KindInfo(413, "Content Too Large", 2, "The request body is too large"),
    UnsupportedMediaType: KindInfo(
        415, "Unsupported Media Type", 2, "The body's content type or encoding is not supported"
    ),
    IdempotencyKeyReused: KindInfo(
        422, "Unprocessable Content", 4, "Idempotency-Key reused with a different request"
    ),
    TooManyAttempts: KindInfo(429, "Too Many Requests", 4, "Too many attempts (Retry-After)"),
    InternalError: KindInfo(500, "Internal Server Error", 1, "A bug on the store's side"),
    Misconfigured: KindInfo(
        503, "Service Unavailable", 7, "The store is not set up to answer (Retry-After)"
    ),
    Unavailable: KindInfo(
        503, "Service Unavailable", 6, "A dependency is unavailable; retry later (Retry-After)"
    ),
}


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """One code: its kind, what it means to a person, and what to do about it."""

    kind: type[OrdermillError]
    meaning: str
    hint: str | None = None


_C = Code
CATALOGUE: dict[Code, CodeInfo] = {
    _C.VALIDATION_ERROR: CodeInfo(InvalidInput, "A field, value or body is wrong."),
    _C.INVALID_JSON: CodeInfo(InvalidInput, "The request body is not valid JSON."),
    _C.INVALID_CURSOR: CodeInfo(InvalidInput, "A list cursor was changed or is too old."),
    _C.INVALID_IDEMPOTENCY_KEY: CodeInfo(
        InvalidInput, "The Idempotency-Key header is empty, too long or has other characters."
    ),
    _C.OUTPUT_NOT_WRITABLE: CodeInfo(
        InvalidInput, "The output file can't be written.", hint="check the path and permissions"
    ),
    _C.PAYLOAD_TOO_LARGE: CodeInfo(PayloadTooLarge, "The request body is too large."),
    _C.UNSUPPORTED_MEDIA_TYPE: CodeInfo(
        UnsupportedMediaType, "The body's content type or encoding is not supported."
    ),
    _C.METHOD_NOT_ALLOWED: CodeInfo(MethodNotAllowed, "The resource has no such method."),
    _C.NOT_ACCEPTABLE: CodeInfo(NotAcceptable, "No acceptable media type."),
    _C.WEBHOOK_URL_NOT_ALLOWED: CodeInfo(
        InvalidInput,
        "The webhook URL is not http(s), or leads to a loopback, private or link-local address.",
        hint="set ORDERMILL_WEBHOOK_ALLOW_PRIVATE=true for receivers on your own network",
    ),
    _C.INVALID_RESET_TOKEN: CodeInfo(
        InvalidInput, "The password reset link is unknown, used or expired; ask for a new one."
    ),
    _C.NOT_AUTHENTICATED: CodeInfo(Unauthenticated, "The request carries no credentials."),
    _C.INVALID_TOKEN: CodeInfo(
        Unauthenticated, "The token is unknown, expired or revoked, or its user is disabled."
    ),
    _C.INVALID_CREDENTIALS: CodeInfo(Unauthenticated, "The email or password is wrong."),
    _C.FORBIDDEN: CodeInfo(Forbidden, "The caller's role may not do this."),
    _C.SIGNUP_DISABLED: CodeInfo(Forbidden, "The store takes no sign-ups."),
    _C.TOO_MANY_ATTEMPTS: CodeInfo(TooManyAttempts, "Too many failed logins; wait and retry."),
    _C.NOT_FOUND: CodeInfo(NotFound, "No such resource or route."),
    _C.CUSTOMER_NOT_FOUND: CodeInfo(NotFound, "No customer has this id."),
    _C.PRODUCT_NOT_FOUND: CodeInfo(NotFound, "No product has this id."),
    _C.ORDER_NOT_FOUND: CodeInfo(
        NotFound,
        "No order has this id or number.",
        hint="orders are named by id (42) or number (2026-00042)",
    ),
    _C.USER_NOT_FOUND: CodeInfo(NotFound, "No user has this id or email."),
    _C.TOKEN_NOT_FOUND: CodeInfo(NotFound, "No token has this id."),
    _C.WEBHOOK_NOT_FOUND: CodeInfo(NotFound, "No webhook has this id."),
    _C.DELIVERY_NOT_FOUND: CodeInfo(NotFound, "No delivery (of a message) has this id."),
    _C.CONFLICT: CodeInfo(Conflict, "The request conflicts with the current state."),
    _C.EMAIL_TAKEN: CodeInfo(Conflict, "The email is already used."),
    _C.SKU_TAKEN: CodeInfo(Conflict, "The SKU is already used."),
    _C.LAST_ADMIN: CodeInfo(Conflict, "The last enabled admin can't be disabled or demoted."),
    _C.ROLE_NOT_CHANGEABLE: CodeInfo(Conflict, "A customer login can't change role."),
    _C.CART_EMPTY: CodeInfo(Conflict, "The cart is empty."),
    _C.CATALOG_CHANGED: CodeInfo(Conflict, "A product changed while the order was placed."),
    _C.PRODUCT_INACTIVE: CodeInfo(Conflict, "The product is archived and not sold."),
    _C.INSUFFICIENT_STOCK: CodeInfo(Conflict, "Not enough stock (see short_lines)."),
    _C.STOCK_BELOW_ZERO: CodeInfo(Conflict, "A stock adjustment would take the stock below zero."),
    _C.ORDER_NOT_DELETABLE: CodeInfo(Conflict, "Only a pending order can be deleted."),
    _C.CUSTOMER_HAS_ORDERS: CodeInfo(Conflict, "The customer has orders."),
    _C.CUSTOMER_HAS_LEDGER: CodeInfo(Conflict, "The customer has balance history."),
    _C.RETURN_EXCEEDS_QUANTITY: CodeInfo(
        Conflict, "More units returned than were shipped and not returned."
    ),
    _C.VETOED: CodeInfo(Conflict, "A plugin refused the change."),
    _C.IDEMPOTENCY_KEY_IN_USE: CodeInfo(
        Conflict, "The first request with this Idempotency-Key is still running."
    ),
    _C.ALREADY_PROCESSED: CodeInfo(Conflict, "The order has already been processed."),
    _C.ALREADY_PAID: CodeInfo(Conflict, "The order is already paid."),
    _C.ALREADY_FULFILLED: CodeInfo(Conflict, "The order has been shipped; return it instead."),
    _C.ALREADY_DELIVERED: CodeInfo(Conflict, "The order has been delivered; return it instead."),
    _C.ALREADY_CANCELLED: CodeInfo(Conflict, "The order is cancelled."),
    _C.ALREADY_RETURNED: CodeInfo(Conflict, "The order has been returned."),
    _C.NOT_PROCESSED: CodeInfo(Conflict, "The order has not been processed yet."),
    _C.NOT_PAID: CodeInfo(Conflict, "The order is waiting for payment."),
    _C.NOT_FULFILLED: CodeInfo(Conflict, "The order has not been shipped yet."),
    _C.INSUFFICIENT_BALANCE: CodeInfo(
        Conflict, "The customer's balance must be positive to charge it."
    ),
    _C.NOTHING_TO_RETURN: CodeInfo(Conflict, "Every unit of the order has been returned already."),
    _C.NOT_CANCELLABLE_BY_CUSTOMER: CodeInfo(
        Conflict, "The order is being prepared; ask the store to cancel it."
    ),
    _C.DELIVERY_NOT_FAILED: CodeInfo(Conflict, "Only a failed delivery can be retried."),
    _C.PRECONDITION_FAILED: CodeInfo(PreconditionFailed, "If-Match no longer matches."),
    _C.IDEMPOTENCY_KEY_REUSED: CodeInfo(
        IdempotencyKeyReused, "The Idempotency-Key came with a different request before."
    ),
    _C.DATABASE_UNAVAILABLE: CodeInfo(
        Unavailable,
        "The database can't be reached.",
        hint="check that the database server is running and ORDERMILL_DATABASE_URL",
    ),
    _C.DATABASE_NOT_MIGRATED: CodeInfo(
        Misconfigured,
        "The database has no ordermill schema, or an older one.",
        hint="run `ordermill db upgrade`",
    ),
    _C.DATABASE_UNREADABLE: CodeInfo(
        Misconfigured,
        "The SQLite database file can't be opened or is not a database.",
        hint="point ORDERMILL_DATABASE_URL at an ordermill database file you may read and write",
    ),
    _C.UNSUPPORTED_DATABASE: CodeInfo(
        Misconfigured,
        "ORDERMILL_DATABASE_URL names a database ordermill doesn't run on.",
        hint="use sqlite:///PATH or postgresql://USER:PASSWORD@HOST:5432/DB",
    ),
    _C.INVALID_SETTING: CodeInfo(Misconfigured, "An ORDERMILL_* setting has a wrong value."),
    _C.GRAPHVIZ_MISSING: CodeInfo(
        Misconfigured,
        "Graphviz's `dot` program is missing or failed.",
        hint="install Graphviz (Debian/Ubuntu: apt install graphviz) or use --format dot",
    ),
    _C.INTERNAL_ERROR: CodeInfo(InternalError, "Something went wrong on the store's side."),
}


def catalogued(code: str) -> CodeInfo | None:
    """The catalogue's row for ``code``; None for a code a plugin made up."""
    try:
        return CATALOGUE[Code(code)]
    except ValueError:
        return None


def kind_of(error: OrdermillError) -> KindInfo:
    """The kind's row for ``error`` (its nearest class in ``KINDS``)."""
    for cls in type(error).__mro__:
        if cls in KINDS:
            return KINDS[cls]
    return KINDS[InternalError]


def error(code: Code, message: str | None = None, **detail: Any) -> OrdermillError:
    """An error of ``code``'s kind, with the catalogue's meaning unless a message is given."""
    info = CATALOGUE[code]
    return info.kind(message or info.meaning, code=code, **detail)


def customer_not_found(customer_id: int) -> NotFound:
    return NotFound(f"Customer {customer_id} does not exist.", code=Code.CUSTOMER_NOT_FOUND)


def product_not_found(product_id: int) -> NotFound:
    return NotFound(f"Product {product_id} does not exist.", code=Code.PRODUCT_NOT_FOUND)


def order_not_found(ref: int | str) -> NotFound:
    return NotFound(f"Order {ref} does not exist.", code=Code.ORDER_NOT_FOUND)
