"""The demo: an administrator and a small catalogue that plays, so a new install shows
something.

The titles and descriptions are of open movies (Blender Foundation, CC-BY) and
public-domain classics; the pictures are generated test clips.

The demo runs beside a running server and its workers, and beside another demo,
without getting in their way. One short transaction claims the empty catalogue
(:func:`claim`); every clip is rendered outside any transaction and attached in a
short one of its own, which queues its transcode like an upload from the admin
pages. The demo then runs those transcodes itself through the same job, under the
same lease as any worker: a film that a worker took is left to it and waited for,
and a worker that gets a job later finds the film done. Each film is published as
soon as it plays. A demo stopped (Ctrl-C) before all its clips are attached deletes
the films it claimed, so that the next one makes the whole catalogue.
"""

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.accounts import admins
from kushfilms.accounts.passwords import PasswordHasher
from kushfilms.catalog import service as catalog
from kushfilms.config import Settings
from kushfilms.db import Database, transaction
from kushfilms.demo_catalogue import CATEGORIES, FILMS
from kushfilms.kit.clock import utcnow
from kushfilms.media import service as media
from kushfilms.media.ffmpeg import TranscodeError, ffmpeg_executable
from kushfilms.media.ingest import uploads
from kushfilms.media.synthetic import render_clip
from kushfilms.media.tasks import transcode
from kushfilms.models import Video, VideoStatus
from kushfilms.worker.context import JobContext
from kushfilms.worker.heartbeat import Heartbeat
from kushfilms.worker.queue import Jobs

DEMO_ADMIN_EMAIL = "admin@kushfilms.example"
DEMO_LOCK = 0x6B66_6465_6D6F  # PostgreSQL advisory lock that demos take turns on
POLL_SECONDS = 0.25  # how often the demo looks at films other workers transcode
REPORT_SECONDS = 5.0  # how often it says what it waits for
# Give up on films other workers transcode when none of them moved for this long (a
# worker that died loses its lease sooner, and the demo takes the film over).
STALLED_SECONDS = 300.0


@dataclass(frozen=True)
class Claimed:
    """What :func:`claim` took: the administrator, and the films to make (in FILMS
    order; none when the catalogue was not empty)."""

    admin_id: uuid.UUID
    admin_email: str | None = None
    admin_password: str | None = None  # only when the admin was created just now
    movies: tuple[uuid.UUID, ...] = ()


@dataclass
class Made:
    """Which films were published, which failed (the reason was reported), and which
    other workers were still transcoding when the demo stopped waiting."""

    published: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)


async def claim(session: AsyncSession, *, settings: Settings) -> Claimed:
    """Create a demo admin when there is no admin, and the films' movies (unpublished,
    without video yet) when the catalogue is empty.

    The movies claim the catalogue: a demo that comes after this transaction finds
    it taken. Two demos at once take turns on :data:`DEMO_LOCK` (PostgreSQL) or on
    SQLite's one writer, so the second sees the first's admin and films.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(DEMO_LOCK)))
    admin = await admins.first_admin(session)
    admin_email = admin_password = None
    if admin is None:
        admin_email, admin_password = DEMO_ADMIN_EMAIL, secrets.token_urlsafe(12)
        admin, _ = await admins.ensure_admin(
            session,
            email=admin_email,
            password=admin_password,
            name="Demo Admin",
            hasher=PasswordHasher.from_settings(settings),
        )
    if await catalog.count_movies(session):
        return Claimed(admin.id, admin_email, admin_password)
    categories = await _ensure_categories(session)
    movies = []
    for film in FILMS:
        movie = await catalog.create_movie(
            session,
            {
                "title": film.title,
                "description": film.description,
                "release_year": film.year,
                "access_level": film.access,
                "category_id": categories[film.category],
            },
        )
        movies.append(movie.id)
    return Claimed(admin.id, admin_email, admin_password, tuple(movies))


async def make_films(
    claimed: Claimed,
    *,
    context: JobContext,
    clips: Path,
    seconds: float | None,
    report: Callable[[str], object],
) -> Made:
    """Give each claimed movie a generated clip (a moving test picture and a tone, 5 to
    14 s at 720p or, every fourth, 2 minutes at 360p; or ``seconds``), transcode the
    clips, and publish each film once it plays.

    Each clip is rendered outside any transaction, then attached in a short one of its
    own, which queues its transcode; a running worker may start on it at once. The
    caller closes ``context`` afterwards.
    """
    db, jobs = context.db, context.jobs
    # Deletes the outbox rows of the jobs sent, lest a relay elsewhere send them again.
    relaying = asyncio.create_task(context.relay.run())
    worker = Heartbeat(jobs.settings)  # a worker while it transcodes, like any other
    try:
        try:
            videos = await _attach_clips(db, claimed, jobs, clips, seconds, report)
        except BaseException:  # Ctrl-C included: the next demo starts again from scratch
            await _give_back(db, jobs, claimed.movies)
            raise
        titles = {movie_id: _title(index) for index, movie_id in enumerate(claimed.movies)}
        await asyncio.to_thread(worker.start)
        return await _transcode_and_publish(context, videos, titles, report)
    finally:
        await asyncio.to_thread(worker.stop)
        relaying.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relaying


async def publish_ready(session: AsyncSession, movie_ids: Sequence[uuid.UUID]) -> int:
    """Publish those of the movies whose video is ready; returns how many."""
    videos = await media.videos_of(session, movie_ids)
    ready = [movie_id for movie_id, video in videos.items() if video.status == VideoStatus.READY]
    for movie_id in ready:
        await catalog.set_published(session, movie_id, True)
    return len(ready)


async def _attach_clips(
    db: Database,
    claimed: Claimed,
    jobs: Jobs,
    clips: Path,
    seconds: float | None,
    report: Callable[[str], object],
) -> dict[uuid.UUID, uuid.UUID]:
    """Render each film's clip, then attach it in a transaction of its own (which queues
    its transcode); returns the videos by movie."""
    videos = {}
    for index, movie_id in enumerate(claimed.movies):
        report(f"Rendering a clip for {_title(index)} ({index + 1} of {len(FILMS)})...")
        clip = await asyncio.to_thread(_render, jobs.settings, clips, index, seconds)
        async with transaction(db.writer) as session:
            upload = await uploads.stage_local_file(
                session, clip, created_by=claimed.admin_id, settings=jobs.settings
            )
        video = await media.attach_video(
            db, movie_id=movie_id, upload_id=upload.id, settings=jobs.settings, jobs=jobs
        )
        videos[movie_id] = video.id
    return videos


async def _give_back(db: Database, jobs: Jobs, movie_ids: Sequence[uuid.UUID]) -> None:
    """Delete the claimed films and what was attached to them: the catalogue is empty
    again, as it was before the demo claimed it."""
    async with transaction(db.writer) as session:
        for movie_id in await catalog.movies_by_id(session, movie_ids):
            await media.forget_movie_media(session, movie_id, jobs)
            await catalog.delete_movie(session, movie_id)


async def _transcode_and_publish(
    context: JobContext,
    videos: Mapping[uuid.UUID, uuid.UUID],
    titles: Mapping[uuid.UUID, str],
    report: Callable[[str], object],
) -> Made:
    """Transcode here the videos no worker holds, through the transcode job (which takes
    the video's lease first, so one that a worker took meanwhile is left to it), wait
    for those other workers hold, and publish each film as soon as it is ready."""
    db, made = context.db, Made()
    pending = list(videos)  # movie ids, in FILMS order
    watch = _Watch()
    while pending:
        async with db.reader() as session:
            states = await media.videos_of(session, pending)
        for movie_id in list(pending):
            video, title = states.get(movie_id), titles[movie_id]
            if video is None or video.id != videos[movie_id]:
                report(f"{title} was deleted or given another video meanwhile.")
                made.failed.append(title)
            elif video.status == VideoStatus.READY:
                async with transaction(db.writer) as session:
                    await publish_ready(session, [movie_id])
                report(f"Published {title}.")
                made.published.append(title)
            elif video.status == VideoStatus.FAILED:
                report(f"{title} could not be transcoded: {video.error}")
                made.failed.append(title)
            else:
                continue
            pending.remove(movie_id)
        free = [movie_id for movie_id in pending if not _held(states[movie_id])]
        if free:
            report(f"Transcoding {titles[free[0]]}...")
            try:
                await transcode(context, str(videos[free[0]]))
            except TranscodeError as error:  # released for another attempt
                report(f"Transcoding {titles[free[0]]} failed ({error}); trying again.")
            watch.moved()
        elif pending:
            held = {titles[movie_id]: states[movie_id].progress for movie_id in pending}
            if watch.stalled(held):
                made.unfinished = list(held)
                report(f"No progress for {STALLED_SECONDS:.0f} s; stopped waiting.")
                break
            if watch.due():
                shown = ", ".join(f"{title} {percent:.0f}%" for title, percent in held.items())
                report(f"Waiting for other workers transcoding: {shown}")
            await asyncio.sleep(POLL_SECONDS)
    return made


@dataclass
class _Watch:
    """The films that other workers transcode: stalled when none moved for
    STALLED_SECONDS, reported every REPORT_SECONDS."""

    progress: dict[str, float] = field(default_factory=dict)
    moved_at: float = field(default_factory=time.monotonic)
    reported_at: float | None = None

    def moved(self) -> None:
        self.moved_at = time.monotonic()

    def stalled(self, progress: dict[str, float]) -> bool:
        if progress != self.progress:
            self.progress = progress
            self.moved()
        return time.monotonic() - self.moved_at > STALLED_SECONDS

    def due(self) -> bool:
        now = time.monotonic()
        if self.reported_at is not None and now - self.reported_at < REPORT_SECONDS:
            return False
        self.reported_at = now
        return True


def _held(video: Video) -> bool:
    """Whether a worker holds the video's lease (one that ran out holds nothing)."""
    return (
        video.status == VideoStatus.PROCESSING
        and video.lease_until is not None
        and video.lease_until > utcnow()
    )


# Every fourth film is long enough to show resuming where the viewer stopped (and
# the progress bar, and the thumbnails over it), at a low resolution that encodes
# in seconds; the others are short clips at 720p, to show the quality ladder.
LONG_EVERY = 4
LONG_SECONDS = 120.0


@dataclass(frozen=True)
class ClipSpec:
    seconds: float
    width: int
    height: int


def clip_spec(index: int, seconds: float | None) -> ClipSpec:
    """The length and size of the clip of the ``index``-th film."""
    if seconds is not None:
        return ClipSpec(seconds, 1280, 720)
    if index % LONG_EVERY == 0:
        return ClipSpec(LONG_SECONDS, 640, 360)
    return ClipSpec(5 + (index * 4) % 10, 1280, 720)


def _render(settings: Settings, clips: Path, index: int, seconds: float | None) -> Path:
    spec = clip_spec(index, seconds)
    return render_clip(
        ffmpeg_executable(settings.ffmpeg_path),
        clips / f"film-{index:02d}.mp4",
        seconds=spec.seconds,
        width=spec.width,
        height=spec.height,
        pattern=index,
        tone_hz=220 + 55 * index,
    )


def _title(index: int) -> str:
    return FILMS[index].title


async def _ensure_categories(session: AsyncSession) -> dict[str, uuid.UUID]:
    existing = await catalog.category_ids_by_name(session)
    for name, description in CATEGORIES.items():
        if name not in existing:
            category = await catalog.create_category(session, name=name, description=description)
            existing[name] = category.id
    return existing
