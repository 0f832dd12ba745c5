"""Accounts on a real database: passwords, tokens, admins, sign-up and the login throttle."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from ordermill.db import Database
from ordermill.domain.access import ACCOUNT_POLICY, CLIENT_POLICY, Role, ThrottlePolicy
from ordermill.errors import (
    Conflict,
    InvalidInput,
    OrdermillError,
    TooManyAttempts,
    Unauthenticated,
)
from ordermill.models import ApiToken, Customer, User
from ordermill.services import accounts
from tests import factories
from tests.factories import PASSWORD

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


def create_user(
    database: Database,
    email: str,
    role: Role = Role.STAFF,
    *,
    password: str = PASSWORD,
    customer_id: int | None = None,
) -> int:
    with database.write() as session:
        return accounts.create_user(
            session, email=email, password=password, role=role, customer_id=customer_id
        ).id


@dataclass(frozen=True)
class LoggedIn:
    id: int
    role: str
    customer_id: int | None
    disabled: bool


def login(database: Database, email: str, password: str) -> LoggedIn:
    with database.read() as session:
        user = accounts.authenticate(session, email=email, password=password)
        return LoggedIn(user.id, user.role, user.customer_id, user.disabled)


def issue(
    database: Database,
    user_id: int,
    *,
    kind: str = accounts.SESSION,
    ttl: timedelta | None = timedelta(hours=1),
    now: datetime | None = None,
) -> accounts.IssuedToken:
    with database.write() as session:
        name = "integration" if kind == accounts.API else None
        return accounts.issue_token(
            session, accounts.get_user(session, user_id), kind=kind, ttl=ttl, name=name, now=now
        )


def resolve(database: Database, token: str, now: datetime | None = None) -> accounts.Principal:
    with database.read() as session:
        return accounts.resolve_token(session, token, now=now)


def refused_token(database: Database, token: str, now: datetime | None = None) -> str:
    """The error code resolving ``token`` gives (the test fails if it is accepted)."""
    with pytest.raises(Unauthenticated) as caught:
        resolve(database, token, now)
    return caught.value.code


def disable(database: Database, user_id: int, disabled: bool = True) -> None:
    with database.write() as session:
        accounts.set_disabled(session, accounts.get_user(session, user_id), disabled)


def dump_table(database: Database, table: str) -> str:
    """Every value of every row of ``table`` as one string, to search for leaked secrets."""
    with database.read() as session:
        rows = session.execute(text(f"SELECT * FROM {table}")).all()
    return "\n".join(repr(tuple(row)) for row in rows)


def user_count(database: Database) -> int:
    with database.read() as session:
        return int(session.scalar(select(func.count()).select_from(User)) or 0)


# ---------------------------------------------------------------- passwords and logins


def test_a_password_is_stored_as_an_argon2_hash_and_never_in_plaintext(
    database: Database,
) -> None:
    user_id = create_user(database, "ada@example.com", password="ada's long secret")

    with database.read() as session:
        stored = accounts.get_user(session, user_id).password_hash
    assert stored.startswith("$argon2id$")
    assert "ada's long secret" not in dump_table(database, "users")


def test_the_right_email_and_password_log_the_user_in(database: Database) -> None:
    user_id = factories.user(database, email="ada@example.com")

    assert login(database, "ada@example.com", PASSWORD).id == user_id


def test_the_email_is_matched_whatever_its_case_and_surrounding_spaces(
    database: Database,
) -> None:
    user_id = create_user(database, "  Ada@Example.COM ")

    assert login(database, "ADA@example.com", PASSWORD).id == user_id
    with database.read() as session:
        assert accounts.get_user(session, user_id).email == "ada@example.com"


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("ada@example.com", "not the password"),
        ("nobody@example.com", PASSWORD),
        ("not-an-email", PASSWORD),
        ("ada@example.com", ""),
    ],
)
def test_a_wrong_email_or_password_give_the_same_invalid_credentials_error(
    database: Database, email: str, password: str
) -> None:
    factories.user(database, email="ada@example.com")

    with pytest.raises(Unauthenticated) as caught:
        login(database, email, password)

    assert caught.value.code == "invalid_credentials"
    assert caught.value.message == accounts.invalid_credentials().message


def test_a_disabled_user_cannot_log_in_even_with_the_right_password(database: Database) -> None:
    user_id = factories.user(database, email="gone@example.com", disabled=True)

    with pytest.raises(Unauthenticated) as caught:
        login(database, "gone@example.com", PASSWORD)

    assert caught.value.code == "invalid_credentials"
    with pytest.raises(Unauthenticated), database.write() as session:
        accounts.open_session(session, user_id, ttl=timedelta(hours=1))


@pytest.mark.parametrize("password", ["short", "123456789", "x" * 1025])
def test_a_password_outside_10_to_1024_characters_is_refused(
    database: Database, password: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        create_user(database, "ada@example.com", password=password)

    assert caught.value.detail["field"] == "password"
    assert user_count(database) == 0


def test_a_second_login_with_the_same_email_is_refused(database: Database) -> None:
    factories.user(database, email="ada@example.com")

    with pytest.raises(Conflict) as caught:
        create_user(database, "ADA@example.com", role=Role.ADMIN)

    assert caught.value.code == "email_taken"
    assert user_count(database) == 1


@pytest.mark.parametrize(
    ("role", "with_customer"),
    [
        (Role.CUSTOMER, False),  # a customer login must point at its customer
        (Role.STAFF, True),  # staff stand alone
        (Role.ADMIN, True),
        (Role.ANONYMOUS, False),
    ],
)
def test_only_customer_logins_belong_to_a_customer_and_nobody_is_anonymous(
    database: Database, role: Role, with_customer: bool
) -> None:
    customer_id = factories.customer(database) if with_customer else None

    with pytest.raises(InvalidInput):
        create_user(database, "x@example.com", role=role, customer_id=customer_id)

    assert user_count(database) == 0


def test_opening_a_session_records_the_login_time_and_issues_an_expiring_token(
    database: Database,
) -> None:
    user_id = factories.user(database)

    with database.write() as session:
        issued = accounts.open_session(session, user_id, ttl=timedelta(minutes=30), now=T0)

    assert issued.expires == T0 + timedelta(minutes=30)
    with database.read() as session:
        assert accounts.get_user(session, user_id).last_login == T0
        assert session.get(ApiToken, issued.token_id).kind == accounts.SESSION  # type: ignore[union-attr]


# ---------------------------------------------------------------- tokens


def test_a_token_is_stored_only_as_its_sha256_digest(database: Database) -> None:
    user_id = factories.user(database)

    issued = issue(database, user_id, kind=accounts.API, ttl=None)

    stored = dump_table(database, "api_tokens")
    assert issued.token not in stored
    assert issued.token[3:] not in stored  # not even without its prefix
    with database.read() as session:
        row = session.get(ApiToken, issued.token_id)
        assert row is not None
        assert row.token_hash == hashlib.sha256(issued.token.encode()).hexdigest()


def test_every_token_is_different(database: Database) -> None:
    user_id = factories.user(database)

    tokens = {issue(database, user_id).token for _ in range(5)}

    assert len(tokens) == 5


def test_a_token_resolves_to_its_user_role_and_token_id(database: Database) -> None:
    customer_id, user_id = factories.customer_login(database)
    issued = issue(database, user_id)

    principal = resolve(database, issued.token)

    assert principal.role is Role.CUSTOMER
    assert principal.user_id == user_id
    assert principal.token_id == issued.token_id
    assert principal.customer_id == customer_id
    with database.read() as session:
        assert principal.email == accounts.get_user(session, user_id).email


def test_a_token_works_until_the_moment_it_expires(database: Database) -> None:
    user_id = factories.user(database)
    issued = issue(database, user_id, ttl=timedelta(minutes=10), now=T0)

    assert resolve(database, issued.token, now=T0 + timedelta(minutes=10) - seconds(1)).user_id
    assert refused_token(database, issued.token, now=T0 + timedelta(minutes=10)) == "invalid_token"
    assert refused_token(database, issued.token, now=T0 + timedelta(days=1)) == "invalid_token"


def test_a_token_issued_long_ago_has_expired_by_now(database: Database) -> None:
    user_id = factories.user(database)
    issued = issue(database, user_id, ttl=timedelta(minutes=5), now=T0 - timedelta(days=1))

    assert refused_token(database, issued.token) == "invalid_token"


def test_an_api_token_without_a_lifetime_never_expires(database: Database) -> None:
    user_id = factories.user(database)
    issued = issue(database, user_id, kind=accounts.API, ttl=None)

    assert issued.expires is None
    assert resolve(database, issued.token, now=T0 + timedelta(days=3650)).user_id == user_id


def test_a_revoked_token_stops_working_at_once_and_revoking_again_is_harmless(
    database: Database,
) -> None:
    user_id = factories.user(database)
    revoked = issue(database, user_id)
    kept = issue(database, user_id)

    with database.write() as session:
        first = accounts.revoke_token(session, revoked.token_id)
    with database.write() as session:
        again = accounts.revoke_token(session, revoked.token_id)

    assert (first, again) == (True, False)
    assert refused_token(database, revoked.token) == "invalid_token"
    assert resolve(database, kept.token).token_id == kept.token_id


@pytest.mark.parametrize("name", [None, "", "   "])
def test_an_api_token_needs_a_name(database: Database, name: str | None) -> None:
    user_id = factories.user(database)

    with pytest.raises(OrdermillError) as caught, database.write() as session:
        accounts.issue_token(
            session, accounts.get_user(session, user_id), kind=accounts.API, ttl=None, name=name
        )

    assert caught.value.code == "validation_error"
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_an_api_token_name_is_stored_without_surrounding_spaces(database: Database) -> None:
    user_id = factories.user(database)

    with database.write() as session:
        issued = accounts.issue_token(
            session, accounts.get_user(session, user_id), kind=accounts.API, ttl=None, name=" ci "
        )
        assert accounts.get_token(session, issued.token_id).name == "ci"


def test_revoking_an_unknown_token_is_not_found(database: Database) -> None:
    with pytest.raises(OrdermillError) as caught, database.write() as session:
        accounts.revoke_token(session, 999)

    assert caught.value.code == "token_not_found"


def test_an_unknown_token_is_refused(database: Database) -> None:
    assert refused_token(database, "oms_made-up") == "invalid_token"


def test_disabling_a_user_stops_every_token_they_hold_at_once(database: Database) -> None:
    user_id = factories.user(database)
    session_token = issue(database, user_id)
    api_token = issue(database, user_id, kind=accounts.API, ttl=None)

    disable(database, user_id)

    assert refused_token(database, session_token.token) == "invalid_token"
    assert refused_token(database, api_token.token) == "invalid_token"


def test_a_role_change_applies_to_tokens_already_issued(database: Database) -> None:
    admin_id = factories.user(database, role="admin")
    staff_id = factories.user(database, role="staff")
    issued = issue(database, staff_id)

    with database.write() as session:
        accounts.set_role(session, accounts.get_user(session, staff_id), Role.ADMIN)

    assert resolve(database, issued.token).role is Role.ADMIN
    assert admin_id != staff_id


def test_a_users_token_list_holds_their_api_tokens_only(database: Database) -> None:
    user_id = factories.user(database)
    other_id = factories.user(database)
    first = issue(database, user_id, kind=accounts.API, ttl=None)
    issue(database, user_id, kind=accounts.SESSION)
    second = issue(database, user_id, kind=accounts.API, ttl=timedelta(days=30))
    issue(database, other_id, kind=accounts.API, ttl=None)

    with database.read() as session:
        listed = [t.id for t in accounts.list_tokens(session, accounts.get_user(session, user_id))]

    assert listed == [first.token_id, second.token_id]


# ---------------------------------------------------------------- admins


def test_the_last_enabled_admin_cannot_be_disabled(database: Database) -> None:
    admin_id = factories.user(database, role="admin")

    with pytest.raises(Conflict) as caught:
        disable(database, admin_id)

    assert caught.value.code == "last_admin"
    with database.read() as session:
        assert accounts.get_user(session, admin_id).disabled is False


def test_the_last_enabled_admin_cannot_be_made_staff(database: Database) -> None:
    admin_id = factories.user(database, role="admin")

    with pytest.raises(Conflict) as caught, database.write() as session:
        accounts.set_role(session, accounts.get_user(session, admin_id), Role.STAFF)

    assert caught.value.code == "last_admin"
    with database.read() as session:
        assert accounts.get_user(session, admin_id).role == "admin"


def test_a_disabled_admin_does_not_count_as_the_admin_who_remains(database: Database) -> None:
    admin_id = factories.user(database, role="admin")
    factories.user(database, role="admin", disabled=True)

    with pytest.raises(Conflict) as caught:
        disable(database, admin_id)

    assert caught.value.code == "last_admin"


def test_one_of_two_enabled_admins_can_be_disabled_or_demoted(database: Database) -> None:
    first = factories.user(database, role="admin")
    second = factories.user(database, role="admin")
    third = factories.user(database, role="admin")

    disable(database, first)
    with database.write() as session:
        accounts.set_role(session, accounts.get_user(session, second), Role.STAFF)

    with database.read() as session:
        assert accounts.get_user(session, first).disabled is True
        assert accounts.get_user(session, second).role == "staff"
        assert accounts.admin_exists(session)
    with pytest.raises(Conflict):
        disable(database, third)


@pytest.mark.parametrize("target", [Role.CUSTOMER, Role.ANONYMOUS])
def test_staff_cannot_be_turned_into_a_customer_or_anonymous(
    database: Database, target: Role
) -> None:
    staff_id = factories.user(database, role="staff")

    with pytest.raises(Conflict) as caught, database.write() as session:
        accounts.set_role(session, accounts.get_user(session, staff_id), target)

    assert caught.value.code == "role_not_changeable"


def test_a_customer_login_cannot_be_promoted_to_staff(database: Database) -> None:
    _, user_id = factories.customer_login(database)

    with pytest.raises(Conflict) as caught, database.write() as session:
        accounts.set_role(session, accounts.get_user(session, user_id), Role.ADMIN)

    assert caught.value.code == "role_not_changeable"
    with database.read() as session:
        assert accounts.get_user(session, user_id).role == "customer"


def test_ensure_admin_on_an_empty_store_creates_an_admin_with_a_random_password(
    database: Database,
) -> None:
    with database.write() as session:
        created = accounts.ensure_admin(session, "Owner@Example.com")

    assert created is not None
    email, password = created
    assert email == "owner@example.com"
    assert len(password) >= accounts.MIN_PASSWORD_LENGTH
    assert password not in dump_table(database, "users")
    user = login(database, "owner@example.com", password)
    assert user.role == "admin"


def test_ensure_admin_does_nothing_when_an_enabled_admin_exists(database: Database) -> None:
    factories.user(database, role="admin", email="boss@example.com")

    with database.write() as session:
        created = accounts.ensure_admin(session, "owner@example.com")

    assert created is None
    assert user_count(database) == 1


def test_ensure_admin_creates_a_fresh_admin_when_the_only_admin_is_disabled(
    database: Database,
) -> None:
    factories.user(database, role="admin", email="old@example.com", disabled=True)

    with database.write() as session:
        created = accounts.ensure_admin(session, "owner@example.com")

    assert created is not None
    assert login(database, "owner@example.com", created[1]).role == "admin"


def test_ensure_admin_revives_the_disabled_admin_account_with_its_email_and_a_new_password(
    database: Database,
) -> None:
    old_id = factories.user(database, role="admin", email="owner@example.com", disabled=True)

    with database.write() as session:
        created = accounts.ensure_admin(session, "owner@example.com")

    assert created is not None
    revived = login(database, "owner@example.com", created[1])
    assert revived.id == old_id
    assert revived.disabled is False
    assert user_count(database) == 1
    with pytest.raises(Unauthenticated):
        login(database, "owner@example.com", PASSWORD)


# ---------------------------------------------------------------- sign-up


def test_sign_up_creates_a_customer_with_a_zero_balance_and_a_login_of_their_own(
    database: Database,
) -> None:
    with database.write() as session:
        customer_id = accounts.sign_up(
            session,
            name="Grace Hopper",
            email="Grace@Example.com",
            password_hash=accounts.hash_password("cobol forever!"),
        ).id

    user = login(database, "grace@example.com", "cobol forever!")
    assert user.role == "customer"
    assert user.customer_id == customer_id
    with database.read() as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        assert (customer.name, customer.email, customer.balance) == (
            "Grace Hopper",
            "grace@example.com",
            0,
        )
    assert "cobol forever!" not in dump_table(database, "users")


def test_sign_up_with_a_registered_customer_email_creates_nothing(database: Database) -> None:
    factories.customer(database, email="taken@example.com")

    with pytest.raises(Conflict) as caught, database.write() as session:
        accounts.sign_up(
            session,
            name="Copy",
            email="taken@example.com",
            password_hash=accounts.hash_password(PASSWORD),
        )

    assert caught.value.code == "email_taken"
    assert user_count(database) == 0


def test_sign_up_with_a_staff_email_leaves_no_customer_behind(database: Database) -> None:
    factories.user(database, email="clerk@example.com")

    with pytest.raises(Conflict), database.write() as session:
        accounts.sign_up(
            session,
            name="Clerk",
            email="clerk@example.com",
            password_hash=accounts.hash_password(PASSWORD),
        )

    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 0


# ---------------------------------------------------------------- login throttle


def fail(
    database: Database,
    key: str,
    at: datetime,
    times: int = 1,
    policy: ThrottlePolicy = ACCOUNT_POLICY,
) -> None:
    for _ in range(times):
        with database.write() as session:
            accounts.record_failure(session, key, policy, now=at)


def retry_after(database: Database, keys: list[str], at: datetime) -> int | None:
    """Seconds the caller must wait, or None when logging in is allowed."""
    try:
        with database.read() as session:
            accounts.check_throttle(session, keys, now=at)
    except TooManyAttempts as exc:
        return int(exc.detail["retry_after"])
    return None


ADA = "account:ada@example.com"


def test_four_failed_logins_block_nothing_and_the_fifth_blocks_the_account_for_30_seconds(
    database: Database,
) -> None:
    fail(database, ADA, T0, times=4)
    assert retry_after(database, [ADA], T0) is None

    fail(database, ADA, T0)

    assert retry_after(database, [ADA], T0) == 30
    assert retry_after(database, [ADA], T0 + seconds(29)) == 1
    assert retry_after(database, [ADA], T0 + seconds(29.5)) == 1
    assert retry_after(database, [ADA], T0 + seconds(30)) is None


def test_each_failure_after_a_block_doubles_the_next_block_up_to_5_minutes(
    database: Database,
) -> None:
    fail(database, ADA, T0, times=5)
    now = T0
    waits = []
    for _ in range(6):
        wait = retry_after(database, [ADA], now)
        assert wait is not None
        waits.append(wait)
        now += seconds(wait)  # the block has just run out: one more wrong guess
        assert retry_after(database, [ADA], now) is None
        fail(database, ADA, now)

    assert waits == [30, 60, 120, 240, 300, 300]


def test_the_failure_count_starts_over_after_a_quiet_15_minutes(database: Database) -> None:
    fail(database, ADA, T0, times=4)
    later = T0 + timedelta(minutes=15, seconds=1)

    fail(database, ADA, later, times=4)

    assert retry_after(database, [ADA], later) is None
    fail(database, ADA, later)
    assert retry_after(database, [ADA], later) == 30


def test_failures_within_the_window_add_up_even_when_spread_out(database: Database) -> None:
    for minute in range(5):
        fail(database, ADA, T0 + timedelta(minutes=minute * 3))

    assert retry_after(database, [ADA], T0 + timedelta(minutes=12)) == 30


def test_clearing_the_account_after_a_success_resets_its_count(database: Database) -> None:
    fail(database, ADA, T0, times=4)

    with database.write() as session:
        accounts.clear_throttle(session, ADA)
    fail(database, ADA, T0, times=4)

    assert retry_after(database, [ADA], T0) is None


def test_a_client_address_is_blocked_from_its_twentieth_failure_for_a_minute(
    database: Database,
) -> None:
    client = "client:203.0.113.7"
    fail(database, client, T0, times=19, policy=CLIENT_POLICY)
    assert retry_after(database, [client], T0) is None

    fail(database, client, T0, policy=CLIENT_POLICY)

    assert retry_after(database, [client], T0) == 60
    assert retry_after(database, [client], T0 + seconds(60)) is None


def test_a_blocked_key_blocks_a_login_checked_against_it_and_no_other(
    database: Database,
) -> None:
    fail(database, ADA, T0, times=5)
    bob = "account:bob@example.com"
    client = "client:203.0.113.7"
    fail(database, bob, T0, times=2)

    assert retry_after(database, [ADA, client], T0) == 30
    assert retry_after(database, [client, ADA], T0 + seconds(10)) == 20
    assert retry_after(database, [bob, client], T0) is None


def test_the_longest_of_several_blocks_is_the_one_reported(database: Database) -> None:
    client = "client:203.0.113.7"
    fail(database, ADA, T0, times=5)  # 30 s
    fail(database, client, T0, times=20, policy=CLIENT_POLICY)  # 60 s

    assert retry_after(database, [ADA, client], T0) == 60


# ---------------------------------------------------------------- concurrency (PostgreSQL)


@pytest.mark.postgres_only
def test_two_admins_disabled_at_the_same_moment_still_leave_one_enabled(
    pg_database: Database,
) -> None:
    """Each request alone keeps an admin; together they must not remove both."""
    first = factories.user(pg_database, role="admin")
    second = factories.user(pg_database, role="admin")
    first_flushed = threading.Event()
    second_finished = threading.Event()
    outcomes: dict[int, str] = {}

    def disable_now(user_id: int) -> None:
        try:
            with pg_database.write() as session:
                accounts.set_disabled(session, accounts.get_user(session, user_id), True)
                if user_id == first:
                    # Hold the change open while the other request runs (or waits for us).
                    first_flushed.set()
                    second_finished.wait(timeout=1)
            outcomes[user_id] = "disabled"
        except Conflict as exc:
            outcomes[user_id] = exc.code
        finally:
            if user_id == second:
                second_finished.set()

    def disable_second() -> None:
        first_flushed.wait(timeout=5)
        disable_now(second)

    threads = [
        threading.Thread(target=disable_now, args=(first,)),
        threading.Thread(target=disable_second),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)

    assert sorted(outcomes.values()) == ["disabled", "last_admin"]
    with pg_database.read() as session:
        assert accounts.admin_exists(session)
