"""The shipped docs/nginx.conf in front of the app, with Debian's real nginx.

One embedded install (SQLite, media on disk) with KF_MEDIA_DELIVERY=nginx: the
app on uvicorn, a real `kushfilms worker`, and nginx running the example config
(rendered by ``bench.playback``, which fails if the file no longer has the
values it substitutes). Everything the tests do goes through nginx.
"""

import base64
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import m3u8
import pytest
import uvicorn

from bench.playback import free_port, local_media_dir, running_nginx
from kushfilms.accounts import admins
from kushfilms.accounts.passwords import PasswordHasher
from kushfilms.app import create_app
from kushfilms.cli import migrate_database
from kushfilms.config import Settings
from kushfilms.db import Database, transaction
from kushfilms.media import layout
from kushfilms.media.delivery.files import IMMUTABLE
from kushfilms.media.ffmpeg import ffmpeg_executable
from kushfilms.media.synthetic import render_clip
from tests.conftest import PASSWORD, bearer, make_settings, settings_environment
from tests.media.journey import TUS, ready_movie

# One install for the module: keep its tests on one xdist worker.
pytestmark = pytest.mark.xdist_group("nginx")

OPS_EMAIL = "ops@example.com"
PLAYLIST = "application/vnd.apple.mpegurl"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = make_settings(tmp_path_factory.mktemp("nginx-install"), media_delivery="nginx")
    migrate_database(settings)
    return settings


@pytest.fixture(scope="module")
def app_port(settings: Settings) -> Iterator[int]:
    """The app on uvicorn, in a thread with its own event loop, as `kushfilms serve` runs it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        create_app(settings),
        lifespan="on",
        log_level="warning",
        ws="none",
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="nginx-upstream", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the app server did not start")
        time.sleep(0.01)
    yield listener.getsockname()[1]
    server.should_exit = True
    thread.join(timeout=10)
    listener.close()


@pytest.fixture(scope="module")
def worker(settings: Settings) -> Iterator[None]:
    process = subprocess.Popen(
        [sys.executable, "-m", "kushfilms", "worker"],
        env=settings_environment(settings),
        start_new_session=True,
    )
    yield
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="module")
def nginx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where nginx keeps its rendered config, pid, logs and temp files."""
    return tmp_path_factory.mktemp("nginx")


@pytest.fixture(scope="module")
def nginx(settings: Settings, app_port: int, nginx_dir: Path) -> Iterator[str]:
    """nginx with docs/nginx.conf in front of the app; yields its base URL."""
    port = free_port()
    with running_nginx(
        upstream=f"127.0.0.1:{app_port}",
        port=port,
        media_dir=local_media_dir(settings.storage_url),
        run_dir=nginx_dir,
    ):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
async def http(nginx: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=nginx, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
async def ops(settings: Settings, http: httpx.AsyncClient) -> dict[str, Any]:
    """An administrator, signed in through nginx."""
    db = Database(settings)
    try:
        async with transaction(db.writer) as session:
            await admins.ensure_admin(
                session,
                email=OPS_EMAIL,
                password=PASSWORD,
                name="Ops",
                hasher=PasswordHasher.from_settings(settings),
            )
    finally:
        await db.dispose()
    login = await http.post("/api/auth/login", json={"email": OPS_EMAIL, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {"headers": bearer(login.json()["access_token"])}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nginx-clips") / "card.mp4"
    return render_clip(ffmpeg_executable(""), path, seconds=3, width=1280, height=720)


@pytest.fixture(scope="module")
async def film(
    http: httpx.AsyncClient, ops: dict[str, Any], worker: None, clip: Path
) -> dict[str, Any]:
    """A film uploaded, processed and published, all through nginx."""
    return await ready_movie(http, ops, clip, title="Through Nginx")


@pytest.fixture(scope="module")
async def manifest_url(http: httpx.AsyncClient, film: dict[str, Any]) -> str:
    """An anonymous viewer's signed master playlist URL (360p and 480p)."""
    playback = await http.get(f"/api/movies/{film['slug']}/playback")
    assert playback.status_code == 200, playback.text
    url: str = playback.json()["manifest_url"]
    return url


def stored(settings: Settings, film: dict[str, Any], name: str) -> bytes:
    """A file of the film's HLS ladder, as it lies on disk."""
    path = layout.hls_prefix(uuid.UUID(film["video"]["id"])) + name
    return (local_media_dir(settings.storage_url) / path).read_bytes()


async def test_a_film_plays_through_nginx(
    http: httpx.AsyncClient, settings: Settings, film: dict[str, Any], manifest_url: str
) -> None:
    folder = manifest_url.rsplit("/", 1)[0]

    master = await http.get(manifest_url)
    variants = m3u8.loads(master.text).playlists
    index = await http.get(f"{folder}/{variants[0].uri}")
    playlist = m3u8.loads(index.text)
    init = await http.get(f"{folder}/360p/{playlist.segment_map[0].uri}")
    segment = await http.get(f"{folder}/360p/{playlist.segments[0].uri}")
    ranged = await http.get(
        f"{folder}/360p/{playlist.segments[0].uri}", headers={"Range": "bytes=100-1099"}
    )

    assert master.status_code == 200
    assert master.headers["content-type"].startswith(PLAYLIST)
    assert [v.stream_info.resolution for v in variants] == [(640, 360), (854, 480)]
    assert index.status_code == 200
    assert index.headers["content-type"].startswith(PLAYLIST)
    # The app's own Cache-Control, once: playlists are checked at every fetch, never kept.
    assert index.headers.get_list("cache-control") == ["no-store"]
    assert playlist.is_endlist
    assert init.status_code == segment.status_code == 200
    assert init.content == stored(settings, film, "360p/init.mp4")
    segment_name = playlist.segments[0].uri.rsplit("/", 1)[-1]  # under a short-lived grant
    assert segment.content == stored(settings, film, f"360p/{segment_name}")
    assert init.headers["content-type"] == "video/mp4"
    assert segment.headers["content-type"] == "video/iso.segment"
    for response in (init, segment):
        assert response.headers.get_list("cache-control") == [IMMUTABLE]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "x-accel-redirect" not in response.headers
    assert ranged.status_code == 206
    assert ranged.headers["content-range"] == f"bytes 100-1099/{len(segment.content)}"
    assert ranged.content == segment.content[100:1100]


async def test_scrub_thumbnails_come_through_nginx(
    http: httpx.AsyncClient, settings: Settings, film: dict[str, Any], manifest_url: str
) -> None:
    folder = manifest_url.rsplit("/", 1)[0]

    vtt = await http.get(f"{folder}/thumbs/thumbnails.vtt")
    sprite_name = vtt.text.split("\n\n")[1].splitlines()[-1].split("#")[0]
    sprite = await http.get(f"{folder}/thumbs/{sprite_name}")

    assert vtt.status_code == 200
    assert vtt.text.startswith("WEBVTT")
    assert sprite.headers["content-type"] == "image/jpeg"
    assert sprite.content == stored(settings, film, f"thumbs/{sprite_name}")


async def test_a_tampered_or_stretched_grant_gets_the_apps_403(
    http: httpx.AsyncClient, manifest_url: str
) -> None:
    folder, _ = manifest_url.rsplit("/", 1)
    token = folder.rsplit("/", 1)[1]
    tampered_folder = (
        folder.removesuffix(token) + token[:-2] + ("BB" if token.endswith("AA") else "AA")
    )

    for path in (
        f"{tampered_folder}/master.m3u8",
        f"{tampered_folder}/360p/init.mp4",
        f"{tampered_folder}/360p/seg_00000.m4s",
        f"{folder}/720p/seg_00000.m4s",  # above an anonymous viewer's quality
    ):
        response = await http.get(path)

        assert response.status_code == 403, path
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"]["code"] == "invalid_media_token"


async def test_the_protected_location_is_internal_only(
    http: httpx.AsyncClient, settings: Settings, film: dict[str, Any]
) -> None:
    key = layout.segment_key(uuid.UUID(film["video"]["id"]), "360p", layout.INIT_SEGMENT)
    assert (local_media_dir(settings.storage_url) / key).is_file()

    response = await http.get(f"{settings.nginx_internal_prefix}{key}")

    assert response.status_code == 404
    assert response.content != stored(settings, film, "360p/init.mp4")


async def test_a_large_json_body_gets_the_apps_413(http: httpx.AsyncClient) -> None:
    body = b'{"email": "' + b"a" * (2 * 1024 * 1024) + b'", "password": "x"}'

    response = await http.post(
        "/api/auth/login", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_a_tus_upload_streams_through_nginx(
    http: httpx.AsyncClient, ops: dict[str, Any], settings: Settings, nginx: str, nginx_dir: Path
) -> None:
    data = os.urandom(3 * 1024 * 1024)  # beyond nginx's default 1 MiB body limit
    split = 2 * 1024 * 1024
    headers = {**ops["headers"], **TUS, "Content-Type": "application/offset+octet-stream"}

    created = await http.post(
        "/api/admin/uploads",
        content=data[:split],
        headers={
            **headers,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": "filename " + base64.b64encode(b"noise.bin").decode(),
        },
    )
    location = created.headers["location"]
    patched = await http.patch(
        location, content=data[split:], headers={**headers, "Upload-Offset": str(split)}
    )
    head = await http.head(location, headers={**ops["headers"], **TUS})

    assert created.status_code == 201, created.text
    assert created.headers["upload-offset"] == str(split)
    assert urlsplit(location).netloc == urlsplit(nginx).netloc  # nginx passed the Host on
    assert patched.status_code == 204, patched.text
    assert patched.headers["upload-offset"] == head.headers["upload-offset"] == str(len(data))
    upload_id = location.rsplit("/", 1)[1]
    assert (settings.upload_dir / upload_id).read_bytes() == data
    # Streamed to the app as it came (proxy_request_buffering off), never spooled to disk.
    assert "buffered to a temporary file" not in (nginx_dir / "error.log").read_text()
    deleted = await http.delete(location, headers={**ops["headers"], **TUS})
    assert deleted.status_code == 204
