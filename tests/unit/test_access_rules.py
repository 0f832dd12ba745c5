"""Who may do what: the role table every route reads, and the login throttle policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ordermill.domain.access import (
    ACCOUNT_POLICY,
    CLIENT_POLICY,
    ROLE_PERMISSIONS,
    STAFF_ROLES,
    Permission,
    Role,
    ThrottlePolicy,
    allows,
    block_until,
)

P = Permission
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

# What the spec lists for each role, written out in full rather than derived.
EXPECTED = {
    Role.ANONYMOUS: {P.PUBLIC, P.CATALOG_READ},
    # Reorder is the customer's for their own orders only; the route checks ownership.
    Role.CUSTOMER: {P.PUBLIC, P.CATALOG_READ, P.SESSION, P.SELF_SERVICE, P.ORDERS_REORDER},
    Role.STAFF: {
        P.PUBLIC,
        P.CATALOG_READ,
        P.SESSION,
        P.CUSTOMERS_READ,
        P.CUSTOMERS_WRITE,
        P.PRODUCTS_WRITE,
        P.CARTS_MANAGE,
        P.ORDERS_READ,
        P.ORDERS_WRITE,
        P.ORDERS_REORDER,
    },
    Role.ADMIN: {
        P.PUBLIC,
        P.CATALOG_READ,
        P.SESSION,
        P.CUSTOMERS_READ,
        P.CUSTOMERS_WRITE,
        P.PRODUCTS_WRITE,
        P.CARTS_MANAGE,
        P.ORDERS_READ,
        P.ORDERS_WRITE,
        P.ORDERS_REORDER,
        P.CUSTOMERS_DELETE,
        P.BALANCE_ADJUST,
        P.USERS_MANAGE,
        P.WEBHOOKS_MANAGE,
    },
}


# ---------------------------------------------------------------- the role table


@pytest.mark.parametrize("role", list(Role))
def test_each_role_holds_exactly_the_permissions_the_spec_lists(role: Role) -> None:
    assert set(ROLE_PERMISSIONS[role]) == EXPECTED[role]


def test_every_role_has_an_entry_and_every_permission_belongs_to_some_role() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)
    granted = set().union(*ROLE_PERMISSIONS.values())
    assert granted == set(Permission)


def test_a_customer_can_do_everything_an_anonymous_visitor_can_and_more() -> None:
    anonymous = ROLE_PERMISSIONS[Role.ANONYMOUS]
    customer = ROLE_PERMISSIONS[Role.CUSTOMER]

    assert anonymous < customer
    assert customer - anonymous == {P.SESSION, P.SELF_SERVICE, P.ORDERS_REORDER}


def test_a_customer_touches_nothing_of_the_store_beyond_their_own_account() -> None:
    customer = ROLE_PERMISSIONS[Role.CUSTOMER]
    store_wide = {
        P.CUSTOMERS_READ,
        P.CUSTOMERS_WRITE,
        P.CUSTOMERS_DELETE,
        P.BALANCE_ADJUST,
        P.PRODUCTS_WRITE,
        P.CARTS_MANAGE,
        P.ORDERS_READ,
        P.ORDERS_WRITE,
        P.USERS_MANAGE,
        P.WEBHOOKS_MANAGE,
    }

    assert customer.isdisjoint(store_wide)


def test_anonymous_is_below_staff_and_staff_is_below_admin() -> None:
    assert ROLE_PERMISSIONS[Role.ANONYMOUS] < ROLE_PERMISSIONS[Role.STAFF]
    assert ROLE_PERMISSIONS[Role.STAFF] < ROLE_PERMISSIONS[Role.ADMIN]


def test_admin_adds_to_staff_only_customer_deletion_balances_users_and_webhooks() -> None:
    extra = ROLE_PERMISSIONS[Role.ADMIN] - ROLE_PERMISSIONS[Role.STAFF]

    assert extra == {P.CUSTOMERS_DELETE, P.BALANCE_ADJUST, P.USERS_MANAGE, P.WEBHOOKS_MANAGE}


@pytest.mark.parametrize("role", [Role.STAFF, Role.ADMIN])
def test_staff_and_admins_have_no_me_routes_because_they_are_no_customer(role: Role) -> None:
    assert P.SELF_SERVICE not in ROLE_PERMISSIONS[role]


def test_the_staff_roles_are_staff_and_admin() -> None:
    assert frozenset({Role.STAFF, Role.ADMIN}) == STAFF_ROLES


# ---------------------------------------------------------------- allows


@pytest.mark.parametrize(
    ("role", "permission", "allowed"),
    [
        (Role.ANONYMOUS, P.CATALOG_READ, True),
        (Role.ANONYMOUS, P.PUBLIC, True),
        (Role.ANONYMOUS, P.SESSION, False),
        (Role.ANONYMOUS, P.SELF_SERVICE, False),
        (Role.CUSTOMER, P.SELF_SERVICE, True),
        (Role.CUSTOMER, P.ORDERS_READ, False),
        (Role.CUSTOMER, P.CUSTOMERS_READ, False),
        (Role.STAFF, P.ORDERS_WRITE, True),
        (Role.STAFF, P.CUSTOMERS_WRITE, True),
        (Role.STAFF, P.CUSTOMERS_DELETE, False),
        (Role.STAFF, P.BALANCE_ADJUST, False),
        (Role.STAFF, P.USERS_MANAGE, False),
        (Role.ADMIN, P.CUSTOMERS_DELETE, True),
        (Role.ADMIN, P.BALANCE_ADJUST, True),
        (Role.ADMIN, P.USERS_MANAGE, True),
        (Role.ADMIN, P.SELF_SERVICE, False),
    ],
)
def test_allows_answers_from_the_role_table(
    role: Role, permission: Permission, allowed: bool
) -> None:
    assert allows(role, permission) is allowed


def test_allows_agrees_with_the_table_for_every_role_and_permission() -> None:
    for role in Role:
        for permission in Permission:
            assert allows(role, permission) is (permission in EXPECTED[role])


# ---------------------------------------------------------------- throttle policy


def test_an_account_is_blocked_from_its_fifth_failure_and_a_client_from_its_twentieth() -> None:
    assert ACCOUNT_POLICY.limit == 5
    assert CLIENT_POLICY.limit == 20
    assert block_until(ACCOUNT_POLICY, 4, NOW) is None
    assert block_until(ACCOUNT_POLICY, 5, NOW) is not None
    assert block_until(CLIENT_POLICY, 19, NOW) is None
    assert block_until(CLIENT_POLICY, 20, NOW) is not None


@pytest.mark.parametrize("failures", [0, 1, 4])
def test_failures_below_the_limit_block_nothing(failures: int) -> None:
    assert block_until(ACCOUNT_POLICY, failures, NOW) is None


@pytest.mark.parametrize(
    ("failures", "seconds"),
    [(5, 30), (6, 60), (7, 120), (8, 240), (9, 300), (10, 300), (50, 300)],
)
def test_an_account_block_starts_at_30_seconds_and_doubles_up_to_5_minutes(
    failures: int, seconds: int
) -> None:
    assert block_until(ACCOUNT_POLICY, failures, NOW) == NOW + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("failures", "seconds"),
    [(20, 60), (21, 120), (22, 240), (23, 480), (24, 900), (25, 900)],
)
def test_a_client_block_starts_at_a_minute_and_doubles_up_to_15_minutes(
    failures: int, seconds: int
) -> None:
    assert block_until(CLIENT_POLICY, failures, NOW) == NOW + timedelta(seconds=seconds)


def test_an_enormous_failure_count_is_still_blocked_for_the_cap_only() -> None:
    assert block_until(ACCOUNT_POLICY, 10_000_000, NOW) == NOW + ACCOUNT_POLICY.max_block
    assert block_until(CLIENT_POLICY, 10_000_000, NOW) == NOW + CLIENT_POLICY.max_block


def test_the_real_owner_is_never_locked_out_for_more_than_a_few_minutes() -> None:
    assert ACCOUNT_POLICY.max_block <= timedelta(minutes=5)
    assert CLIENT_POLICY.max_block <= timedelta(minutes=15)
    assert ACCOUNT_POLICY.first_block <= timedelta(minutes=1)


def test_a_block_is_counted_from_the_moment_given() -> None:
    later = NOW + timedelta(hours=3)

    assert block_until(ACCOUNT_POLICY, 5, later) == later + timedelta(seconds=30)


def test_a_custom_policy_follows_the_same_rule() -> None:
    policy = ThrottlePolicy(
        limit=2,
        window=timedelta(minutes=1),
        first_block=timedelta(seconds=10),
        max_block=timedelta(seconds=25),
    )

    assert block_until(policy, 1, NOW) is None
    assert block_until(policy, 2, NOW) == NOW + timedelta(seconds=10)
    assert block_until(policy, 3, NOW) == NOW + timedelta(seconds=20)
    assert block_until(policy, 4, NOW) == NOW + timedelta(seconds=25)
