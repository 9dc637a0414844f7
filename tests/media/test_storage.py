import hashlib
from pathlib import Path

import httpx
import pytest

from kushfilms.kit.clock import utcnow
from kushfilms.media.storage import BadKey, LocalStorage, S3Storage, Storage, open_storage
from tests.conftest import make_settings


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path, s3_endpoint: str) -> Storage:
    if request.param == "local":
        settings = make_settings(tmp_path, storage_url=(tmp_path / "media").as_uri())
    else:
        settings = make_settings(
            tmp_path,
            storage_url=f"s3://kushfilms-test/run-{tmp_path.name}",
            s3_endpoint_url=s3_endpoint,
            s3_access_key_id="test",
            s3_secret_access_key="test",
        )
    return open_storage(settings)


async def test_objects_round_trip(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "film.bin"
    source.write_bytes(b"\x00\x01" * 50_000)
    await storage.put_file("videos/a/source", source, content_type="application/octet-stream")
    await storage.put_bytes("videos/a/hls/master.m3u8", b"#EXTM3U\n", content_type="text/plain")

    assert await storage.get_bytes("videos/a/hls/master.m3u8") == b"#EXTM3U\n"
    assert await storage.exists("videos/a/source")
    assert not await storage.exists("videos/a/nothing")
    copy = tmp_path / "copy.bin"
    await storage.download("videos/a/source", copy)
    assert (
        hashlib.sha256(copy.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()
    )
    assert await storage.list_keys("videos/a/") == ["videos/a/hls/master.m3u8", "videos/a/source"]


async def test_moving_a_file_in_consumes_it(storage: Storage, tmp_path: Path) -> None:
    staged = tmp_path / "upload"
    staged.write_bytes(b"frames")

    await storage.move_in("videos/b/source", staged, content_type="video/mp4")

    assert not staged.exists()
    assert await storage.get_bytes("videos/b/source") == b"frames"


async def test_deleting_a_prefix_removes_only_it(storage: Storage) -> None:
    for key in ("videos/c/hls/720p/seg_00000.m4s", "videos/c/source", "videos/cc/source"):
        await storage.put_bytes(key, b"x", content_type="video/mp4")

    removed = await storage.delete_prefix("videos/c/")

    assert removed == 2
    assert await storage.list_keys("videos/") == ["videos/cc/source"]
    assert await storage.delete_prefix("videos/nothing/") == 0


async def test_missing_objects_read_as_missing(storage: Storage) -> None:
    with pytest.raises(FileNotFoundError):
        await storage.get_bytes("videos/none/master.m3u8")


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "videos/../../x", "a//b", "", "a b"])
async def test_keys_are_checked(storage: Storage, key: str) -> None:
    with pytest.raises(BadKey):
        await storage.put_bytes(key, b"x", content_type="text/plain")


async def test_object_storage_hands_out_expiring_direct_urls(storage: Storage) -> None:
    await storage.put_bytes("videos/d/seg_00000.m4s", b"segment", content_type="video/iso.segment")

    url = storage.presigned_url("videos/d/seg_00000.m4s", expires_in=60)

    if isinstance(storage, LocalStorage):
        assert url is None
        assert storage.local_path("videos/d/seg_00000.m4s") is not None
        return
    assert isinstance(storage, S3Storage)
    assert url is not None
    assert "X-Amz-Signature=" in url
    assert "X-Amz-Expires=60" in url
    async with httpx.AsyncClient() as http:
        fetched = await http.get(url)
    assert fetched.content == b"segment"


def test_storage_urls_are_understood(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="file:///path or s3://"):
        make_settings(tmp_path, storage_url="ftp://example.com/media")


async def test_listing_one_level_and_ages(storage: Storage) -> None:
    for key in ("videos/e/source", "videos/e/hls/master.m3u8", "videos/f/source", "videos/g"):
        await storage.put_bytes(key, b"x", content_type="text/plain")

    children = await storage.list_children("videos/")
    age = await storage.modified_at("videos/e/source")

    assert children == ["e/", "f/", "g"]
    assert age is not None
    assert abs((utcnow() - age).total_seconds()) < 60
    assert await storage.modified_at("videos/none") is None
    assert await storage.list_children("nothing/") == []
