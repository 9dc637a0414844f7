"""Videos: attaching an upload to a movie, its processing state, deletion."""

import asyncio
import threading
import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.catalog import service as catalog
from kushfilms.config import Settings
from kushfilms.db import Database, after_commit, transaction
from kushfilms.errors import Conflict, KushError
from kushfilms.kit.clock import utcnow
from kushfilms.kit.pagination import count
from kushfilms.media import layout
from kushfilms.media.ingest import staging, uploads
from kushfilms.media.ingest.probe import ProbeError, SourceInfo, probe
from kushfilms.models import Video, VideoStatus
from kushfilms.worker.queue import Jobs, enqueue

TRANSCODE = "media.transcode"
DELETE_OBJECTS = "media.delete_objects"


class InvalidMedia(KushError):
    """The upload is not a video we can play; it has been deleted."""

    status = 422
    code = "invalid_media"


class NotAVideo(InvalidMedia):
    status = 415
    code = "unsupported_media_type"


class VideoNotReady(Conflict):
    code = "video_not_ready"
    message = "This film has no playable video yet."


async def attach_video(
    db: Database,
    *,
    movie_id: uuid.UUID,
    upload_id: str,
    settings: Settings,
    jobs: Jobs,
) -> Video:
    """Make a finished upload the movie's video and start processing it.

    The source is probed first, with no transaction open; anything that is not
    a playable video is refused with the reason, and its bytes are deleted. The
    video is then recorded in one short transaction, and its job moves the
    source into storage: no transaction waits for the probe or the transfer.
    """
    async with db.reader() as session:
        await catalog.get_movie(session, movie_id, include_unpublished=True)
        upload = await uploads.completed_upload(session, upload_id, settings)
    try:
        info = await asyncio.to_thread(probe, layout.staged_upload(settings, upload_id))
    except ProbeError as error:
        async with transaction(db.writer) as session:
            await uploads.delete_upload(session, upload_id, settings)
        refusal = NotAVideo if error.code in ("unreadable", "no_video") else InvalidMedia
        raise refusal(f"{error} The upload has been deleted.", reason=error.code) from error

    video = Video(id=uuid.uuid4(), movie_id=movie_id, source_filename=upload.filename[:255])
    video.source_key = layout.source_key(video.id)
    _record_source(video, info)
    try:
        held = await asyncio.to_thread(staging.hold_for_video, settings, upload_id, video.id)
    except FileNotFoundError as error:  # another attach of it committed meanwhile
        raise uploads.UploadAlreadyAttached() from error
    recorded = threading.Event()  # set by the commit itself, whatever fails after it
    try:
        async with transaction(db.writer) as session:
            after_commit(session, recorded.set)
            await _record_video(session, video, upload_id=upload_id, settings=settings, jobs=jobs)
    finally:
        if not recorded.is_set():
            held.unlink(missing_ok=True)
    return video


async def _record_video(
    session: AsyncSession, video: Video, *, upload_id: str, settings: Settings, jobs: Jobs
) -> None:
    """Take the upload (once: a second attach of it is refused), replace the movie's
    previous video (its objects are deleted by a job) and queue the transcode."""
    await catalog.get_movie(session, video.movie_id, include_unpublished=True)
    await uploads.take_completed_upload(session, upload_id, settings)
    uploads.release_staged_file(session, settings, upload_id)
    previous = await get_video(session, video.movie_id)
    if previous is not None:
        await session.delete(previous)
        await session.flush()
        enqueue(session, jobs, DELETE_OBJECTS, layout.video_prefix(previous.id))
    session.add(video)
    await session.flush()
    await catalog.set_duration(session, video.movie_id, round(video.source_duration))
    enqueue(session, jobs, TRANSCODE, str(video.id))


def _record_source(video: Video, info: SourceInfo) -> None:
    video.status = VideoStatus.UPLOADED
    video.source_size = info.size_bytes
    video.source_container = info.container[:64]
    video.source_video_codec = info.video_codec[:32]
    video.source_width = info.display_width
    video.source_height = info.display_height
    video.source_frame_rate = info.frame_rate
    video.source_duration = info.duration
    video.source_rotation = info.rotation
    video.source_audio_codec = info.audio_codec
    video.source_audio_channels = info.audio_channels
    video.source_info = info.to_json()


async def get_video(session: AsyncSession, movie_id: uuid.UUID) -> Video | None:
    video: Video | None = await session.scalar(select(Video).where(Video.movie_id == movie_id))
    return video


async def videos_of(
    session: AsyncSession, movie_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Video]:
    if not movie_ids:
        return {}
    rows = await session.scalars(select(Video).where(Video.movie_id.in_(movie_ids)))
    return {video.movie_id: video for video in rows}


IN_PROGRESS = (VideoStatus.UPLOADED, VideoStatus.PROCESSING)


async def videos_in_progress(session: AsyncSession, *, limit: int = 50) -> Sequence[Video]:
    """Videos waiting for or in the middle of processing, oldest first."""
    rows = await session.scalars(
        select(Video)
        .where(Video.status.in_(IN_PROGRESS))
        .order_by(Video.created_at, Video.id)
        .limit(limit)
    )
    return rows.all()


async def count_in_progress(session: AsyncSession) -> int:
    return await count(session, select(Video.id).where(Video.status.in_(IN_PROGRESS)))


async def recent_failures(session: AsyncSession, *, limit: int = 5) -> Sequence[Video]:
    """The videos whose processing failed, latest first."""
    rows = await session.scalars(
        select(Video)
        .where(Video.status == VideoStatus.FAILED)
        .order_by(Video.updated_at.desc(), Video.id)
        .limit(limit)
    )
    return rows.all()


async def ready_video(session: AsyncSession, movie_id: uuid.UUID) -> Video:
    video = await get_video(session, movie_id)
    if video is None or video.status != VideoStatus.READY:
        raise VideoNotReady(status=video.status.value if video else "no_video")
    return video


async def forget_movie_media(session: AsyncSession, movie_id: uuid.UUID, jobs: Jobs) -> None:
    """Once the movie's deletion commits, delete its stored objects (in a job)."""
    video = await get_video(session, movie_id)
    if video is not None:
        enqueue(session, jobs, DELETE_OBJECTS, layout.video_prefix(video.id))
    enqueue(session, jobs, DELETE_OBJECTS, layout.art_prefix(movie_id))


async def stalled_videos(
    session: AsyncSession, *, held_by: Collection[str] = ()
) -> Sequence[Video]:
    """Videos whose worker stopped renewing its lease (it died mid-job), or whose lease
    is held by one of the workers ``held_by`` (known dead)."""
    stalled = Video.lease_until < utcnow()
    if held_by:
        stalled = or_(stalled, Video.lease_owner.in_(held_by))
    rows = await session.scalars(
        select(Video).where(Video.status == VideoStatus.PROCESSING, stalled)
    )
    return rows.all()
