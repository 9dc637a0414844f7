"""Resumable (tus) uploads: the rows that track them and their bytes staged on disk.

An upload's bytes are staged in ``KF_UPLOAD_DIR/<id>``, where the id is a
random token of ours; what the client says about the file is only shown.

A byte counts once it is on disk (fsynced) *and* recorded in the upload's row.
So an upload resumes, after a restart or a crash alike, at

    min(recorded offset, size of the staged file)

- A file longer than its row means a request died between writing and
  recording: the tail may be part of a chunk whose checksum was never checked,
  or, after a power cut, blocks that never reached the disk. The next PATCH
  cuts it off and the client sends those bytes again (HEAD never reports them).
- A file shorter than its row means recorded bytes were lost (a wiped or
  restored directory): the file wins and the next PATCH corrects the row.

One request at a time writes an upload: PATCH holds an exclusive, non-blocking
``flock`` on the staged file while it streams, so a second writer is refused at
once rather than queued behind a slow client, and only the holder truncates.

No transaction stays open while a body streams: the row is read in a short
read session, the bytes go to disk, then the offset is recorded in a short
write transaction (an SQLite writer locks the whole database).

Attaching an upload to a movie hands its bytes over to the new video: they are
linked to ``KF_UPLOAD_DIR/<video id>.source`` (``staging.hold_for_video``) before
the upload is taken, and wait there until the video's transcode job moves them
into storage, so no transaction waits for that transfer.
"""

import asyncio
import logging
import os
import secrets
import shutil
import uuid
from collections.abc import AsyncIterable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.config import Settings
from kushfilms.db import Database, after_commit, transaction
from kushfilms.errors import Conflict, KushError, NotFound
from kushfilms.kit.clock import utcnow
from kushfilms.media import layout
from kushfilms.media.ingest import staging
from kushfilms.media.ingest.tus import Checksum
from kushfilms.models import Upload

log = logging.getLogger(__name__)


class UploadNotFound(NotFound):
    code = "upload_not_found"
    message = "No such upload."


class UploadExpired(KushError):
    status = 410
    code = "upload_expired"
    message = "This upload expired after a time without activity; start it again."


class UploadIncomplete(Conflict):
    code = "upload_incomplete"
    message = "This upload has not received all its bytes yet."


class UploadAlreadyAttached(Conflict):
    code = "upload_already_attached"
    message = "This upload has already been attached to a movie."


class OffsetMismatch(Conflict):
    code = "upload_offset_mismatch"


class UploadTooLarge(KushError):
    status = 413
    code = "upload_too_large"


def _expiry(settings: Settings, now: datetime) -> datetime:
    return now + timedelta(hours=settings.upload_expiry_hours)


async def create_upload(
    session: AsyncSession,
    *,
    length: int,
    metadata: dict[str, str],
    created_by: uuid.UUID,
    settings: Settings,
) -> Upload:
    if length > settings.upload_max_bytes:
        raise UploadTooLarge(
            f"The file is {length} bytes; uploads may be at most {settings.upload_max_bytes} bytes."
        )
    now = utcnow()
    upload = Upload(
        id=secrets.token_urlsafe(24),
        length=length,
        offset=0,
        filename=(metadata.get("filename") or metadata.get("name") or "")[:255],
        metadata_=metadata,
        created_by_id=created_by,
        expires_at=_expiry(settings, now),
        completed_at=now if length == 0 else None,
    )
    session.add(upload)
    await session.flush()
    return upload


async def stage_local_file(
    session: AsyncSession, source: Path, *, created_by: uuid.UUID, settings: Settings
) -> Upload:
    """A completed upload made from a file already on this machine (it is moved)."""
    length = (await asyncio.to_thread(source.stat)).st_size
    upload = await create_upload(
        session,
        length=length,
        metadata={"filename": source.name},
        created_by=created_by,
        settings=settings,
    )
    target = layout.staged_upload(settings, upload.id)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(source, target)
    upload.offset = length
    upload.completed_at = utcnow()
    await session.flush()
    return upload


async def _load(session: AsyncSession, upload_id: str, *, for_update: bool = False) -> Upload:
    upload = await session.get(Upload, upload_id, with_for_update=for_update)
    if upload is None:
        raise UploadNotFound()
    return upload


async def get_upload(session: AsyncSession, upload_id: str) -> Upload:
    """An upload that may still receive bytes or be attached; expired ones are gone."""
    upload = await _load(session, upload_id)
    _refuse_expired(upload)
    return upload


def _refuse_expired(upload: Upload) -> None:
    if upload.attached_at is None and upload.expires_at <= utcnow():
        raise UploadExpired()


def resumable_offset(settings: Settings, upload: Upload) -> int:
    """Where the client should resume: see the rule at the top of this module."""
    if upload.attached_at is not None:
        return upload.offset  # the bytes have been handed over
    return min(upload.offset, staging.staged_size(layout.staged_upload(settings, upload.id)))


async def receive_chunk(
    db: Database,
    settings: Settings,
    upload_id: str,
    *,
    offset: int,
    body: AsyncIterable[bytes],
    declared_length: int | None,
    checksum: Checksum | None,
) -> Upload:
    """Write a body at ``offset`` and record how far the upload has come.

    Unlike the other functions here it opens its own short transactions, since
    none may stay open while the body streams. A body that ends early (the
    client went away) keeps what arrived, unless a checksum can no longer
    match. Returns the upload as recorded.
    """
    async with db.reader() as session:
        await _writable_upload(session, upload_id)  # before anything touches the disk
    with staging.locked_staged_file(settings, upload_id) as file:
        async with db.reader() as session:
            # Read again under the lock: the previous holder may have moved the offset.
            upload = await _writable_upload(session, upload_id)
        start = min(upload.offset, os.fstat(file.fileno()).st_size)
        file.truncate(start)
        if offset != start:
            raise OffsetMismatch(
                f"This upload is at byte {start}, not {offset}; send from there.",
                headers={"Upload-Offset": str(start)},
                offset=start,
            )
        room = upload.length - start
        if declared_length is not None and declared_length > room:
            raise _past_the_end(upload)
        try:
            end = await staging.append(file, body, at=start, limit=upload.length, checksum=checksum)
        except staging.PastTheEnd as error:
            raise _past_the_end(upload) from error
        if declared_length is not None and end - start < declared_length:
            log.info(
                "upload %s: body ended after %d of %d bytes; kept them",
                upload_id,
                end - start,
                declared_length,
            )
        async with transaction(db.writer) as session:
            return await _record_offset(session, upload_id, end, settings)


async def _writable_upload(session: AsyncSession, upload_id: str) -> Upload:
    upload = await get_upload(session, upload_id)
    if upload.attached_at is not None:
        raise UploadAlreadyAttached()
    return upload


def _past_the_end(upload: Upload) -> UploadTooLarge:
    return UploadTooLarge(
        f"The chunk goes past the upload's length of {upload.length} bytes; it was discarded."
    )


async def _record_offset(
    session: AsyncSession, upload_id: str, offset: int, settings: Settings
) -> Upload:
    upload = await _load(session, upload_id, for_update=True)
    now = utcnow()
    upload.offset = offset
    upload.expires_at = _expiry(settings, now)
    if offset == upload.length and upload.completed_at is None:
        upload.completed_at = now
    await session.flush()
    return upload


async def completed_upload(session: AsyncSession, upload_id: str, settings: Settings) -> Upload:
    """A finished upload that has not been attached yet (a read: nothing is taken)."""
    upload = await _load(session, upload_id)
    _refuse_expired(upload)
    if upload.attached_at is not None:
        raise UploadAlreadyAttached()
    if upload.completed_at is None:
        raise UploadIncomplete(
            f"This upload has {upload.offset} of its {upload.length} bytes; finish it first."
        )
    if staging.staged_size(layout.staged_upload(settings, upload_id)) != upload.length:
        raise UploadIncomplete("This upload's bytes are missing on disk; upload the file again.")
    return upload


async def take_completed_upload(
    session: AsyncSession, upload_id: str, settings: Settings
) -> Upload:
    """Hand a finished upload over to be attached to a movie; it can be taken once.

    The row stays, marked attached, so that a second attach is refused. Its
    staged file stays for a fresh expiry period, then ``expire_uploads``
    removes it if it is still there (see :func:`release_staged_file`).
    """
    await _load(session, upload_id, for_update=True)  # two attaches at once: one waits
    upload = await completed_upload(session, upload_id, settings)
    now = utcnow()
    upload.attached_at = now
    upload.expires_at = _expiry(settings, now)
    await session.flush()
    return upload


def release_staged_file(session: AsyncSession, settings: Settings, upload_id: str) -> None:
    """Once the session commits, remove the upload's staged name for its bytes: they
    are held for the video it was attached to (``staging.hold_for_video``)."""
    staged = layout.staged_upload(settings, upload_id)
    after_commit(session, partial(staging.remove_staged_files, [staged]))


async def delete_upload(session: AsyncSession, upload_id: str, settings: Settings) -> None:
    """Delete the upload; its staged file goes once the deletion commits."""
    upload = await _load(session, upload_id)
    await session.delete(upload)
    staged = layout.staged_upload(settings, upload_id)
    after_commit(session, partial(staging.remove_staged_files, [staged]))


async def expire_uploads(session: AsyncSession, settings: Settings, *, now: datetime) -> int:
    """Remove what expired: unattached uploads entirely, the leftover files of attached ones.

    An attached upload's bytes were held for its video under another name
    (``staging.hold_for_video``), so its leftover file is no loss to the video. An
    upload whose bytes are being written right now is left for a later run.
    Returns how many uploads were cleared.
    """
    stale = await session.execute(
        select(Upload.id, Upload.attached_at).where(Upload.expires_at <= now)
    )
    abandoned: list[str] = []
    leftovers: list[Path] = []
    for upload_id, attached_at in stale:
        path = layout.staged_upload(settings, upload_id)
        if staging.is_being_written(path):
            continue
        if attached_at is None:
            abandoned.append(upload_id)
            leftovers.append(path)
        elif path.exists():
            leftovers.append(path)
    if abandoned:
        await session.execute(delete(Upload).where(Upload.id.in_(abandoned)))
    after_commit(session, partial(staging.remove_staged_files, leftovers))
    return len(leftovers)
