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
linked to ``KF_UPLOAD_DIR/<video id>.source`` (:func:`hold_for_video`) before
the upload is taken, and wait there until the video's transcode job moves them
into storage, so no transaction waits for that transfer.
"""

import asyncio
import base64
import binascii
import fcntl
import hashlib
import logging
import os
import re
import secrets
import shutil
import uuid
from collections.abc import AsyncIterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from io import BufferedRandom
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.config import Settings
from kushfilms.db import Database, after_commit, transaction
from kushfilms.errors import BadRequest, Conflict, KushError, NotFound
from kushfilms.kit.clock import utcnow
from kushfilms.models import Upload

log = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"
_DIGEST_SIZES = {"sha1": 20, "sha256": 32}
CHECKSUM_ALGORITHMS = tuple(_DIGEST_SIZES)
_UPLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# The most of a chunk held in memory at once; larger chunks stream through.
_WRITE_BUFFER_BYTES = 1024 * 1024


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


class UploadBusy(Conflict):
    code = "upload_busy"
    message = (
        "Another request is sending bytes to this upload. Wait for it to finish, "
        "then ask for the offset with HEAD."
    )


class OffsetMismatch(Conflict):
    code = "upload_offset_mismatch"


class UploadTooLarge(KushError):
    status = 413
    code = "upload_too_large"


class ChecksumMismatch(KushError):
    status = 460
    code = "checksum_mismatch"
    message = "The chunk does not match its Upload-Checksum; it was discarded. Send it again."


class InvalidUploadHeader(BadRequest):
    code = "invalid_upload_header"


class TusVersionUnsupported(KushError):
    status = 412
    code = "tus_version_unsupported"
    message = f"Send Tus-Resumable: {TUS_VERSION}, the only tus version this server speaks."

    def __init__(self) -> None:
        super().__init__(headers={"Tus-Version": TUS_VERSION})


class NotAnOffsetStream(KushError):
    status = 415
    code = "unsupported_media_type"
    message = "Send upload bytes as Content-Type: application/offset+octet-stream."


@dataclass(frozen=True, slots=True)
class Checksum:
    """An Upload-Checksum header: the digest a chunk must have."""

    algorithm: str
    digest: bytes


def parse_checksum(header: str) -> Checksum:
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm not in _DIGEST_SIZES:
        raise InvalidUploadHeader(
            f"Checksum algorithm {algorithm!r} is not supported; use one of "
            f"{', '.join(CHECKSUM_ALGORITHMS)}."
        )
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != _DIGEST_SIZES[algorithm]:
        raise InvalidUploadHeader(f"Upload-Checksum must be '{algorithm} <base64 digest>'.")
    return Checksum(algorithm, digest)


def parse_metadata(header: str) -> dict[str, str]:
    """Read an Upload-Metadata header: ``key base64value`` pairs, values optional."""
    metadata: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in header.split(","))):
        key, *values = pair.split(" ")
        if len(values) > 1 or key in metadata:
            raise InvalidUploadHeader(f"Upload-Metadata has a malformed or repeated key {key!r}.")
        try:
            metadata[key] = base64.b64decode(values[0], validate=True).decode() if values else ""
        except (binascii.Error, UnicodeDecodeError) as error:
            raise InvalidUploadHeader(
                f"Upload-Metadata value of {key!r} is not base64-encoded UTF-8 text."
            ) from error
    return metadata


def encode_metadata(metadata: dict[str, str]) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" if value else key
        for key, value in metadata.items()
    )


def staged_path(settings: Settings, upload_id: str) -> Path:
    if not _UPLOAD_ID.fullmatch(upload_id):
        raise ValueError(f"not an upload id: {upload_id!r}")
    return settings.upload_dir / upload_id


HELD_SUFFIX = ".source"  # never in an upload id, so the two kinds of name never meet


def held_source_path(settings: Settings, video_id: uuid.UUID) -> Path:
    """Where an attached upload's bytes wait for their video's job to store them."""
    return settings.upload_dir / f"{video_id}{HELD_SUFFIX}"


def hold_for_video(settings: Settings, upload_id: str, video_id: uuid.UUID) -> Path:
    """Link the upload's staged bytes to where the video's job will find them (no copy).

    Done before the upload is taken, so that no transaction waits for the disk;
    if the attach then fails, the caller removes the link. The link's time is set
    to now, so garbage collection gives it its grace period from this moment.
    """
    held = held_source_path(settings, video_id)
    os.link(staged_path(settings, upload_id), held)
    os.utime(held)
    return held


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
    target = staged_path(settings, upload.id)
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


def _staged_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def resumable_offset(settings: Settings, upload: Upload) -> int:
    """Where the client should resume: see the rule at the top of this module."""
    if upload.attached_at is not None:
        return upload.offset  # the bytes have been handed over
    return min(upload.offset, _staged_size(staged_path(settings, upload.id)))


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
    with _locked_staged_file(settings, upload_id) as file:
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
        end = await _append(file, body, upload=upload, at=start, checksum=checksum)
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


@contextmanager
def _locked_staged_file(settings: Settings, upload_id: str) -> Iterator[BufferedRandom]:
    path = staged_path(settings, upload_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+b") as file:
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise UploadBusy() from error
        yield file  # closing the file releases the lock


def _is_being_written(path: Path) -> bool:
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    with open(descriptor, "rb") as file:
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
    return False


def _past_the_end(upload: Upload) -> UploadTooLarge:
    return UploadTooLarge(
        f"The chunk goes past the upload's length of {upload.length} bytes; it was discarded."
    )


async def _append(
    file: BufferedRandom,
    body: AsyncIterable[bytes],
    *,
    upload: Upload,
    at: int,
    checksum: Checksum | None,
) -> int:
    """Write ``body`` from ``at`` and sync it; returns the end. A refused chunk leaves nothing."""
    hasher = hashlib.new(checksum.algorithm, usedforsecurity=False) if checksum else None

    def write(data: bytearray, *, sync: bool = False) -> None:
        if hasher is not None:
            hasher.update(data)
        file.write(data)
        if sync:
            file.flush()
            os.fsync(file.fileno())

    file.seek(at)
    end = at
    buffer = bytearray()
    try:
        async for piece in body:
            end += len(piece)
            if end > upload.length:
                raise _past_the_end(upload)
            buffer += piece
            if len(buffer) >= _WRITE_BUFFER_BYTES:
                await asyncio.to_thread(write, buffer)
                buffer.clear()
        await asyncio.to_thread(write, buffer, sync=True)
        if checksum is not None and hasher is not None and hasher.digest() != checksum.digest:
            raise ChecksumMismatch()
    except BaseException:
        file.truncate(at)
        raise
    return end


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
    if _staged_size(staged_path(settings, upload_id)) != upload.length:
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
    are held for the video it was attached to (:func:`hold_for_video`)."""
    after_commit(session, partial(_remove_staged_files, [staged_path(settings, upload_id)]))


async def delete_upload(session: AsyncSession, upload_id: str, settings: Settings) -> None:
    """Delete the upload; its staged file goes once the deletion commits."""
    upload = await _load(session, upload_id)
    await session.delete(upload)
    after_commit(session, partial(_remove_staged_files, [staged_path(settings, upload_id)]))


async def expire_uploads(session: AsyncSession, settings: Settings, *, now: datetime) -> int:
    """Remove what expired: unattached uploads entirely, the leftover files of attached ones.

    An attached upload's bytes were held for its video under another name
    (:func:`hold_for_video`), so its leftover file is no loss to the video. An
    upload whose bytes are being written right now is left for a later run.
    Returns how many uploads were cleared.
    """
    stale = await session.execute(
        select(Upload.id, Upload.attached_at).where(Upload.expires_at <= now)
    )
    abandoned: list[str] = []
    leftovers: list[Path] = []
    for upload_id, attached_at in stale:
        path = staged_path(settings, upload_id)
        if _is_being_written(path):
            continue
        if attached_at is None:
            abandoned.append(upload_id)
            leftovers.append(path)
        elif path.exists():
            leftovers.append(path)
    if abandoned:
        await session.execute(delete(Upload).where(Upload.id.in_(abandoned)))
    after_commit(session, partial(_remove_staged_files, leftovers))
    return len(leftovers)


def _remove_staged_files(paths: Sequence[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
