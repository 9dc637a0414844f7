"""Browser sessions for the pages: an opaque token in an HttpOnly cookie.

Sessions last 30 days from the last visit. A visit is written at most every
ten minutes, so reading pages does not mean writing the database each time.
"""

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from kushfilms.kit.clock import utcnow
from kushfilms.models import User, WebSession

COOKIE = "kf_session"
LIFETIME = timedelta(days=30)
TOUCH_EVERY = timedelta(minutes=10)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(session: AsyncSession, user: User, *, user_agent: str = "") -> str:
    """Start a browser session; returns the token for the cookie."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        WebSession(
            user_id=user.id,
            token_hash=_hash(token),
            user_agent=user_agent[:255],
            created_at=now,
            last_seen_at=now,
            expires_at=now + LIFETIME,
        )
    )
    await session.flush()
    return token


async def find_session(session: AsyncSession, token: str) -> tuple[WebSession, User] | None:
    """The live session behind a cookie and its user, or None."""
    row = (
        await session.execute(
            select(WebSession, User)
            .join(User, User.id == WebSession.user_id)
            .options(joinedload(User.subscription))
            .where(WebSession.token_hash == _hash(token), WebSession.expires_at > utcnow())
        )
    ).first()
    return (row[0], row[1]) if row else None


def needs_touch(web_session: WebSession) -> bool:
    return utcnow() - web_session.last_seen_at > TOUCH_EVERY


async def touch(session: AsyncSession, session_id: object) -> None:
    """Note a visit: the session lives on for another LIFETIME."""
    web_session = await session.get(WebSession, session_id)
    if web_session is not None:
        now = utcnow()
        web_session.last_seen_at = now
        web_session.expires_at = now + LIFETIME


async def close_session(session: AsyncSession, token: str) -> None:
    await session.execute(delete(WebSession).where(WebSession.token_hash == _hash(token)))


async def close_other_sessions(session: AsyncSession, user: User, *, keep: str | None) -> None:
    """Sign the user out everywhere but (optionally) the session with token ``keep``."""
    statement = delete(WebSession).where(WebSession.user_id == user.id)
    if keep is not None:
        statement = statement.where(WebSession.token_hash != _hash(keep))
    await session.execute(statement)
