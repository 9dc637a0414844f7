"""Media jobs: transcode a video into its HLS ladder, delete objects, recover stalls.

A transcode holds a lease on its video and renews it with every progress
report; a worker that dies stops renewing, and :func:`recover_stalled` hands
the video to another attempt. The lease names its worker (``lease_owner``), so
that a worker known dead (``worker.heartbeat``) loses its leases at once rather
than when they run out. A video is tried at most MAX_ATTEMPTS times.

Every stage reports into one tracker (``transcoding.progress``), and each heartbeat
stores the job's percent, never lower than it was (a retry starts over underneath the
figure an earlier attempt reached), and the time left.
"""

import asyncio
import contextlib
import hashlib
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.catalog import service as catalog
from kushfilms.config import Settings
from kushfilms.db import Database, transaction
from kushfilms.kit.clock import utcnow
from kushfilms.media import layout, pictures
from kushfilms.media import service as media
from kushfilms.media.ffmpeg import TranscodeCancelled, TranscodeError, ffmpeg_executable, run_ffmpeg
from kushfilms.media.ingest import uploads
from kushfilms.media.ingest.probe import SourceInfo
from kushfilms.media.storage import Storage, content_type
from kushfilms.media.transcoding.artwork import poster_spec
from kushfilms.media.transcoding.ladder import (
    Rung,
    ladder_command,
    output_dirs,
    plan_ladder,
    sprite_spec_for,
)
from kushfilms.media.transcoding.outputs import finish_outputs
from kushfilms.media.transcoding.progress import Stage, Tracker, stage_costs
from kushfilms.models import Video, VideoStatus
from kushfilms.worker import heartbeat
from kushfilms.worker.context import JobContext
from kushfilms.worker.queue import JobSpec, enqueue

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
HEARTBEAT_SECONDS = 2.0
T = TypeVar("T")


@dataclass(frozen=True)
class Claim:
    video_id: uuid.UUID
    movie_id: uuid.UUID
    source_key: str
    prefix: str
    attempt: int
    source: SourceInfo  # as probed when the upload was attached


@dataclass
class Stopwatch:
    """How long each stage of a job took, for its log line."""

    laps: dict[str, float] = field(default_factory=dict)
    mark: float = field(default_factory=time.monotonic)

    def lap(self, stage: str) -> None:
        now = time.monotonic()
        self.laps[stage] = now - self.mark
        self.mark = now

    def __str__(self) -> str:
        return ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in self.laps.items())


async def transcode(context: JobContext, video_id: str) -> None:
    settings, db = context.settings, context.db
    claim = await _claim(db, uuid.UUID(video_id), timedelta(seconds=settings.job_lease_seconds))
    if claim is None:
        return  # another worker holds it: its scratch directory is not ours to touch
    work = layout.scratch_dir(settings, claim.video_id)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        await _process(context, claim, work)
    except TranscodeCancelled:
        log.info("transcode of video %s cancelled (its movie was deleted)", video_id)
    except TranscodeError as error:
        if claim.attempt >= MAX_ATTEMPTS:
            await _fail(db, claim, f"Transcoding failed {claim.attempt} times: {error}")
            return
        await _release(db, claim, f"Attempt {claim.attempt} failed ({error}); retrying.")
        raise  # the queue retries with backoff
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def _process(context: JobContext, claim: Claim, work: Path) -> None:
    settings, db, storage = context.settings, context.db, context.storage
    stopwatch = Stopwatch()
    info = claim.source
    rungs = plan_ladder(info, settings.ladder_bitrates)
    sprite = sprite_spec_for(info.duration)
    tracker = Tracker(stage_costs(info, rungs, sprite), started=time.monotonic())
    lease = timedelta(seconds=settings.job_lease_seconds)
    local, digest = await _keeping_lease(
        db, claim, lease, tracker, _fetch_source(storage, settings, claim, work)
    )
    tracker.advance(Stage.SOURCE, 1.0)
    stopwatch.lap("source")

    out = layout.ladder_output(work)
    for directory in output_dirs(out, rungs):
        directory.mkdir(parents=True, exist_ok=True)
    ffmpeg = ffmpeg_executable(settings.ffmpeg_path)
    command = ladder_command(
        ffmpeg, local, out, info, rungs, sprite=sprite, poster=poster_spec(info)
    )
    await _run_ffmpeg(db, claim, lease, tracker, command, info, rungs)
    stopwatch.lap("ffmpeg")

    frame = layout.scratch_poster(work)
    making = asyncio.to_thread(finish_outputs, out, frame, info, rungs, sprite)
    renditions = await _keeping_lease(db, claim, lease, tracker, making)
    tracker.advance(Stage.PICTURES, 1.0)
    stopwatch.lap("pictures")

    storing = _store_outputs(db, storage, claim, out, frame, tracker)
    made = await _keeping_lease(db, claim, lease, tracker, storing)
    stopwatch.lap("store")

    async with transaction(db.writer) as session:
        video = await _current(session, claim)
        if video is None:  # the movie was deleted while we worked
            await storage.delete_prefix(claim.prefix)
            return
        video.status = VideoStatus.READY
        video.progress = 100.0
        video.eta_seconds = None
        video.error = None
        video.lease_until = None
        video.lease_owner = None
        video.source_sha256 = digest
        video.renditions = [rendition.to_dict() for rendition in renditions]
        video.poster_key = made.key
        video.thumbnails_key = layout.thumbnails_key(claim.video_id)
        video.ready_at = utcnow()
        await pictures.record(session, claim.movie_id, made)
    stopwatch.lap("record")
    names = ", ".join(rendition.name for rendition in renditions)
    log.info("video %s is ready: %s (%s)", claim.video_id, names, stopwatch)


async def _store_outputs(
    db: Database, storage: Storage, claim: Claim, out: Path, frame: Path, tracker: Tracker
) -> pictures.Made:
    """Store the ladder, and the frame as the film's picture of its shape (and the other
    derived from it) unless the film has pictures an administrator gave."""
    hls_prefix = layout.hls_prefix(claim.video_id)
    await storage.delete_prefix(hls_prefix)  # a rerun leaves exactly one set of outputs
    await _upload_tree(
        storage, out, hls_prefix, lambda done: tracker.advance(Stage.STORE, done * 0.9)
    )
    try:
        made = await pictures.make_from_frame(db, storage, claim.movie_id, frame)
    except catalog.MovieNotFound as error:  # deleted while we worked
        await storage.delete_prefix(claim.prefix)
        raise TranscodeCancelled from error
    tracker.advance(Stage.STORE, 1.0)
    return made


async def _fetch_source(
    storage: Storage, settings: Settings, claim: Claim, work: Path
) -> tuple[Path, str]:
    """The source as a local file (stored first, downloaded if the store is remote) and
    its SHA-256."""
    await _store_source(storage, settings, claim)
    local = storage.local_path(claim.source_key)
    if local is None:
        local = layout.scratch_source(work)
        await storage.download(claim.source_key, local)
    return local, await asyncio.to_thread(_sha256, local)


async def _keeping_lease(
    db: Database,
    claim: Claim,
    lease: timedelta,
    tracker: Tracker,
    work: Coroutine[Any, Any, T],
    stop: threading.Event | None = None,
) -> T:
    """Await ``work`` (a transfer of many GiB, a hash, ffmpeg) renewing the lease and
    reporting progress meanwhile, so that recovery never takes a live job for a dead one.
    When the lease is lost, ``work`` is cancelled, or asked to stop through ``stop``
    (a thread cannot be cancelled; it raises TranscodeCancelled once it sees the event)."""
    running = asyncio.ensure_future(work)
    while not running.done():
        await asyncio.wait({running}, timeout=HEARTBEAT_SECONDS)
        if running.done() or await _heartbeat(db, claim, tracker, lease):
            continue
        if stop is not None:
            stop.set()
            continue
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        raise TranscodeCancelled
    return await running


async def _store_source(storage: Storage, settings: Settings, claim: Claim) -> None:
    """Move the source that the attach left held on disk into storage, unless an earlier
    attempt did (it stored the object, then removed the held file)."""
    held = layout.held_source(settings, claim.video_id)
    if await asyncio.to_thread(held.is_file):
        await storage.move_in(claim.source_key, held, content_type="application/octet-stream")
    elif not await storage.exists(claim.source_key):
        raise TranscodeError("The source file is missing: it was neither held nor stored.")


async def _run_ffmpeg(
    db: Database,
    claim: Claim,
    lease: timedelta,
    tracker: Tracker,
    command: list[str],
    info: SourceInfo,
    rungs: list[Rung],
) -> None:
    stop = threading.Event()
    running = asyncio.to_thread(
        run_ffmpeg,
        command,
        duration=info.duration,
        frames=info.duration * rungs[0].fps,
        on_progress=lambda done: tracker.advance(Stage.ENCODE, done),
        should_stop=stop.is_set,
    )
    await _keeping_lease(db, claim, lease, tracker, running, stop)


async def _claim(db: Database, video_id: uuid.UUID, lease: timedelta) -> Claim | None:
    async with transaction(db.writer) as session:
        # Locked: two workers given one job (the queue's copy and a demo, say) must not
        # both read it waiting and both take it, sharing one scratch directory.
        video = await session.scalar(
            select(Video).where(Video.id == video_id).with_for_update(key_share=True)
        )
        now = utcnow()
        if video is None or video.status in (VideoStatus.READY, VideoStatus.FAILED):
            return None
        if video.status == VideoStatus.PROCESSING and video.lease_until and video.lease_until > now:
            return None  # another worker holds it
        video.status = VideoStatus.PROCESSING
        video.attempts += 1
        video.lease_until = now + lease
        video.lease_owner = heartbeat.this_process().id
        video.eta_seconds = None  # its progress stays: a retry never shows less
        video.processing_started_at = now
        return Claim(
            video.id,
            video.movie_id,
            video.source_key,
            layout.video_prefix(video.id),
            video.attempts,
            SourceInfo.from_json(video.source_info),
        )


async def _current(session: AsyncSession, claim: Claim) -> Video | None:
    """The claimed video, unless it was deleted or another attempt took it over."""
    video = await session.get(Video, claim.video_id)
    if video is None or video.attempts != claim.attempt:
        return None
    return video


async def _heartbeat(db: Database, claim: Claim, tracker: Tracker, lease: timedelta) -> bool:
    percent, left = tracker.reading(time.monotonic())
    async with transaction(db.writer) as session:
        video = await _current(session, claim)
        if video is None or video.status != VideoStatus.PROCESSING:
            return False
        video.progress = max(video.progress, round(min(percent, 99.9), 1))
        video.eta_seconds = None if left is None else round(left)
        video.lease_until = utcnow() + lease
        return True


async def _fail(db: Database, claim: Claim, message: str) -> None:
    async with transaction(db.writer) as session:
        video = await _current(session, claim)
        if video is not None:
            video.status = VideoStatus.FAILED
            video.error = message[:2000]
            video.lease_until = None
            video.lease_owner = None
            video.eta_seconds = None
    log.warning("video %s failed: %s", claim.video_id, message)


async def _release(db: Database, claim: Claim, message: str) -> None:
    async with transaction(db.writer) as session:
        video = await _current(session, claim)
        if video is not None:
            video.status = VideoStatus.UPLOADED
            video.error = message[:2000]
            video.lease_until = None
            video.lease_owner = None


async def _upload_tree(
    storage: Storage, root: Path, prefix: str, on_progress: Callable[[float], None]
) -> None:
    """Store every file under ``root`` under ``prefix``; ``on_progress`` hears the
    fraction of the bytes stored."""
    files = await asyncio.to_thread(lambda: sorted(p for p in root.rglob("*") if p.is_file()))
    sizes = await asyncio.to_thread(lambda: {path: path.stat().st_size for path in files})
    total, stored = sum(sizes.values()) or 1, 0
    limit = asyncio.Semaphore(8)

    async def put(path: Path) -> None:
        nonlocal stored
        async with limit:
            key = prefix + path.relative_to(root).as_posix()
            await storage.put_file(key, path, content_type=content_type(path.name))
        stored += sizes[path]
        on_progress(stored / total)

    await asyncio.gather(*(put(path) for path in files))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(4 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


async def delete_objects(context: JobContext, prefix: str) -> None:
    removed = await context.storage.delete_prefix(prefix)
    log.info("deleted %d objects under %s", removed, prefix)


async def recover_stalled(context: JobContext) -> int:
    """Give videos whose worker died (known dead, or its lease expired) another
    attempt, or fail them. Runs when a worker starts, and then every half lease."""
    retried = 0
    async with transaction(context.db.writer) as session:
        dead = await heartbeat.forget_dead_workers(session, now=utcnow())
        for video in await media.stalled_videos(session, held_by=dead):
            if video.attempts >= MAX_ATTEMPTS:
                video.status = VideoStatus.FAILED
                video.error = f"The worker stopped during all {video.attempts} attempts."
            else:
                video.status = VideoStatus.UPLOADED
                video.error = f"The worker stopped during attempt {video.attempts}; retrying."
                # With the change, so a queue that is down delays it and loses nothing.
                enqueue(session, context.jobs, media.TRANSCODE, str(video.id))
                retried += 1
            video.lease_until = None
            video.lease_owner = None
        await uploads.expire_uploads(session, context.settings, now=utcnow())
    return retried


JOBS = (
    JobSpec(media.TRANSCODE, transcode, retries=MAX_ATTEMPTS - 1, retry_delay=20, retry_backoff=3),
    JobSpec(media.DELETE_OBJECTS, delete_objects, retries=3, retry_delay=30, retry_backoff=2),
)
