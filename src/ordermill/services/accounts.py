"""Accounts: staff and customer logins, tokens, sign-up, and the login throttle.

Passwords are stored as Argon2 hashes; tokens as SHA-256 digests (a token is 256
random bits, so a fast digest is safe and lets every request find it by index).
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import case, delete, func, select, update
from sqlalchemy.orm import Session

from ordermill import token_cache
from ordermill.domain.access import STAFF_ROLES, Role, ThrottlePolicy, block_until
from ordermill.errors import (
    Code,
    Conflict,
    InvalidInput,
    NotFound,
    TooManyAttempts,
    Unauthenticated,
)
from ordermill.models import ApiToken, Customer, User, utcnow
from ordermill.services import catalog
from ordermill.services.audit import Actor
from ordermill.services.tables import login_throttle, upsert

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
SESSION = "session"
API = "api"

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the account doesn't exist, so both paths take as long.

    Made on first use, not at import: every CLI command imports this module.
    """
    hashed: str = _hasher.hash(secrets.token_urlsafe(16))
    return hashed


def invalid_credentials() -> Unauthenticated:
    return Unauthenticated("Email or password is wrong.", code=Code.INVALID_CREDENTIALS)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user through a token, or nobody."""

    role: Role
    user_id: int | None = None
    token_id: int | None = None
    customer_id: int | None = None
    email: str | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None


ANONYMOUS = Principal(Role.ANONYMOUS)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str  # shown once, never stored
    token_id: int
    expires: datetime | None


# ---------------------------------------------------------------- passwords


def validate_password(password: str) -> str:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
            field="password",
        )
    return password


def hash_password(password: str) -> str:
    hashed: str = _hasher.hash(validate_password(password))
    return hashed


def _password_matches(password_hash: str | None, password: str) -> bool:
    try:
        return (
            _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


# ---------------------------------------------------------------- users


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if (
        "@" not in email
        or len(email) > 320
        or email.startswith("@")
        or email.endswith("@")
        or not email.isprintable()
    ):
        raise InvalidInput("that is not an email address", field="email")
    return email


def create_user(
    session: Session,
    *,
    email: str,
    password: str,
    role: Role,
    customer_id: int | None = None,
) -> User:
    """Create a login: staff and admins stand alone, a customer login points at its customer."""
    return _insert_user(
        session,
        email=email,
        password_hash=hash_password(password),
        role=role,
        customer_id=customer_id,
    )


def _insert_user(
    session: Session, *, email: str, password_hash: str, role: Role, customer_id: int | None
) -> User:
    email = normalize_email(email)
    if role is Role.ANONYMOUS:
        raise InvalidInput("a user can't be anonymous", field="role")
    if (role is Role.CUSTOMER) != (customer_id is not None):
        raise InvalidInput("customer logins, and only they, belong to a customer", field="role")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"A user with email {email} already exists.", code=Code.EMAIL_TAKEN)
    user = User(email=email, password_hash=password_hash, role=role.value, customer_id=customer_id)
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"User {user_id} does not exist.", code=Code.USER_NOT_FOUND)
    return user


def find_user(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        raise NotFound(f"No user has the email {email}.", code=Code.USER_NOT_FOUND)
    return user


def list_users(session: Session, *, staff_only: bool = False) -> list[User]:
    stmt = select(User).order_by(User.id)
    if staff_only:
        stmt = stmt.where(User.role.in_([r.value for r in STAFF_ROLES]))
    return list(session.scalars(stmt))


def _keep_an_admin(session: Session, user: User) -> None:
    """Refuse a change that would leave the store without an enabled admin.

    The enabled admins are locked first, so two admins disabled at the same moment
    can't each count the other and leave none.
    """
    enabled = session.scalars(
        select(User.id)
        .where(User.role == Role.ADMIN.value, User.disabled.is_(False))
        .order_by(User.id)
        .with_for_update()
    ).all()
    if not [admin_id for admin_id in enabled if admin_id != user.id]:
        raise Conflict("The store must keep at least one enabled admin.", code=Code.LAST_ADMIN)


def set_disabled(session: Session, user: User, disabled: bool) -> User:
    """Disable (or re-enable) a login; a disabled user's tokens stop working at once.

    Their login sessions are revoked too, so enabling the login again doesn't bring
    an old session back to life; API tokens only pause while the login is disabled.
    """
    if disabled and user.role == Role.ADMIN.value and not user.disabled:
        _keep_an_admin(session, user)
    if disabled:
        session.execute(
            update(ApiToken)
            .where(
                ApiToken.user_id == user.id,
                ApiToken.kind == SESSION,
                ApiToken.revoked.is_(None),
            )
            .values(revoked=utcnow())
        )
    user.disabled = disabled
    token_cache.changed(session, token_cache.user_key(user.id))
    session.flush()
    return user


def set_role(session: Session, user: User, role: Role) -> User:
    """Make a staff member an admin or the other way round."""
    if user.role not in {r.value for r in STAFF_ROLES} or role not in STAFF_ROLES:
        raise Conflict("Only staff and admin roles can be changed.", code=Code.ROLE_NOT_CHANGEABLE)
    if user.role == Role.ADMIN.value and role is not Role.ADMIN and not user.disabled:
        _keep_an_admin(session, user)
    user.role = role.value
    token_cache.changed(session, token_cache.user_key(user.id))
    session.flush()
    return user


def admin_exists(session: Session) -> bool:
    found = session.scalar(
        select(User.id).where(User.role == Role.ADMIN.value, User.disabled.is_(False)).limit(1)
    )
    return found is not None


def ensure_admin(session: Session, email: str) -> tuple[str, str] | None:
    """On first run, create an admin with a random password; return (email, password) once.

    A disabled admin with that email is re-enabled with a fresh password (the way
    back in for a store that locked itself out); any other login is left alone.
    """
    if admin_exists(session):
        return None
    password = secrets.token_urlsafe(15)
    user = session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is not None:
        if user.role != Role.ADMIN.value:
            raise Conflict(
                f"{user.email} is a {user.role} login; set ORDERMILL_ADMIN_EMAIL to another "
                "address or create an admin with `ordermill users create --role admin`.",
                code=Code.EMAIL_TAKEN,
            )
        user.password_hash = hash_password(password)
        user.disabled = False
        session.flush()
    else:
        create_user(session, email=email, password=password, role=Role.ADMIN)
    return normalize_email(email), password


def sign_up(
    session: Session, *, name: str, email: str, password_hash: str, phone: str | None = None
) -> Customer:
    """A new customer with a login of their own (and a zero balance).

    Argon2 is slow on purpose: hash the password (``hash_password``, which also
    checks its length) before opening the write transaction, and pass the hash in.
    """
    customer = catalog.create_customer(
        session,
        name=name,
        email=email,
        phone=phone,
        actor=Actor(f"signup:{normalize_email(email)}"),
    )
    _insert_user(
        session,
        email=customer.email,
        password_hash=password_hash,
        role=Role.CUSTOMER,
        customer_id=customer.id,
    )
    return customer


# ---------------------------------------------------------------- tokens


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session,
    user: User,
    *,
    kind: str,
    ttl: timedelta | None,
    name: str | None = None,
    now: datetime | None = None,
) -> IssuedToken:
    """A new bearer token for ``user``; the plaintext is returned once and never stored.

    An API token needs a name (what it is for), so it can be told apart and revoked.
    """
    if kind == API:
        name = (name or "").strip()
        if not name:
            raise InvalidInput("an API token needs a name: what it is for", field="name")
    now = now or utcnow()
    token = ("om_" if kind == API else "oms_") + secrets.token_urlsafe(32)
    expires = now + ttl if ttl is not None else None
    row = ApiToken(
        user_id=user.id,
        kind=kind,
        name=name,
        token_hash=token_digest(token),
        created=now,
        expires=expires,
    )
    session.add(row)
    session.flush()
    return IssuedToken(token, row.id, expires)


def authenticate(session: Session, *, email: str, password: str) -> User:
    """The enabled user with this email and password; wrong email or password look alike.

    Argon2 is slow on purpose: call this in a read transaction, not while holding
    the write lock.
    """
    try:
        email = normalize_email(email)
    except InvalidInput:
        raise invalid_credentials() from None
    if len(password) > MAX_PASSWORD_LENGTH:  # no account has one; don't feed it to Argon2
        raise invalid_credentials()
    user = session.scalar(select(User).where(User.email == email))
    if not _password_matches(user.password_hash if user else None, password):
        raise invalid_credentials()
    if user is None or user.disabled:
        raise invalid_credentials()
    return user


def open_session(
    session: Session, user_id: int, *, ttl: timedelta, now: datetime | None = None
) -> IssuedToken:
    """A session token for a user who just proved their password."""
    now = now or utcnow()
    user = get_user(session, user_id)
    if user.disabled:
        raise invalid_credentials()
    user.last_login = now
    return issue_token(session, user, kind=SESSION, ttl=ttl, now=now)


def resolve_token(session: Session, token: str, now: datetime | None = None) -> Principal:
    """The principal behind a bearer token, or 401 if it is unknown, expired or revoked."""
    return resolve_digest(session, token_digest(token), now)[0]


def resolve_digest(
    session: Session, digest: str, now: datetime | None = None
) -> tuple[Principal, datetime | None]:
    """The principal behind a token's digest and when the token expires (None: never);
    401 if it is unknown, expired or revoked, or its user is disabled."""
    now = now or utcnow()
    row = session.execute(
        select(
            ApiToken.id,
            ApiToken.expires,
            ApiToken.revoked,
            User.id.label("user_id"),
            User.role,
            User.customer_id,
            User.email,
            User.disabled,
        )
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == digest)
    ).one_or_none()
    if (
        row is None
        or row.revoked is not None
        or (row.expires is not None and row.expires <= now)
        or row.disabled
    ):
        raise Unauthenticated(
            "The token is invalid, expired or revoked; log in again.", code=Code.INVALID_TOKEN
        )
    principal = Principal(
        role=Role(row.role),
        user_id=row.user_id,
        token_id=row.id,
        customer_id=row.customer_id,
        email=row.email,
    )
    return principal, row.expires


def cache_keys(principal: Principal) -> tuple[str, ...]:
    """The keys a change to this principal's user or customer is announced under."""
    assert principal.user_id is not None
    if principal.customer_id is None:
        return (token_cache.user_key(principal.user_id),)
    return (
        token_cache.user_key(principal.user_id),
        token_cache.customer_key(principal.customer_id),
    )


def revoke_token(session: Session, token_id: int, now: datetime | None = None) -> bool:
    """Revoke a token at once; False if it was revoked already (revoking twice is harmless)."""
    token = get_token(session, token_id)
    token_cache.changed(session, token_cache.user_key(token.user_id))
    revoked = session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.revoked.is_(None))
        .values(revoked=now or utcnow())
    )
    return bool(revoked.rowcount)  # type: ignore[attr-defined]


def revoke_user_tokens(session: Session, user_id: int, now: datetime | None = None) -> int:
    """Revoke every session and API token of a user at once; how many were live."""
    token_cache.changed(session, token_cache.user_key(user_id))
    revoked = session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked.is_(None))
        .values(revoked=now or utcnow())
    )
    return int(revoked.rowcount)  # type: ignore[attr-defined]


def get_token(session: Session, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"Token {token_id} does not exist.", code=Code.TOKEN_NOT_FOUND)
    return token


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.kind == API)
            .order_by(ApiToken.id)
        )
    )


# ---------------------------------------------------------------- throttle


def throttle_keys(username: str, client_address: str) -> tuple[str, str]:
    """The throttle keys for a login attempt: its account and its client address.

    Digests keep the keys short and safe whatever a client sends as a username.
    """
    account = hashlib.sha256(username.strip().lower().encode()).hexdigest()
    client = hashlib.sha256(client_address.encode()).hexdigest()
    return f"account:{account}", f"client:{client}"


def check_throttle(session: Session, keys: list[str], now: datetime | None = None) -> None:
    """Refuse (429) while any of ``keys`` is blocked."""
    now = now or utcnow()
    blocked = session.execute(
        select(func.max(login_throttle.c.blocked_until)).where(
            login_throttle.c.key.in_(keys), login_throttle.c.blocked_until > now
        )
    ).scalar_one_or_none()
    if blocked is not None:
        retry_after = max(1, math.ceil((blocked - now).total_seconds()))
        raise TooManyAttempts(
            f"Too many failed logins; try again in {retry_after} seconds.",
            retry_after=retry_after,
        )


def record_failure(
    session: Session, key: str, policy: ThrottlePolicy, now: datetime | None = None
) -> None:
    """Count a failed login against ``key`` (atomically), blocking it past the limit."""
    now = now or utcnow()
    window_start = login_throttle.c.window_start
    stale = window_start < now - policy.window

    row = session.execute(
        upsert(session, login_throttle)
        .values(key=key, failures=1, window_start=now, blocked_until=None)
        .on_conflict_do_update(
            index_elements=[login_throttle.c.key],
            set_={
                "failures": case((stale, 1), else_=login_throttle.c.failures + 1),
                "window_start": case((stale, now), else_=window_start),
            },
        )
        .returning(login_throttle.c.failures)
    ).one()
    until = block_until(policy, row.failures, now)
    if until is not None:
        session.execute(
            update(login_throttle).where(login_throttle.c.key == key).values(blocked_until=until)
        )


def clear_throttle(session: Session, key: str) -> None:
    session.execute(delete(login_throttle).where(login_throttle.c.key == key))
