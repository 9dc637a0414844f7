"""Accounts: registration, sign-in, token rotation and roles."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from kushfilms.accounts.passwords import (
    hash_password,
    password_problem,
    verify_against_nothing,
    verify_password,
)
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


async def register(session: AsyncSession, *, email: str, password: str, name: str) -> User:
    """Create a viewer account. ``email`` must already be normalised."""
    problem = password_problem(password, user_inputs=[email, name])
    if problem:
        raise WeakPassword(problem, field="password")
    if await find_user_by_email(session, email):
        raise EmailTaken(field="email")
    user = User(email=email, name=name, password_hash=await hash_password(password))
    session.add(user)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as error:  # a concurrent registration won the race
        raise EmailTaken(field="email") from error
    return user


async def authenticate(session: AsyncSession, *, email: str, password: str) -> User:
    user = await find_user_by_email(session, email)
    if user is None:
        await verify_against_nothing(password)
        raise InvalidCredentials()
    valid, new_hash = await verify_password(password, user.password_hash)
    if not valid:
        raise InvalidCredentials()
    if new_hash:
        user.password_hash = new_hash
    return user


async def start_session(session: AsyncSession, user: User, config: TokenConfig) -> Session:
    """Sign a user in: an access token and the first refresh token of a new family."""
    return await _issue(session, user, config, family_id=uuid.uuid4(), now=utcnow())


async def refresh_session(session: AsyncSession, raw_token: str, config: TokenConfig) -> Session:
    """Trade a refresh token for a new pair; a spent token revokes its whole family."""
    now = utcnow()
    token = await _find_refresh_token(session, raw_token)
    if token is None or token.revoked_at is not None:
        raise InvalidToken()
    if token.used_at is not None:
        await _revoke_family(session, token.family_id, now=now)
        raise RefreshTokenReused()
    if token.expires_at <= now:
        raise TokenExpired()
    token.used_at = now
    user = await get_user(session, token.user_id)
    return await _issue(session, user, config, family_id=token.family_id, now=now)


async def end_session(session: AsyncSession, raw_token: str) -> None:
    """Sign out the session a refresh token belongs to. Unknown tokens are ignored."""
    token = await _find_refresh_token(session, raw_token)
    if token is not None:
        await _revoke_family(session, token.family_id, now=utcnow())


async def change_password(session: AsyncSession, user: User, *, current: str, new: str) -> None:
    """Replace the password after checking the current one; other sign-ins end."""
    valid, _ = await verify_password(current, user.password_hash)
    if not valid:
        raise WrongPassword(field="current_password")
    problem = password_problem(new, user_inputs=[user.email, user.name])
    if problem:
        raise WeakPassword(problem, field="new_password")
    user.password_hash = await hash_password(new)
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


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


async def get_viewer(session: AsyncSession, user_id: uuid.UUID) -> User:
    """The user behind a request, with their subscription loaded in the same query
    (what they may watch is decided from it without another)."""
    user: User | None = await session.scalar(
        select(User).options(joinedload(User.subscription)).where(User.id == user_id)
    )
    if user is None:
        raise UserNotFound()
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
    user = await get_user(session, user_id)
    if user.role == Role.ADMIN and role != Role.ADMIN and await count_admins(session) <= 1:
        raise LastAdmin()
    user.role = role
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
    session: AsyncSession, *, email: str, password: str | None, name: str
) -> tuple[User, bool]:
    """Promote the account with this email, or create it as an admin.

    Returns the user and whether it was created. A new account needs a password;
    an existing one keeps its own unless a new one is given.
    """
    user = await find_user_by_email(session, email)
    if user is None:
        if not password:
            raise Unprocessable("A password is needed to create a new account.")
        user = await register(session, email=email, password=password, name=name)
        user.role = Role.ADMIN
        return user, True
    user.role = Role.ADMIN
    if password:
        problem = password_problem(password, user_inputs=[email, user.name])
        if problem:
            raise WeakPassword(problem, field="password")
        user.password_hash = await hash_password(password)
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
        access_token=issue_access_token(config, user.id, now=now),
        refresh_token=raw,
        expires_in=int(config.access_ttl.total_seconds()),
    )


async def _find_refresh_token(session: AsyncSession, raw_token: str) -> RefreshToken | None:
    token: RefreshToken | None = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(raw_token))
    )
    return token


async def _revoke_family(session: AsyncSession, family_id: uuid.UUID, *, now: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
