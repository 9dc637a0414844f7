"""An upload's bytes on disk: one writer at a time, appended and synced, and handed
over to the video they become (see ``uploads.py`` for the rule that ties them to
the upload's row, and ``layout.py`` for where they are)."""

import asyncio
import fcntl
import hashlib
import os
import uuid
from collections.abc import AsyncIterable, Iterator, Sequence
from contextlib import contextmanager
from io import BufferedRandom
from pathlib import Path

from kushfilms.config import Settings
from kushfilms.errors import Conflict
from kushfilms.media import layout
from kushfilms.media.ingest.tus import Checksum, ChecksumMismatch

# The most of a chunk held in memory at once; larger chunks stream through.
_WRITE_BUFFER_BYTES = 1024 * 1024


class UploadBusy(Conflict):
    code = "upload_busy"
    message = (
        "Another request is sending bytes to this upload. Wait for it to finish, "
        "then ask for the offset with HEAD."
    )


class PastTheEnd(Exception):
    """A body that goes on past the upload's length; nothing of it was kept."""


def staged_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


@contextmanager
def locked_staged_file(settings: Settings, upload_id: str) -> Iterator[BufferedRandom]:
    """The upload's staged file, open for writing under an exclusive ``flock``; 409
    ``upload_busy`` at once when another request holds it."""
    path = layout.staged_upload(settings, upload_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+b") as file:
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise UploadBusy() from error
        yield file  # closing the file releases the lock


def is_being_written(path: Path) -> bool:
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


async def append(
    file: BufferedRandom,
    body: AsyncIterable[bytes],
    *,
    at: int,
    limit: int,
    checksum: Checksum | None,
) -> int:
    """Write ``body`` from ``at`` and sync it; returns the end. A refused chunk (one
    past ``limit`` bytes, or not matching its checksum) leaves nothing."""
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
            if end > limit:
                raise PastTheEnd()
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


def hold_for_video(settings: Settings, upload_id: str, video_id: uuid.UUID) -> Path:
    """Link the upload's staged bytes to where the video's job will find them (no copy).

    Done before the upload is taken, so that no transaction waits for the disk;
    if the attach then fails, the caller removes the link. The link's time is set
    to now, so garbage collection gives it its grace period from this moment.
    """
    held = layout.held_source(settings, video_id)
    os.link(layout.staged_upload(settings, upload_id), held)
    os.utime(held)
    return held


def remove_staged_files(paths: Sequence[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
