"""Logging in with an email and a password, shared by the API's token login and the pages,
and checking a signed-in customer's password again before they change it.

Throttled per account and per client address; a wrong email and a wrong password
look alike. Argon2 runs in a read transaction, never while holding the write lock.
"""

from __future__ import annotations

from datetime import timedelta

from ordermill.db import Database
from ordermill.domain.access import ACCOUNT_POLICY, CLIENT_POLICY, Role
from ordermill.errors import Code, Forbidden, Unauthenticated
from ordermill.services import accounts
from ordermill.services.accounts import IssuedToken


def sign_in(
    database: Database,
    *,
    email: str,
    password: str,
    client_address: str,
    ttl: timedelta,
    roles: frozenset[Role] | None = None,
    wrong_account: str = "This account can't log in here.",
) -> IssuedToken:
    """A new session for the user with this email and password.

    ``roles`` limits who may log in here (the back office: staff and admins); anyone
    else who gives the right password is refused with ``wrong_account`` and no session.
    """
    user_id, role = check_password(
        database, email=email, password=password, client_address=client_address
    )
    if roles is not None and role not in roles:
        raise Forbidden(wrong_account, code=Code.FORBIDDEN)
    account_key, _ = accounts.throttle_keys(email, client_address)
    with database.write() as session:
        issued = accounts.open_session(session, user_id, ttl=ttl)
        accounts.clear_throttle(session, account_key)
    return issued


def check_password(
    database: Database, *, email: str, password: str, client_address: str
) -> tuple[int, Role]:
    """The id and role of the user with this email and password, throttled like a login.

    A wrong password counts as a failed login (``Unauthenticated``); past the limit
    even the right one is refused (``TooManyAttempts``) for a while.
    """
    account_key, client_key = accounts.throttle_keys(email, client_address)
    try:
        with database.read() as session:
            accounts.check_throttle(session, [account_key, client_key])
            user = accounts.authenticate(session, email=email, password=password)
            return user.id, Role(user.role)
    except Unauthenticated:
        with database.write() as session:
            accounts.record_failure(session, account_key, ACCOUNT_POLICY)
            accounts.record_failure(session, client_key, CLIENT_POLICY)
        raise
