"""Where media objects live: a local directory or S3-compatible object storage.

Keys are made by the platform (``videos/<uuid>/hls/720p/seg_00001.m4s``, see
``layout.py``), never taken from a user's file name, and are checked before they
touch a path.
"""

import asyncio
import functools
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from kushfilms.config import Settings

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mp4": "video/mp4",
    ".m4s": "video/iso.segment",
    ".jpg": "image/jpeg",
    ".vtt": "text/vtt",
}
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*/?$")


class BadKey(ValueError):
    pass


def content_type(key: str) -> str:
    return CONTENT_TYPES.get(Path(key).suffix, "application/octet-stream")


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key) or ".." in key.split("/"):
        raise BadKey(f"not a storage key: {key!r}")
    return key


class Storage(Protocol):
    """What the platform needs of a store of media objects."""

    async def put_file(self, key: str, source: Path, *, content_type: str) -> None: ...

    async def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None: ...

    async def get_bytes(self, key: str) -> bytes: ...

    async def download(self, key: str, destination: Path) -> None: ...

    async def move_in(self, key: str, source: Path, *, content_type: str) -> None:
        """Store a local file under ``key``; the file is consumed."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def list_keys(self, prefix: str) -> list[str]: ...

    async def list_children(self, prefix: str) -> list[str]:
        """The names one level below ``prefix`` (like ``ls``): "a/" for "videos/a/..."."""
        ...

    async def modified_at(self, key: str) -> datetime | None:
        """When the object was last written, or None when there is no such object."""
        ...

    async def delete_prefix(self, prefix: str) -> int: ...

    def local_path(self, key: str) -> Path | None:
        """The file behind ``key`` when the store is a local directory."""
        ...

    def presigned_url(self, key: str, *, expires_in: int) -> str | None:
        """A time-limited direct URL, when the store can give one."""
        ...


@dataclass
class LocalStorage:
    root: Path

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put_file(self, key: str, source: Path, *, content_type: str) -> None:
        await asyncio.to_thread(self._copy, source, self.path(key))

    async def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        await asyncio.to_thread(self._write, self.path(key), data)

    async def get_bytes(self, key: str) -> bytes:
        return await asyncio.to_thread(self.path(key).read_bytes)

    async def download(self, key: str, destination: Path) -> None:
        await asyncio.to_thread(self._copy, self.path(key), destination)

    async def move_in(self, key: str, source: Path, *, content_type: str) -> None:
        target = self.path(key)

        def move() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(source, target)  # a rename when both are on one filesystem

        await asyncio.to_thread(move)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path(key).is_file)

    async def list_keys(self, prefix: str) -> list[str]:
        base = self.root / check_key(prefix) if prefix else self.root

        def walk() -> list[str]:
            # os.walk skips directories that vanish midway (a deletion in another process).
            return sorted(
                str((Path(directory) / name).relative_to(self.root))
                for directory, _, names in os.walk(base)
                for name in names
            )

        return await asyncio.to_thread(walk)

    async def list_children(self, prefix: str) -> list[str]:
        base = self.path(prefix)

        def names() -> list[str]:
            if not base.is_dir():
                return []
            return sorted(p.name + "/" if p.is_dir() else p.name for p in base.iterdir())

        return await asyncio.to_thread(names)

    async def modified_at(self, key: str) -> datetime | None:
        path = self.path(key)

        def stat() -> datetime | None:
            try:
                return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
            except FileNotFoundError:
                return None

        return await asyncio.to_thread(stat)

    async def delete_prefix(self, prefix: str) -> int:
        target = self.path(prefix)

        def remove() -> int:
            if target.is_file():
                target.unlink()
                return 1
            if not target.is_dir():
                return 0
            count = sum(1 for path in target.rglob("*") if path.is_file())
            shutil.rmtree(target)
            return count

        return await asyncio.to_thread(remove)

    def local_path(self, key: str) -> Path | None:
        return self.path(key)

    def presigned_url(self, key: str, *, expires_in: int) -> str | None:
        return None

    @staticmethod
    def _write(target: Path, data: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed, so a reader never sees half a file.
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as draft:
            draft.write(data)
        os.replace(draft.name, target)

    @staticmethod
    def _copy(source: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with (
            tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as draft,
            source.open("rb") as original,
        ):
            shutil.copyfileobj(original, draft, 1024 * 1024)
        os.replace(draft.name, target)


@dataclass
class S3Storage:
    """Any S3 API: AWS S3, Cloudflare R2, MinIO (KF_S3_ENDPOINT_URL)."""

    bucket: str
    prefix: str
    client: Any

    def _full(self, key: str) -> str:
        return self.prefix + check_key(key)

    async def put_file(self, key: str, source: Path, *, content_type: str) -> None:
        await asyncio.to_thread(
            self.client.upload_file,
            str(source),
            self.bucket,
            self._full(key),
            ExtraArgs={"ContentType": content_type},
            Config=_transfer(),
        )

    async def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        await asyncio.to_thread(
            self.client.put_object,
            Bucket=self.bucket,
            Key=self._full(key),
            Body=data,
            ContentType=content_type,
        )

    async def get_bytes(self, key: str) -> bytes:
        def get() -> bytes:
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=self._full(key))
            except ClientError as error:
                if _missing(error):
                    raise FileNotFoundError(key) from error
                raise
            body: bytes = response["Body"].read()
            return body

        return await asyncio.to_thread(get)

    async def download(self, key: str, destination: Path) -> None:
        destination.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(
            self.client.download_file,
            self.bucket,
            self._full(key),
            str(destination),
            Config=_transfer(),
        )

    async def move_in(self, key: str, source: Path, *, content_type: str) -> None:
        await self.put_file(key, source, content_type=content_type)
        await asyncio.to_thread(source.unlink)

    async def exists(self, key: str) -> bool:
        def head() -> bool:
            try:
                self.client.head_object(Bucket=self.bucket, Key=self._full(key))
            except ClientError as error:
                if _missing(error):
                    return False
                raise
            return True

        return await asyncio.to_thread(head)

    async def list_keys(self, prefix: str) -> list[str]:
        full = self.prefix + (check_key(prefix) if prefix else "")
        return await asyncio.to_thread(lambda: sorted(self._iter_keys(full)))

    async def list_children(self, prefix: str) -> list[str]:
        full = self.prefix + check_key(prefix)

        def names() -> list[str]:
            found: list[str] = []
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full, Delimiter="/"):
                found += [p["Prefix"][len(full) :] for p in page.get("CommonPrefixes", [])]
                found += [o["Key"][len(full) :] for o in page.get("Contents", [])]
            return sorted(found)

        return await asyncio.to_thread(names)

    async def modified_at(self, key: str) -> datetime | None:
        def head() -> datetime | None:
            try:
                response = self.client.head_object(Bucket=self.bucket, Key=self._full(key))
            except ClientError as error:
                if _missing(error):
                    return None
                raise
            modified: datetime = response["LastModified"]
            return modified

        return await asyncio.to_thread(head)

    async def delete_prefix(self, prefix: str) -> int:
        keys = [self.prefix + key for key in await self.list_keys(prefix)]

        def delete() -> int:
            for start in range(0, len(keys), 1000):
                batch = [{"Key": key} for key in keys[start : start + 1000]]
                self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            return len(keys)

        return await asyncio.to_thread(delete)

    def local_path(self, key: str) -> Path | None:
        return None

    def presigned_url(self, key: str, *, expires_in: int) -> str | None:
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._full(key)},
            ExpiresIn=expires_in,
        )
        return url

    def _iter_keys(self, full_prefix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix):
            for item in page.get("Contents", []):
                yield str(item["Key"]).removeprefix(self.prefix)


def _missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


@functools.cache
def _transfer() -> Any:
    """boto3's transfer settings: parts of 64 MiB. boto3 (about 10 MiB) is loaded
    only by installs that store in S3."""
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=64 * 1024 * 1024, multipart_chunksize=64 * 1024 * 1024
    )


def open_storage(settings: Settings) -> Storage:
    """The store ``KF_STORAGE_URL`` names: ``file:///path`` or ``s3://bucket/prefix``."""
    url = urlsplit(settings.storage_url)
    if url.scheme == "file":
        root = Path(url.path)
        root.mkdir(parents=True, exist_ok=True)
        return LocalStorage(root)
    if url.scheme == "s3":
        import boto3
        from botocore.config import Config as BotoConfig

        prefix = url.path.strip("/")
        client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url or None,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id or None,
            aws_secret_access_key=settings.s3_secret_access_key.get_secret_value() or None,
            config=BotoConfig(signature_version="s3v4", retries={"mode": "standard"}),
        )
        return S3Storage(bucket=url.netloc, prefix=f"{prefix}/" if prefix else "", client=client)
    raise ValueError(
        f"KF_STORAGE_URL must be file:///path or s3://bucket/prefix, not {url.scheme!r}"
    )
