"""The journey with S3-compatible object storage (moto's server): media come from the store."""

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import m3u8
import pytest

from kushfilms.accounts import service as accounts
from kushfilms.app import create_app
from kushfilms.cli import migrate_database
from kushfilms.config import Settings
from kushfilms.db import transaction
from kushfilms.media.ffmpeg import ffmpeg_executable
from kushfilms.media.synthetic import render_clip
from tests.conftest import PASSWORD, bearer, make_settings, settings_environment
from tests.media.conftest import S3_BUCKET
from tests.media.journey import ready_movie


@pytest.fixture
def settings(tmp_path: Path, s3_endpoint: str) -> Settings:
    settings = make_settings(
        tmp_path,
        storage_url=f"s3://{S3_BUCKET}/journey-{tmp_path.name}",
        s3_endpoint_url=s3_endpoint,
        s3_access_key_id="test",
        s3_secret_access_key="test",
    )
    migrate_database(settings)
    return settings


@pytest.fixture
def worker(settings: Settings) -> Iterator[None]:
    process = subprocess.Popen(
        [sys.executable, "-m", "kushfilms", "worker"], env=settings_environment(settings)
    )
    yield
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture
async def client(settings: Settings, worker: None) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with transaction(app.state.db.writer) as session:
            await accounts.ensure_admin(
                session, email="ops@example.com", password=PASSWORD, name="Ops"
            )
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_films_play_straight_from_object_storage(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    login = await client.post(
        "/api/auth/login", json={"email": "ops@example.com", "password": PASSWORD}
    )
    admin: dict[str, Any] = {"headers": bearer(login.json()["access_token"])}
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
    while await storage.list_keys("videos/") or await storage.list_keys("art/"):
        assert time.monotonic() < deadline, "the movie's objects were not deleted"
        await asyncio.sleep(0.2)
