"""Accounts: registration, sign-in and token rotation (administrators: admins.py)."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from kushfilms.accounts import sessions
from kushfilms.accounts.passwords import PasswordHasher, password_problem
from kushfilms.accounts.tokens import (
    TokenConfig,
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
)
from kushfilms.errors import Conflict, NotFound, Unauthorized, Unprocessable
from kushfilms.kit.clock import utcnow
from kushfilms.models import RefreshToken, User


class EmailTaken(Conflict):
    code = "email_taken"
    message = "An account with this email already exists."


class WeakPassword(Unprocessable):
    code = "weak_password"


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    message = "The email or password is wrong."


class WrongPassword(Unprocessable):
    code = "wrong_password"
    message = "The current password is wrong."


class InvalidToken(Unauthorized):
    code = "invalid_token"
    message = "The token is not valid."


class TokenExpired(Unauthorized):
    code = "token_expired"
    message = "The token has expired; sign in again."


class SessionEnded(InvalidToken):
    message = "This session has been signed out."


class RefreshTokenReused(Unauthorized):
    code = "refresh_token_reused"
    message = "This refresh token was already used; the session has been signed out."
    commits = True  # the revocation of the family must stick


class UserNotFound(NotFound):
    code = "user_not_found"
    message = "No such user."


@dataclass(frozen=True, slots=True)
class Session:
    """What a sign-in hands to the client."""

    user: User
    access_token: str
    refresh_token: str
    expires_in: int


async def register(
    session: AsyncSession, *, email: str, password: str, name: str, hasher: PasswordHasher
) -> User:
    """Create a viewer account. ``email`` must already be normalised."""
    refuse_weak_password(password, user_inputs=[email, name])
    # Hashed before the first statement, so no transaction is open across argon2 (and
    # a taken email costs the same time as a free one).
    password_hash = await hasher.hash(password)
    if await find_user_by_email(session, email):
        raise EmailTaken(field="email")
    return await add_user(session, email=email, name=name, password_hash=password_hash)


async def add_user(session: AsyncSession, *, email: str, name: str, password_hash: str) -> User:
    user = User(email=email, name=name, password_hash=password_hash)
    session.add(user)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as error:  # a concurrent registration won the race
        raise EmailTaken(field="email") from error
    return user


async def authenticate(
    session: AsyncSession, *, email: str, password: str, hasher: PasswordHasher
) -> User:
    """The user with this email and password; a hash made at another cost is remade."""
    user = await find_user_by_email(session, email)
    if user is None:
        await hasher.verify_against_nothing(password)
        raise InvalidCredentials()
    valid, new_hash = await hasher.verify(password, user.password_hash)
    if not valid:
        raise InvalidCredentials()
    if new_hash:
        user.password_hash = new_hash
    return user


async def start_session(session: AsyncSession, user: User, config: TokenConfig) -> Session:
    """Sign a user in: an access token and the first refresh token of a new family."""
    return await _issue(session, user, config, family_id=uuid.uuid4(), now=utcnow())


async def refresh_session(session: AsyncSession, raw_token: str, config: TokenConfig) -> Session:
    """Trade a refresh token for a new pair; a spent token revokes its whole family.

    However many requests present one token at once, one claims it (see
    ``_claim``); to the others it is spent, which is a reuse: the family ends,
    the winner's new tokens with it, so a copied token never forks a session.
    """
    now = utcnow()
    token = await _find_refresh_token(session, raw_token)
    if token is None:
        raise InvalidToken()
    if token.used_at is None:
        if token.revoked_at is not None:
            raise InvalidToken()
        if token.expires_at <= now:
            raise TokenExpired()
        user = await _lock_sign_ins(session, token.user_id)
        if await _claim(session, token.id, now=now):
            return await _issue(session, user, config, family_id=token.family_id, now=now)
    # Spent before, or by a request racing this one (or revoked meanwhile, when
    # the family is already over and revoking it again changes nothing).
    await revoke_sign_ins(session, token.user_id, family_id=token.family_id, now=now)
    raise RefreshTokenReused()


async def end_session(session: AsyncSession, raw_token: str) -> None:
    """Sign out the session a refresh token belongs to. Unknown tokens are ignored."""
    token = await _find_refresh_token(session, raw_token)
    if token is not None:
        await revoke_sign_ins(session, token.user_id, family_id=token.family_id, now=utcnow())


async def end_all_sessions(
    session: AsyncSession, user: User, *, keep_web_session: str | None = None
) -> None:
    """Sign the user out everywhere: every API sign-in, whose access tokens stop at
    once, and every page session but ``keep_web_session`` (the browser that asked)."""
    await revoke_sign_ins(session, user.id, now=utcnow())
    await sessions.close_other_sessions(session, user, keep=keep_web_session)


async def change_password(
    session: AsyncSession,
    user: User,
    *,
    current: str,
    new: str,
    hasher: PasswordHasher,
    keep_web_session: str | None = None,
) -> None:
    """Replace the password after checking the current one; every other sign-in ends.
    ``user`` is as read before: both hashes are done before the first statement."""
    valid, _ = await hasher.verify(current, user.password_hash)
    if not valid:
        raise WrongPassword(field="current_password")
    problem = password_problem(new, user_inputs=[user.email, user.name])
    if problem:
        raise WeakPassword(problem, field="new_password")
    password_hash = await hasher.hash(new)
    locked = await _lock_sign_ins(session, user.id)
    if locked.password_hash != user.password_hash:  # changed meanwhile, elsewhere
        raise WrongPassword(field="current_password")
    locked.password_hash = password_hash
    await end_all_sessions(session, locked, keep_web_session=keep_web_session)


async def rename(session: AsyncSession, user_id: uuid.UUID, name: str) -> None:
    """Change the name the account is shown and greeted by."""
    user = await get_user(session, user_id)
    user.name = name


async def change_email(session: AsyncSession, user: User, email: str) -> None:
    """Give the account another (normalised) address, one no other account has."""
    if email == user.email:
        return
    if await find_user_by_email(session, email):
        raise EmailTaken(field="email")
    user.email = email
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as error:
        raise EmailTaken(field="email") from error


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise UserNotFound()
    return user


async def get_viewer(session: AsyncSession, user_id: uuid.UUID, *, session_id: uuid.UUID) -> User:
    """The user behind a bearer request, with their subscription (what they may watch
    is decided from it), and whether the sign-in ``session_id`` (the token's family)
    still stands: all in the one query every such request makes anyway."""
    live = exists().where(
        RefreshToken.family_id == session_id,
        RefreshToken.user_id == user_id,
        RefreshToken.revoked_at.is_(None),
    )
    row = (
        await session.execute(
            select(User, live).options(joinedload(User.subscription)).where(User.id == user_id)
        )
    ).first()
    if row is None:
        raise UserNotFound()
    user, signed_in = row
    if not signed_in:
        raise SessionEnded()
    return user


async def find_user_by_email(session: AsyncSession, email: str) -> User | None:
    user: User | None = await session.scalar(select(User).where(User.email == email))
    return user


async def count_users(session: AsyncSession) -> int:
    users = await session.scalar(select(func.count()).select_from(User))
    return int(users or 0)


def refuse_weak_password(password: str, *, user_inputs: list[str]) -> None:
    problem = password_problem(password, user_inputs=user_inputs)
    if problem:
        raise WeakPassword(problem, field="password")


async def _issue(
    session: AsyncSession,
    user: User,
    config: TokenConfig,
    *,
    family_id: uuid.UUID,
    now: datetime,
) -> Session:
    raw, token_hash = new_refresh_token()
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id,
            token_hash=token_hash,
            created_at=now,
            expires_at=now + config.refresh_ttl,
        )
    )
    await session.flush()
    return Session(
        user=user,
        access_token=issue_access_token(
            config, user.id, session_id=family_id, now=now, role=user.role.value
        ),
        refresh_token=raw,
        expires_in=int(config.access_ttl.total_seconds()),
    )


async def _find_refresh_token(session: AsyncSession, raw_token: str) -> RefreshToken | None:
    token: RefreshToken | None = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(raw_token))
    )
    return token


async def _claim(session: AsyncSession, token_id: uuid.UUID, *, now: datetime) -> bool:
    """Mark a refresh token used, unless it already is: one conditional UPDATE, which
    the database grants to one transaction only. On PostgreSQL (READ COMMITTED) a
    second claimant waits for the first to commit, then finds the row no longer
    matches; SQLite has one writer at a time."""
    claimed = await session.scalar(
        update(RefreshToken)
        .where(
            RefreshToken.id == token_id,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(used_at=now)
        .returning(RefreshToken.id)
    )
    return claimed is not None


async def _lock_sign_ins(session: AsyncSession, user_id: uuid.UUID) -> User:
    """Lock the user's row for the rest of the transaction, as every rotation and
    revocation of their refresh tokens does first. Without it, on PostgreSQL a
    revocation reads the family as it was when its UPDATE began and misses the
    token that a refresh in flight is adding, which then outlives the sign-out.
    (SQLite has one writer at a time and needs no lock.)"""
    user: User | None = await session.scalar(
        select(User).where(User.id == user_id).with_for_update(key_share=True)
    )
    if user is None:
        raise UserNotFound()
    return user


async def revoke_sign_ins(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    family_id: uuid.UUID | None = None,
    now: datetime,
) -> None:
    """End one of the user's sign-ins (the refresh-token family ``family_id``), or
    all of them; their access tokens stop working at once (see ``get_viewer``)."""
    await _lock_sign_ins(session, user_id)
    revoked = update(RefreshToken).where(
        RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)
    )
    if family_id is not None:
        revoked = revoked.where(RefreshToken.family_id == family_id)
    await session.execute(revoked.values(revoked_at=now))
