"""A film's actions that span the catalogue, its media and the viewer's plan, written
once for the API, the admin pages and the CLI: publish, unpublish and delete a film, set
its poster or backdrop, start playback (a view counted; an administrator's preview counts
none), a viewer's progress report (the device's stream heartbeat), and a player leaving (its
stream ended) or shown again (its stream started again).

A flow takes the session and the collaborators it needs, never commits (the caller's
transaction does) and raises the domains' errors, which each surface answers its own way.
Setting a picture is the exception: its image work and storage transfers must run with no
transaction open, so it takes the database and keeps its own transactions short.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.accounts.devices import Device
from kushfilms.billing import streams as billing_streams
from kushfilms.billing.streams import Stream, StreamRegistry
from kushfilms.catalog import service as catalog
from kushfilms.catalog.view_counter import ViewCounter
from kushfilms.config import Settings
from kushfilms.db import Database, transaction
from kushfilms.errors import KushError
from kushfilms.media import pictures, watching
from kushfilms.media import service as media
from kushfilms.media.delivery import playback
from kushfilms.media.delivery.playback import Playback
from kushfilms.media.pictures import Kind, Pictures
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


async def set_picture(
    db: Database, *, movie_id: uuid.UUID, kind: Kind, image: ImageFile, storage: Storage
) -> Pictures:
    """Make an uploaded JPEG, PNG or WebP the film's poster or backdrop (``kind``), and
    derive the other from it unless an administrator gave that one too; returns the
    film's pictures.

    413 ``payload_too_large`` past ``MAX_POSTER_BYTES`` (read no further than that),
    404 for no such film, 415 ``unsupported_image`` for anything that is not such an
    image; a refused image changes nothing.
    """
    data = await image.read(MAX_POSTER_BYTES + 1)
    if len(data) > MAX_POSTER_BYTES:
        raise PosterTooLarge()
    async with db.reader() as session:
        movie = await catalog.get_movie(session, movie_id, include_unpublished=True)
        current = Pictures.of(movie)
    picture = await pictures.read_upload(data)
    _, derive = pictures.placement(current, kind, "upload")
    made = await pictures.make(
        storage, movie_id, kind=kind, origin="upload", image=picture, derive=derive
    )
    async with transaction(db.writer) as session:
        return await pictures.record(session, movie_id, made)


async def start_playback(
    session: AsyncSession,
    *,
    viewer: User | None,
    id_or_slug: str,
    settings: Settings,
    streams: StreamRegistry,
    device: Device,
    views: ViewCounter,
    preview: bool = False,
) -> Playback:
    """Signed media URLs for the viewer, if they may watch (see
    ``delivery.playback.start_playback`` for the refusals); each start is a view, but
    an administrator's ``preview``."""
    found = await playback.start_playback(
        session,
        viewer=viewer,
        id_or_slug=id_or_slug,
        settings=settings,
        streams=streams,
        device=device,
        preview=preview,
    )
    if not found.preview:
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


async def resume_stream(
    session: AsyncSession,
    *,
    viewer: User,
    movie_id: uuid.UUID,
    device: Device,
    streams: StreamRegistry,
    settings: Settings,
) -> Stream:
    """A player shown again after it gave its place up (hidden, or kept by the browser
    while away): its device's stream started again, if the plan has a place free
    (409 ``too_many_streams`` else). No view: the film was already started."""
    limit = await billing_streams.stream_limit(session, viewer, settings)
    return await streams.open(viewer, device, movie_id=movie_id, limit=limit)


async def leave_playback(
    session: AsyncSession,
    *,
    viewer: User,
    movie_id: uuid.UUID,
    position: int | None,
    device_id: str | None,
    started_at: datetime,
    streams: StreamRegistry,
) -> bool:
    """A player hidden or closing: remember how far the viewer got (when it says) and
    give up its device's place, if the stream is still the one it started
    (``started_at``): a newer page of the same device keeps its own. Whether a stream
    ended."""
    if position is not None:
        await watching.record_progress(session, user=viewer, movie_id=movie_id, position=position)
    if device_id is None:
        return False
    return await streams.end(viewer, device_id, started_at=started_at)
