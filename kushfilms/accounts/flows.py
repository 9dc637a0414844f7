"""Account flows that reach beyond accounts, written once for the API and the pages:
signing up, a forgotten password, verifying an address and changing it.

Every flow that costs argon2 hashes before its first statement, so that no
transaction is open across the hash.
"""

import uuid
from datetime import datetime
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.accounts import service
from kushfilms.accounts.links import (
    LIFETIMES,
    InvalidLink,
    LinkPurpose,
    is_current,
    make_link_token,
    read_link_token,
)
from kushfilms.accounts.passwords import PasswordHasher
from kushfilms.config import Settings
from kushfilms.errors import Conflict
from kushfilms.kit.clock import utcnow
from kushfilms.models import User
from kushfilms.notify.kinds import EmailKind
from kushfilms.notify.service import queue_email
from kushfilms.ratelimit import RateLimiter
from kushfilms.worker.queue import enqueue, jobs_of

SEND_PASSWORD_RESET = "accounts.send_password_reset"  # noqa: S105 - a job name
# Where each link leads: the page that acts on it.
LINK_PAGES = {
    LinkPurpose.RESET_PASSWORD: "/reset-password",
    LinkPurpose.VERIFY_EMAIL: "/verify-email",
    LinkPurpose.CHANGE_EMAIL: "/account/email/confirm",
}
_TOO_MANY_EMAILS = "Too many emails asked for; try again later."


class EmailAlreadyVerified(Conflict):
    code = "email_already_verified"
    message = "This email address is confirmed already."


async def sign_up(
    session: AsyncSession,
    limiter: RateLimiter,
    settings: Settings,
    *,
    address: str,
    email: str,
    password: str,
    name: str,
    hasher: PasswordHasher,
) -> User:
    """A new viewer account, welcomed by email (with the link that verifies its
    address) once the transaction commits; the caller signs it in its own way
    (tokens, or a page's session). ``email`` is normalised."""
    await limiter.enforce(
        settings.register_limit,
        "register",
        address,
        message="Too many accounts created from this address.",
    )
    user = await service.register(session, email=email, password=password, name=name, hasher=hasher)
    await queue_email(
        session,
        EmailKind.WELCOME,
        user,
        verify_link=link_path(settings, LinkPurpose.VERIFY_EMAIL, user, now=utcnow()),
    )
    return user


def link_path(
    settings: Settings,
    purpose: LinkPurpose,
    user: User,
    *,
    now: datetime,
    new_email: str | None = None,
) -> str:
    """The site path an email links to for ``purpose``, with its signed token."""
    token = make_link_token(settings, purpose, user, now=now, new_email=new_email)
    return f"{LINK_PAGES[purpose]}?{urlencode({'token': token})}"


async def request_password_reset(
    session: AsyncSession, limiter: RateLimiter, settings: Settings, *, address: str, email: str
) -> None:
    """Send a reset link to ``email`` if it is an account's. The request does the same
    work either way (the limits, then one job written with the transaction), so
    neither its answer nor its time tells whether the account exists; the job
    looks the address up."""
    await _enforce_email_limits(limiter, settings, address=address, email=email)
    enqueue(session, jobs_of(session), SEND_PASSWORD_RESET, email)


async def send_password_reset(session: AsyncSession, settings: Settings, email: str) -> bool:
    """Queue the reset email for the account with this address; whether there is one."""
    user = await service.find_user_by_email(session, email)
    if user is None:
        return False
    now = utcnow()
    await queue_email(
        session,
        EmailKind.PASSWORD_RESET,
        user,
        link=link_path(settings, LinkPurpose.RESET_PASSWORD, user, now=now),
        valid_minutes=int(LIFETIMES[LinkPurpose.RESET_PASSWORD].total_seconds() // 60),
    )
    return True


async def reset_password(
    session: AsyncSession, settings: Settings, *, token: str, password: str, hasher: PasswordHasher
) -> User:
    """Set a new password through a reset link, once; every sign-in of the account
    ends (the caller may start a new one). Following the link proves the address."""
    claims = read_link_token(settings, LinkPurpose.RESET_PASSWORD, token, now=utcnow())
    password_hash = await hasher.hash(password)  # before the first statement
    user = await _locked_user(session, claims.user_id)
    if user is None or not is_current(settings, LinkPurpose.RESET_PASSWORD, user, claims):
        raise InvalidLink()
    service.refuse_weak_password(password, user_inputs=[user.email, user.name])
    user.password_hash = password_hash
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    await service.end_all_sessions(session, user)
    return user


async def verify_email(session: AsyncSession, settings: Settings, *, token: str) -> User:
    """Mark the account's address verified through the link sent to it (again: no harm)."""
    claims = read_link_token(settings, LinkPurpose.VERIFY_EMAIL, token, now=utcnow())
    user = await _locked_user(session, claims.user_id)
    if user is None or not is_current(settings, LinkPurpose.VERIFY_EMAIL, user, claims):
        raise InvalidLink()  # the address changed since: the link proved another one
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    return user


async def resend_verification(
    session: AsyncSession, limiter: RateLimiter, settings: Settings, *, address: str, user: User
) -> None:
    if user.email_verified_at is not None:
        raise EmailAlreadyVerified()
    await _enforce_email_limits(limiter, settings, address=address, email=user.email)
    await queue_email(
        session,
        EmailKind.VERIFY_EMAIL,
        user,
        link=link_path(settings, LinkPurpose.VERIFY_EMAIL, user, now=utcnow()),
    )


async def request_email_change(
    session: AsyncSession,
    limiter: RateLimiter,
    settings: Settings,
    *,
    address: str,
    user: User,
    new_email: str,
    password: str,
    hasher: PasswordHasher,
) -> None:
    """Send a confirmation link to ``new_email`` (normalised); the account's address
    changes only when it is followed. The current password is asked for, as for
    any change that could hand the account to someone else."""
    valid, _ = await hasher.verify(password, user.password_hash)  # before any statement
    if not valid:
        raise service.WrongPassword(field="password")
    if new_email == user.email:
        raise Conflict("This is your address already.", field="email")
    await _enforce_email_limits(limiter, settings, address=address, email=user.email)
    if await service.find_user_by_email(session, new_email):
        raise service.EmailTaken(field="email")
    await queue_email(
        session,
        EmailKind.CONFIRM_EMAIL_CHANGE,
        user,
        new_email=new_email,
        link=link_path(settings, LinkPurpose.CHANGE_EMAIL, user, now=utcnow(), new_email=new_email),
    )


async def confirm_email_change(session: AsyncSession, settings: Settings, *, token: str) -> User:
    """Move the account to the address the link was sent to, verified by following it;
    the old address is told."""
    claims = read_link_token(settings, LinkPurpose.CHANGE_EMAIL, token, now=utcnow())
    user = await _locked_user(session, claims.user_id)
    if user is None or not is_current(settings, LinkPurpose.CHANGE_EMAIL, user, claims):
        raise InvalidLink()
    assert claims.new_email is not None  # read_link_token checks it for CHANGE_EMAIL
    old_email = user.email
    await service.change_email(session, user, claims.new_email)
    user.email_verified_at = utcnow()
    await queue_email(
        session, EmailKind.EMAIL_CHANGED, user, old_email=old_email, new_email=user.email
    )
    return user


async def _enforce_email_limits(
    limiter: RateLimiter, settings: Settings, *, address: str, email: str
) -> None:
    limit = settings.account_emails_limit
    await limiter.enforce(limit, "account-emails", address, message=_TOO_MANY_EMAILS)
    await limiter.enforce(limit, "account-emails", email, message=_TOO_MANY_EMAILS)


async def _locked_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user, their row locked for the rest of the transaction: two uses of one
    link at once cannot both find it unspent."""
    user: User | None = await session.scalar(
        select(User).where(User.id == user_id).with_for_update(key_share=True)
    )
    return user
