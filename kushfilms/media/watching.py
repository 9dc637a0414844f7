"""What each viewer has watched, and where to resume."""

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.catalog import service as catalog
from kushfilms.kit.clock import utcnow
from kushfilms.kit.pagination import Paged, PageRequest, count
from kushfilms.models import Movie, User, WatchHistory

COMPLETED_AT = 0.9  # watched this share of a film, it counts as seen, and starts over
# The most a progress report may say, for the API and the player alike. A position
# within the film is clamped to its duration anyway; this bound only refuses a report
# no player sends, and stays loose enough for a film whose duration is not known yet
# (probing has not run) however long it is: the longest films made run for days.
MAX_POSITION = 7 * 24 * 3600


async def record_progress(
    session: AsyncSession, *, user: User, movie_id: uuid.UUID, position: int
) -> WatchHistory:
    """Remember how far the viewer got; past 90 % the film is completed."""
    movie = await catalog.get_movie(session, movie_id)
    position = min(position, movie.duration) if movie.duration else position
    entry = await _entry(session, user.id, movie.id)
    if entry is None:
        entry = WatchHistory(user_id=user.id, movie_id=movie.id)
        try:
            async with session.begin_nested():
                session.add(entry)
        except IntegrityError:  # two reports raced; the other row wins
            entry = await _entry(session, user.id, movie.id)
            assert entry is not None
    entry.progress = position
    entry.completed = entry.completed or _completed(position, movie)
    entry.watched_at = utcnow()
    await session.flush()
    return entry


def _completed(position: int, movie: Movie) -> bool:
    return movie.duration > 0 and position >= COMPLETED_AT * movie.duration


async def resume_position(session: AsyncSession, viewer: User | None, movie: Movie) -> int:
    """Where to start: the last position, or the beginning once the film was watched to
    the end (``COMPLETED_AT``). The only start-over rule: players start where this says."""
    if viewer is None:
        return 0
    entry = await _entry(session, viewer.id, movie.id)
    if entry is None or _completed(entry.progress, movie):
        return 0
    return entry.progress


async def history(
    session: AsyncSession, *, user: User, page: PageRequest
) -> Paged[tuple[WatchHistory, Movie]]:
    """The viewer's films, most recently watched first (published ones only)."""
    statement = (
        select(WatchHistory)
        .where(
            WatchHistory.user_id == user.id,
            WatchHistory.movie_id.in_(catalog.published_movie_ids()),
        )
        .order_by(WatchHistory.watched_at.desc(), WatchHistory.id)
    )
    total = await count(session, statement)
    entries = list(await session.scalars(statement.limit(page.page_size).offset(page.offset)))
    movies = await catalog.movies_by_id(session, [entry.movie_id for entry in entries])
    items = [(entry, movies[entry.movie_id]) for entry in entries if entry.movie_id in movies]
    return Paged(items=items, total=total, request=page)


async def _entry(
    session: AsyncSession, user_id: uuid.UUID, movie_id: uuid.UUID
) -> WatchHistory | None:
    entry: WatchHistory | None = await session.scalar(
        select(WatchHistory).where(
            WatchHistory.user_id == user_id, WatchHistory.movie_id == movie_id
        )
    )
    return entry
