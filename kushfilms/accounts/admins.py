"""Administrators: who they are, how one is made, and that one always remains."""

import uuid
from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.accounts import service
from kushfilms.accounts.passwords import PasswordHasher
from kushfilms.errors import Conflict, Unprocessable
from kushfilms.kit.clock import utcnow
from kushfilms.kit.pagination import Paged, PageRequest, paginate_scalars
from kushfilms.kit.text import contains_pattern
from kushfilms.models import Role, User


class LastAdmin(Conflict):
    code = "last_admin"
    message = "The last administrator cannot be demoted."


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
    user = await service.get_user(session, user_id)
    if role == user.role:
        return user
    if user.role == Role.ADMIN and len(await _lock_admins(session)) <= 1:
        raise LastAdmin()
    user.role = role
    await service.revoke_sign_ins(session, user.id, now=utcnow())
    return user


async def first_admin(session: AsyncSession) -> User | None:
    admin: User | None = await session.scalar(
        select(User).where(User.role == Role.ADMIN).order_by(User.created_at).limit(1)
    )
    return admin


async def count_admins(session: AsyncSession) -> int:
    admins = await session.scalar(select(func.count()).where(User.role == Role.ADMIN))
    return int(admins or 0)


async def ensure_admin(
    session: AsyncSession, *, email: str, password: str | None, name: str, hasher: PasswordHasher
) -> tuple[User, bool]:
    """Promote the account with this email, or create it as an admin.

    Returns the user and whether it was created. A new account needs a password;
    an existing one keeps its own unless a new one is given.
    """
    # Hashed before the first statement, so no transaction is open across argon2.
    password_hash = await hasher.hash(password) if password else None
    user = await service.find_user_by_email(session, email)
    if user is None:
        if password is None or password_hash is None:
            raise Unprocessable("A password is needed to create a new account.")
        service.refuse_weak_password(password, user_inputs=[email, name])
        user = await service.add_user(session, email=email, name=name, password_hash=password_hash)
        user.role = Role.ADMIN
        user.email_verified_at = utcnow()  # the operator vouches for it
        return user, True
    user.role = Role.ADMIN
    if password and password_hash:
        service.refuse_weak_password(password, user_inputs=[email, user.name])
        user.password_hash = password_hash
    return user, False


async def _lock_admins(session: AsyncSession) -> Sequence[uuid.UUID]:
    """The administrators' ids, their rows locked for the rest of the transaction, so
    that two administrators demoting each other at once cannot both succeed: the
    second waits, then finds one administrator left. (SQLite: one writer at a time.)"""
    rows = await session.scalars(
        select(User.id).where(User.role == Role.ADMIN).with_for_update(key_share=True)
    )
    return rows.all()
