"""Domain errors: one stable ``code`` each, a human message and structured detail.

The web layer maps the *kind* (the class) to an HTTP status in one place
(``ordermill.web.problems``); the CLI prints the message. Nothing here knows HTTP.
"""

from __future__ import annotations

from typing import Any


class OrdermillError(Exception):
    """Base of every expected error; never a 500."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.detail: dict[str, Any] = detail


class InvalidInput(OrdermillError):
    """The request itself is wrong (a field, a value, a cursor)."""

    code = "validation_error"


class NotFound(OrdermillError):
    """The addressed resource does not exist."""

    code = "not_found"


class Conflict(OrdermillError):
    """The request is valid but conflicts with the current state."""

    code = "conflict"


class PreconditionFailed(OrdermillError):
    """An ``If-Match`` precondition no longer holds."""

    code = "precondition_failed"


class IdempotencyKeyReused(OrdermillError):
    """The same idempotency key came back with a different request."""

    code = "idempotency_key_reused"


class Unauthenticated(OrdermillError):
    """No valid credentials (answered with ``WWW-Authenticate: Bearer``)."""

    code = "not_authenticated"


class Forbidden(OrdermillError):
    """Valid credentials without the permission the request needs."""

    code = "forbidden"


class TooManyAttempts(OrdermillError):
    """Throttled; ``detail["retry_after"]`` says how many seconds to wait."""

    code = "too_many_attempts"


def customer_not_found(customer_id: int) -> NotFound:
    return NotFound(f"Customer {customer_id} does not exist.", code="customer_not_found")


def product_not_found(product_id: int) -> NotFound:
    return NotFound(f"Product {product_id} does not exist.", code="product_not_found")


def order_not_found(ref: int | str) -> NotFound:
    return NotFound(f"Order {ref} does not exist.", code="order_not_found")
