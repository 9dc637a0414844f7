"""The journey with S3-compatible object storage (moto's server): media come from the store."""

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import m3u8
import pytest

from kushfilms.config import Settings
from kushfilms.media import layout
from kushfilms.media.ffmpeg import ffmpeg_executable
from kushfilms.media.synthetic import render_clip
from tests.conftest import make_settings
from tests.media.conftest import S3_BUCKET
from tests.media.journey import installed, ready_movie, start_worker, stop_worker


@pytest.fixture
def settings(tmp_path: Path, s3_endpoint: str) -> Settings:
    return make_settings(
        tmp_path,
        storage_url=f"s3://{S3_BUCKET}/journey-{tmp_path.name}",
        s3_endpoint_url=s3_endpoint,
        s3_access_key_id="test",
        s3_secret_access_key="test",
    )


async def test_films_play_straight_from_object_storage(settings: Settings, tmp_path: Path) -> None:
    worker = start_worker(settings)
    try:
        async with installed(settings) as (client, admin):
            await _journey(client, admin, tmp_path)
    finally:
        stop_worker(worker)


async def _journey(client: httpx.AsyncClient, admin: dict[str, Any], tmp_path: Path) -> None:
    clip = render_clip(
        ffmpeg_executable(""), tmp_path / "card.mp4", seconds=3, width=854, height=480
    )
    movie = await ready_movie(client, admin, clip, title="Cloud Card")

    playback = (await client.get(f"/api/movies/{movie['slug']}/playback")).json()
    master = m3u8.loads((await client.get(playback["manifest_url"])).text)
    base = playback["manifest_url"].rsplit("/", 1)[0]
    media = m3u8.loads((await client.get(f"{base}/{master.playlists[0].uri}")).text)

    # Segment and init URIs point at the store itself, signed and expiring.
    segment_url = media.segments[0].uri
    init_url = media.segment_map[0].uri
    assert segment_url.startswith("http://127.0.0.1:")
    assert "X-Amz-Signature=" in segment_url
    assert "X-Amz-Expires=" in init_url
    async with httpx.AsyncClient() as direct:
        segment = await direct.get(segment_url)
        init = await direct.get(init_url)
    assert segment.status_code == init.status_code == 200
    assert init.content[4:8] == b"ftyp"
    vtt = (await client.get(playback["thumbnails_vtt_url"])).text
    sprite_url = vtt.split("\n\n")[1].splitlines()[-1]
    assert "X-Amz-Signature=" in sprite_url
    poster = await client.get(movie["thumbnail_url"])
    assert poster.status_code == 302
    assert "X-Amz-Signature=" in poster.headers["location"]

    await client.delete(f"/api/admin/movies/{movie['id']}", headers=admin["headers"])
    storage = client._transport.app.state.storage  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while await storage.list_keys(layout.VIDEOS) or await storage.list_keys(layout.ART):
        assert time.monotonic() < deadline, "the movie's objects were not deleted"
        await asyncio.sleep(0.2)
