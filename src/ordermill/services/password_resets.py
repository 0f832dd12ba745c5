"""Password resets by email, and claiming an account a customer never logged in to.

Asking for a reset never tells whether the address has an account: the answer is the
same either way, and only an enabled login, or a customer without one (staff or
seeding created them), gets a link. The link's token is 256 random bits stored only
as its SHA-256 digest; the message goes out through the outbox, written in the same
transaction, so a rolled-back request sends nothing.

Confirming sets the password (or, for a customer without a login, creates their
customer login: the claim), uses the token up together with every other outstanding
one for the address, and revokes every session and API token of the user. The
links are used up by one conditional ``UPDATE``, so of two confirms racing for one
address exactly one succeeds.

Argon2 is slow on purpose: hash the new password (``accounts.hash_password``)
before opening the write transaction, and pass the hash in.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import Select, insert, select, update
from sqlalchemy.orm import Session

from ordermill.domain.access import Role, ThrottlePolicy
from ordermill.domain.events import EventType
from ordermill.errors import Code, InvalidInput, TooManyAttempts
from ordermill.models import Customer, User, utcnow
from ordermill.services import accounts, audit, outbox
from ordermill.services.audit import Actor
from ordermill.services.plans import OutboxRow
from ordermill.services.tables import password_resets

T = TypeVar("T")

# Requests for one address: past the limit nothing more is sent, silently (a 429
# here would tell a prober that someone asked for this address before).
ADDRESS_POLICY = ThrottlePolicy(
    limit=3,
    window=timedelta(hours=1),
    first_block=timedelta(minutes=15),
    max_block=timedelta(hours=1),
)
# Requests from one client address: past the limit, 429 with Retry-After.
CLIENT_POLICY = ThrottlePolicy(
    limit=10,
    window=timedelta(minutes=15),
    first_block=timedelta(seconds=60),
    max_block=timedelta(minutes=15),
)


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who a reset link goes to: a login, or a customer who has none yet."""

    email: str
    name: str


def throttle_keys(email: str, client_address: str) -> tuple[str, str]:
    """The throttle keys of a reset request, apart from those of logins."""
    address_key, client_key = accounts.throttle_keys(email, client_address)
    return f"reset-{address_key}", f"reset-{client_key}"


def request_reset(
    session: Session,
    *,
    email: str,
    client_address: str,
    minutes: int,
    now: datetime | None = None,
) -> bool:
    """Send a reset link to ``email`` if it has an account; whether one was sent.

    The caller must answer the same whatever this returns. Refused (429) only when
    the client address has asked too often; an address asked for too often gets
    nothing more, without a word.
    """
    now = now or utcnow()
    address_key, client_key = throttle_keys(email, client_address)
    try:
        accounts.check_throttle(session, [client_key], now)
    except TooManyAttempts as exc:
        retry_after = exc.detail["retry_after"]
        raise TooManyAttempts(
            f"Too many password reset requests; try again in {retry_after} seconds.",
            retry_after=retry_after,
        ) from None
    accounts.record_failure(session, client_key, CLIENT_POLICY, now)
    try:
        accounts.check_throttle(session, [address_key], now)
    except TooManyAttempts:
        return False
    accounts.record_failure(session, address_key, ADDRESS_POLICY, now)
    recipient = _recipient(session, accounts.normalize_email(email))
    if recipient is None:
        return False
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(minutes=minutes)
    session.execute(
        insert(password_resets).values(
            email=recipient.email,
            token_hash=accounts.token_digest(token),
            created=now,
            expires=expires,
        )
    )
    data = {
        "email": recipient.email,
        "name": recipient.name,
        "token": token,
        "expires": expires.isoformat(),
    }
    outbox.record(session, [OutboxRow(EventType.PASSWORD_RESET.value, None, data)], now)
    return True


def _recipient(session: Session, email: str) -> Recipient | None:
    """The enabled login with this email, else a customer with it who has no login."""
    found = session.execute(
        select(User.disabled, Customer.name)
        .outerjoin(Customer, Customer.id == User.customer_id)
        .where(User.email == email)
    ).one_or_none()
    if found is not None:
        return None if found.disabled else Recipient(email, found.name or "")
    name = session.scalar(_without_login(select(Customer.name), email))
    return Recipient(email, name) if name is not None else None


def _without_login(stmt: Select[T], email: str) -> Select[T]:
    """``stmt`` narrowed to the customer with ``email`` if they have no login."""
    has_login = select(User.id).where(User.customer_id == Customer.id).exists()
    return stmt.where(Customer.email == email, ~has_login)


def link_is_live(session: Session, token: str, now: datetime | None = None) -> bool:
    """Whether a reset link's token is known, unused and unexpired (nothing is changed).

    For the reset form, to say at once that a link is spent; ``confirm_reset``
    checks again.
    """
    now = now or utcnow()
    found = session.execute(
        select(password_resets.c.used, password_resets.c.expires).where(
            password_resets.c.token_hash == accounts.token_digest(token)
        )
    ).one_or_none()
    return found is not None and found.used is None and found.expires > now


def confirm_reset(
    session: Session, *, token: str, password_hash: str, now: datetime | None = None
) -> User:
    """Set the password of the link's owner (claiming a customer's account if need be).

    400 ``invalid_reset_token`` when the token is unknown, used or expired, or its
    account is disabled or gone since.
    """
    now = now or utcnow()
    digest = accounts.token_digest(token)
    email = session.scalar(
        select(password_resets.c.email).where(password_resets.c.token_hash == digest)
    )
    if email is None:
        raise invalid_reset_token()
    # Every outstanding link of the address is used up in one statement, so two
    # confirms for one address (with one link or two) can't both go through.
    outstanding = session.execute(
        update(password_resets)
        .where(password_resets.c.email == email, password_resets.c.used.is_(None))
        .values(used=now)
        .returning(password_resets.c.token_hash, password_resets.c.expires)
    ).all()
    if not any(r.token_hash == digest and r.expires > now for r in outstanding):
        raise invalid_reset_token()
    user = session.scalar(select(User).where(User.email == email))
    claimed = user is None
    if user is None:
        user = _claim(session, email, password_hash)
    elif user.disabled:
        raise invalid_reset_token()
    else:
        user.password_hash = password_hash
    _after_password_change(session, user, now)
    audit.record(
        session,
        Actor(f"password-reset:{email}", user.id),
        "user.password_reset",
        "user",
        user.id,
        {"claimed": claimed},
        now=now,
    )
    session.flush()
    return user


def _claim(session: Session, email: str, password_hash: str) -> User:
    """The customer login of the customer with ``email``, who had none."""
    customer_id = session.scalar(_without_login(select(Customer.id), email))
    if customer_id is None:  # deleted (or given a login) since the link was sent
        raise invalid_reset_token()
    user = User(
        email=email, password_hash=password_hash, role=Role.CUSTOMER.value, customer_id=customer_id
    )
    session.add(user)
    session.flush()
    return user


def set_password(
    session: Session, *, email: str, password_hash: str, actor: Actor, now: datetime | None = None
) -> User:
    """Set a login's password (staff for anyone, a customer for themselves after giving the
    current one): its tokens and outstanding reset links stop working."""
    now = now or utcnow()
    user = accounts.find_user(session, email)
    user.password_hash = password_hash
    _after_password_change(session, user, now)
    audit.record(session, actor, "user.password_set", "user", user.id, now=now)
    session.flush()
    return user


def _after_password_change(session: Session, user: User, now: datetime) -> None:
    """Every reset link for the address is used up, every token of the user revoked."""
    session.execute(
        update(password_resets)
        .where(password_resets.c.email == user.email, password_resets.c.used.is_(None))
        .values(used=now)
    )
    accounts.revoke_user_tokens(session, user.id, now)


def invalid_reset_token() -> InvalidInput:
    return InvalidInput(
        "The password reset link is unknown, used or expired; ask for a new one.",
        code=Code.INVALID_RESET_TOKEN,
    )
