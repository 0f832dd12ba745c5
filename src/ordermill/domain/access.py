"""Who may do what: roles, permissions, and the login throttle policy.

``ROLE_PERMISSIONS`` is the one table of access in ordermill: every API route
declares the permission it needs, and the authorization tests read this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Role(StrEnum):
    ANONYMOUS = "anonymous"
    CUSTOMER = "customer"
    STAFF = "staff"
    ADMIN = "admin"


STAFF_ROLES = frozenset({Role.STAFF, Role.ADMIN})


class Permission(StrEnum):
    PUBLIC = "public"  # health, sign-up, login
    CATALOG_READ = "catalog:read"  # browse products
    SESSION = "session"  # whoami, logout: any signed-in user
    SELF_SERVICE = "self-service"  # /api/me…: a customer's own profile, cart, checkout, orders
    CUSTOMERS_READ = "customers:read"
    CUSTOMERS_WRITE = "customers:write"  # create, update
    CUSTOMERS_DELETE = "customers:delete"
    BALANCE_ADJUST = "balance:adjust"
    PRODUCTS_WRITE = "products:write"
    CARTS_MANAGE = "carts:manage"  # any customer's cart, on their behalf
    ORDERS_READ = "orders:read"
    ORDERS_WRITE = "orders:write"  # create, delete pending, workflow actions, notes
    ORDERS_REORDER = "orders:reorder"  # put an order back in the cart (customers: their own)
    USERS_MANAGE = "users:manage"  # users, API tokens, the audit log
    WEBHOOKS_MANAGE = "webhooks:manage"  # webhook endpoints, their secrets and deliveries


_EVERYONE = {Permission.PUBLIC, Permission.CATALOG_READ}
_STAFF = _EVERYONE | {
    Permission.SESSION,
    Permission.CUSTOMERS_READ,
    Permission.CUSTOMERS_WRITE,
    Permission.PRODUCTS_WRITE,
    Permission.CARTS_MANAGE,
    Permission.ORDERS_READ,
    Permission.ORDERS_WRITE,
    Permission.ORDERS_REORDER,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ANONYMOUS: frozenset(_EVERYONE),
    Role.CUSTOMER: frozenset(
        _EVERYONE | {Permission.SESSION, Permission.SELF_SERVICE, Permission.ORDERS_REORDER}
    ),
    Role.STAFF: frozenset(_STAFF),
    Role.ADMIN: frozenset(
        _STAFF
        | {
            Permission.CUSTOMERS_DELETE,
            Permission.BALANCE_ADJUST,
            Permission.USERS_MANAGE,
            Permission.WEBHOOKS_MANAGE,
        }
    ),
}


def allows(role: Role, permission: Permission) -> bool:
    """Whether ``role`` holds ``permission``."""
    return permission in ROLE_PERMISSIONS[role]


# ---------------------------------------------------------------- login throttle


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """Failures allowed per window, then a short block that doubles up to a cap.

    The cap is short on purpose: a guesser is slowed to a crawl, while the real
    owner who mistyped is back within minutes.
    """

    limit: int
    window: timedelta
    first_block: timedelta
    max_block: timedelta


ACCOUNT_POLICY = ThrottlePolicy(
    limit=5,
    window=timedelta(minutes=15),
    first_block=timedelta(seconds=30),
    max_block=timedelta(minutes=5),
)
CLIENT_POLICY = ThrottlePolicy(
    limit=20,
    window=timedelta(minutes=15),
    first_block=timedelta(seconds=60),
    max_block=timedelta(minutes=15),
)


def block_until(policy: ThrottlePolicy, failures: int, now: datetime) -> datetime | None:
    """When a key with ``failures`` failures in the current window may try again."""
    if failures < policy.limit:
        return None
    extra = min(failures - policy.limit, 16)
    block: timedelta = min(policy.first_block * (2**extra), policy.max_block)
    return now + block
