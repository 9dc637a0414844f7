"""A film's actions that span the catalogue, its media and the viewer's plan, written
once for the API, the admin pages and the CLI: publish, unpublish and delete a film, set
its poster, start playback (a view counted), and a viewer's progress report (the
device's stream heartbeat).

A flow takes the session and the collaborators it needs, never commits (the caller's
transaction does) and raises the domains' errors, which each surface answers its own way.
"""

import uuid
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.accounts.devices import Device
from kushfilms.billing import streams as billing_streams
from kushfilms.billing.streams import StreamRegistry
from kushfilms.catalog import service as catalog
from kushfilms.catalog.view_counter import ViewCounter
from kushfilms.config import Settings
from kushfilms.errors import KushError
from kushfilms.media import service as media
from kushfilms.media import watching
from kushfilms.media.delivery import playback
from kushfilms.media.delivery.playback import Playback
from kushfilms.media.storage import Storage
from kushfilms.models import Movie, User, Video, WatchHistory
from kushfilms.worker.queue import Jobs

MAX_POSTER_BYTES = 15 * 1024 * 1024


class PosterTooLarge(KushError):
    # The code of a body the size limit refuses before it reaches us: a client sees one
    # answer for "too large", whichever of the two noticed.
    status = 413
    code = "payload_too_large"
    message = f"The image is larger than {MAX_POSTER_BYTES // 1024**2} MiB."


class ImageFile(Protocol):
    """An uploaded file (Starlette's ``UploadFile`` is one)."""

    async def read(self, size: int = -1) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Film:
    """A film after a change, with its video (None before one is attached)."""

    movie: Movie
    video: Video | None


async def publish_film(session: AsyncSession, *, movie_id: uuid.UUID) -> Film:
    """Show the film to viewers; 409 ``video_not_ready`` until its video is ready."""
    await catalog.get_movie(session, movie_id, include_unpublished=True)  # 404 before 409
    video = await media.ready_video(session, movie_id)
    movie = await catalog.set_published(session, movie_id, True)
    return Film(movie, video)


async def unpublish_film(session: AsyncSession, *, movie_id: uuid.UUID) -> Film:
    movie = await catalog.set_published(session, movie_id, False)
    return Film(movie, await media.get_video(session, movie_id))


async def delete_film(session: AsyncSession, *, movie_id: uuid.UUID, jobs: Jobs) -> None:
    """Delete the film; its video and pictures are deleted by a job once this commits."""
    await catalog.get_movie(session, movie_id, include_unpublished=True)
    await media.forget_movie_media(session, movie_id, jobs)
    await catalog.delete_movie(session, movie_id)


async def set_poster(
    session: AsyncSession, *, movie_id: uuid.UUID, image: ImageFile, storage: Storage
) -> str:
    """Make an uploaded JPEG, PNG or WebP the film's poster; returns its key.

    413 ``payload_too_large`` past ``MAX_POSTER_BYTES`` (read no further than that),
    415 ``unsupported_image`` for anything that is not such an image.
    """
    data = await image.read(MAX_POSTER_BYTES + 1)
    if len(data) > MAX_POSTER_BYTES:
        raise PosterTooLarge()
    return await media.set_poster_from_image(session, movie_id=movie_id, data=data, storage=storage)


async def start_playback(
    session: AsyncSession,
    *,
    viewer: User | None,
    id_or_slug: str,
    settings: Settings,
    streams: StreamRegistry,
    device: Device,
    views: ViewCounter,
) -> Playback:
    """Signed media URLs for the viewer, if they may watch (see
    ``delivery.playback.start_playback`` for the refusals); each start is a view."""
    found = await playback.start_playback(
        session,
        viewer=viewer,
        id_or_slug=id_or_slug,
        settings=settings,
        streams=streams,
        device=device,
    )
    views.count(found.movie_id)
    return found


async def report_progress(
    session: AsyncSession,
    *,
    viewer: User,
    movie_id: uuid.UUID,
    position: int,
    device: Device | None,
    streams: StreamRegistry,
    settings: Settings,
) -> WatchHistory:
    """Remember how far the viewer got, and keep the device's stream alive (409
    ``too_many_streams`` when another device took its slot after it lapsed). Without a
    ``device`` (a report that came from no player) only the position is kept."""
    entry = await watching.record_progress(
        session, user=viewer, movie_id=movie_id, position=position
    )
    if device is not None:
        await billing_streams.keep_watching(
            session, streams, viewer=viewer, device=device, movie_id=movie_id, settings=settings
        )
    return entry
