"""Signing in with a password, guarded against guessing; for the API and the pages.

Two limits, both per client address. Attempts on one email
(``KF_RATE_LIMIT_LOGIN``) stop guessing at one account's password; failed
attempts across all emails (``KF_RATE_LIMIT_LOGIN_FAILURES_PER_ADDRESS``) stop
trying a common password on many accounts (password spraying). Only failures
count towards the second, so a busy shared address whose people type their
passwords right is not held up; once it is spent, nothing signs in from that
address, not even the right password, until the window moves on.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.accounts import service
from kushfilms.accounts.passwords import PasswordHasher
from kushfilms.config import Settings
from kushfilms.models import User
from kushfilms.ratelimit import RateLimiter

_TOO_MANY_FAILURES = "Too many failed sign-ins from this address."


async def sign_in(
    session: AsyncSession,
    limiter: RateLimiter,
    settings: Settings,
    *,
    address: str,
    email: str,
    password: str,
    hasher: PasswordHasher,
) -> User:
    """The user with this (normalised) email and password; RateLimited when a limit
    is spent, InvalidCredentials when they do not match."""
    failures = settings.login_failures_limit
    await limiter.check(failures, "login-failures", address, message=_TOO_MANY_FAILURES)
    await limiter.enforce(
        settings.login_limit, "login", address, email, message="Too many sign-in attempts."
    )
    try:
        user = await service.authenticate(session, email=email, password=password, hasher=hasher)
    except service.InvalidCredentials:
        await limiter.count(failures, "login-failures", address)
        raise
    # Attempts sent together all passed the first check; if the failures among
    # them have spent the limit meanwhile, a success among them is likely a lucky
    # guess, and is refused like any attempt after the limit.
    await limiter.check(failures, "login-failures", address, message=_TOO_MANY_FAILURES)
    return user
