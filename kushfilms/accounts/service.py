"""Accounts: registration, sign-in, token rotation and roles."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, or_, select, update
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
from kushfilms.kit.pagination import Paged, PageRequest, paginate_scalars
from kushfilms.kit.text import contains_pattern
from kushfilms.models import RefreshToken, Role, User


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


class LastAdmin(Conflict):
    code = "last_admin"
    message = "The last administrator cannot be demoted."


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
    problem = password_problem(password, user_inputs=[email, name])
    if problem:
        raise WeakPassword(problem, field="password")
    # Hashed before the first statement, so no transaction is open across argon2 (and
    # a taken email costs the same time as a free one).
    password_hash = await hasher.hash(password)
    if await find_user_by_email(session, email):
        raise EmailTaken(field="email")
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
    await _revoke(session, token.user_id, family_id=token.family_id, now=now)
    raise RefreshTokenReused()


async def end_session(session: AsyncSession, raw_token: str) -> None:
    """Sign out the session a refresh token belongs to. Unknown tokens are ignored."""
    token = await _find_refresh_token(session, raw_token)
    if token is not None:
        await _revoke(session, token.user_id, family_id=token.family_id, now=utcnow())


async def end_all_sessions(
    session: AsyncSession, user: User, *, keep_web_session: str | None = None
) -> None:
    """Sign the user out everywhere: every API sign-in, whose access tokens stop at
    once, and every page session but ``keep_web_session`` (the browser that asked)."""
    await _revoke(session, user.id, now=utcnow())
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
    """Replace the password after checking the current one; every other sign-in ends."""
    valid, _ = await hasher.verify(current, user.password_hash)
    if not valid:
        raise WrongPassword(field="current_password")
    problem = password_problem(new, user_inputs=[user.email, user.name])
    if problem:
        raise WeakPassword(problem, field="new_password")
    user.password_hash = await hasher.hash(new)
    await end_all_sessions(session, user, keep_web_session=keep_web_session)


async def update_profile(session: AsyncSession, user: User, *, name: str, email: str) -> None:
    """Change the display name and the (normalised) email."""
    if email != user.email:
        if await find_user_by_email(session, email):
            raise EmailTaken(field="email")
        user.email = email
    user.name = name
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


async def list_users(
    session: AsyncSession, *, search: str | None, page: PageRequest
) -> Paged[User]:
    statement = select(User).order_by(User.created_at.desc(), User.id)
    if search:
        pattern = contains_pattern(search.lower())
        statement = statement.where(
            or_(
                User.email.like(pattern, escape="\\"),
                func.lower(User.name).like(pattern, escape="\\"),
            )
        )
    return await paginate_scalars(session, statement, page)


async def change_role(session: AsyncSession, *, user_id: uuid.UUID, role: Role) -> User:
    """Make the user an administrator or a viewer. Their API sign-ins end, so no
    token issued under the old role stays in use; page sessions read the role
    afresh at every request and go on."""
    user = await get_user(session, user_id)
    if role == user.role:
        return user
    if user.role == Role.ADMIN and len(await _lock_admins(session)) <= 1:
        raise LastAdmin()
    user.role = role
    await _revoke(session, user.id, now=utcnow())
    return user


async def first_admin(session: AsyncSession) -> User | None:
    admin: User | None = await session.scalar(
        select(User).where(User.role == Role.ADMIN).order_by(User.created_at).limit(1)
    )
    return admin


async def count_admins(session: AsyncSession) -> int:
    admins = await session.scalar(select(func.count()).where(User.role == Role.ADMIN))
    return int(admins or 0)


async def count_users(session: AsyncSession) -> int:
    users = await session.scalar(select(func.count()).select_from(User))
    return int(users or 0)


async def ensure_admin(
    session: AsyncSession, *, email: str, password: str | None, name: str, hasher: PasswordHasher
) -> tuple[User, bool]:
    """Promote the account with this email, or create it as an admin.

    Returns the user and whether it was created. A new account needs a password;
    an existing one keeps its own unless a new one is given.
    """
    user = await find_user_by_email(session, email)
    if user is None:
        if not password:
            raise Unprocessable("A password is needed to create a new account.")
        user = await register(session, email=email, password=password, name=name, hasher=hasher)
        user.role = Role.ADMIN
        return user, True
    user.role = Role.ADMIN
    if password:
        problem = password_problem(password, user_inputs=[email, user.name])
        if problem:
            raise WeakPassword(problem, field="password")
        user.password_hash = await hasher.hash(password)
    return user, False


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
        access_token=issue_access_token(config, user.id, session_id=family_id, now=now),
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


async def _lock_admins(session: AsyncSession) -> Sequence[uuid.UUID]:
    """The administrators' ids, their rows locked for the rest of the transaction, so
    that two administrators demoting each other at once cannot both succeed: the
    second waits, then finds one administrator left. (SQLite: one writer at a time.)"""
    rows = await session.scalars(
        select(User.id).where(User.role == Role.ADMIN).with_for_update(key_share=True)
    )
    return rows.all()


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


async def _revoke(
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
