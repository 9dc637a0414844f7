"""Garbage collection: stored objects and staged files that nothing refers to any more.

Deletion jobs normally clean up after a movie; this finds what they missed (a
job lost with a crashed worker, an object written just before its transaction
failed) and old posters replaced by new ones. Objects younger than the grace
period are left alone: they may belong to a request still in flight.
"""

import asyncio
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.catalog import service as catalog
from kushfilms.config import Settings
from kushfilms.kit.clock import utcnow
from kushfilms.media import layout
from kushfilms.media.ingest import uploads
from kushfilms.media.storage import Storage
from kushfilms.models import Upload, Video, VideoStatus

GRACE = timedelta(hours=1)


@dataclass
class Garbage:
    prefixes: list[str] = field(default_factory=list)  # stored objects
    staged_files: list[str] = field(default_factory=list)  # upload ids
    held_sources: list[str] = field(default_factory=list)  # ids of videos that are gone
    work_dirs: list[str] = field(default_factory=list)  # video ids
    expired_uploads: int = 0


async def collect(
    session: AsyncSession, storage: Storage, settings: Settings, *, delete: bool
) -> Garbage:
    """Find (and with ``delete``, remove) what nothing refers to."""
    now = utcnow()
    garbage = Garbage()
    videos = {video.id: video for video in await session.scalars(select(Video))}
    for name in await storage.list_children(layout.VIDEOS):
        video_id = _uuid(name.rstrip("/"))
        if video_id not in videos and await _old_enough(storage, layout.VIDEOS + name, now):
            garbage.prefixes.append(layout.VIDEOS + name)
    garbage.prefixes += await _stale_art(session, storage, now)
    garbage.staged_files = await _unknown_staged_files(session, settings, now)
    garbage.held_sources = await asyncio.to_thread(_orphaned_sources, settings, set(videos), now)
    garbage.work_dirs = _idle_work_dirs(settings, videos.values())
    if delete:
        garbage.expired_uploads = await uploads.expire_uploads(session, settings, now=now)
        for prefix in garbage.prefixes:
            await storage.delete_prefix(prefix)
        for upload_id in garbage.staged_files:
            layout.staged_upload(settings, upload_id).unlink(missing_ok=True)
        for orphan in garbage.held_sources:
            layout.held_source(settings, uuid.UUID(orphan)).unlink(missing_ok=True)
        for scratch in garbage.work_dirs:
            shutil.rmtree(layout.scratch_root(settings) / scratch, ignore_errors=True)
    return garbage


async def _stale_art(session: AsyncSession, storage: Storage, now: datetime) -> list[str]:
    """Pictures of deleted movies, and the pictures a movie no longer shows."""
    stale = []
    for name in await storage.list_children(layout.ART):
        folder = layout.ART + name
        movie_id = _uuid(name.rstrip("/"))
        movie = (
            (await catalog.movies_by_id(session, [movie_id])).get(movie_id) if movie_id else None
        )
        if movie is None:
            if await _old_enough(storage, folder, now):
                stale.append(folder)
            continue
        for file in await storage.list_children(folder):
            key = folder + file
            shown = (movie.poster_key, movie.backdrop_key)
            if not any(layout.is_poster_file(file, picture) for picture in shown) and (
                await _old_enough(storage, key, now)
            ):
                stale.append(key)
    return stale


async def _unknown_staged_files(
    session: AsyncSession, settings: Settings, now: datetime
) -> list[str]:
    """Files in the upload directory with no upload behind them."""
    directory = settings.upload_dir
    if not directory.is_dir():
        return []
    known = set(await session.scalars(select(Upload.id)))
    cutoff = (now - GRACE).timestamp()
    return sorted(
        path.name
        for path in await asyncio.to_thread(lambda: list(directory.iterdir()))
        if path.is_file()
        and path.name not in known
        and not path.name.endswith(layout.HELD_SUFFIX)  # a video's: see _orphaned_sources
        and path.stat().st_mtime < cutoff
    )


def _orphaned_sources(settings: Settings, videos: set[uuid.UUID], now: datetime) -> list[str]:
    """Sources held for their video's job (``staging.hold_for_video``) whose video is
    gone: replaced or deleted before the job stored them. A held source is kept while
    its video exists, whatever its age."""
    directory = settings.upload_dir
    if not directory.is_dir():
        return []
    cutoff = (now - GRACE).timestamp()
    orphans = []
    for path in directory.glob(f"*{layout.HELD_SUFFIX}"):
        video_id = _uuid(path.name.removesuffix(layout.HELD_SUFFIX))
        if video_id is not None and video_id not in videos and path.stat().st_mtime < cutoff:
            orphans.append(str(video_id))
    return sorted(orphans)


def _idle_work_dirs(settings: Settings, videos: Iterable[Video]) -> list[str]:
    """Scratch directories of transcodes that are not running."""
    directory = layout.scratch_root(settings)
    if not directory.is_dir():
        return []
    running = {str(video.id) for video in videos if video.status == VideoStatus.PROCESSING}
    return sorted(p.name for p in directory.iterdir() if p.is_dir() and p.name not in running)


async def _old_enough(storage: Storage, prefix: str, now: datetime) -> bool:
    # A few objects tell: everything under one prefix is written within minutes.
    keys = await storage.list_keys(prefix) if prefix.endswith("/") else [prefix]
    for key in keys[:3]:
        written = await storage.modified_at(key)
        if written is not None and now - written < GRACE:
            return False
    return True


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None
