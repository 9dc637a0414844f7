"""A worker killed mid-transcode: the job is taken up again and completes."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import m3u8
import psutil
import pytest

from kushfilms.accounts import service as accounts
from kushfilms.app import create_app
from kushfilms.cli import migrate_database
from kushfilms.config import Settings
from kushfilms.db import transaction
from kushfilms.media.ffmpeg import ffmpeg_executable
from kushfilms.media.synthetic import render_clip
from tests.conftest import PASSWORD, bearer, make_settings, settings_environment
from tests.media.journey import attach, new_movie, wait_for_video


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # A short lease, so a dead worker is noticed within seconds.
    settings = make_settings(tmp_path, job_lease_seconds=3)
    migrate_database(settings)
    return settings


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with transaction(app.state.db.writer) as session:
            await accounts.ensure_admin(
                session, email="ops@example.com", password=PASSWORD, name="Ops"
            )
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@pytest.fixture
def workers(settings: Settings) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def start_worker(settings: Settings, workers: list[subprocess.Popen[bytes]]) -> psutil.Process:
    process = subprocess.Popen(
        [sys.executable, "-m", "kushfilms", "worker"], env=settings_environment(settings)
    )
    workers.append(process)
    return psutil.Process(process.pid)


async def test_a_killed_worker_is_replaced_and_the_job_completes(
    client: httpx.AsyncClient,
    settings: Settings,
    workers: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    login = await client.post(
        "/api/auth/login", json={"email": "ops@example.com", "password": PASSWORD}
    )
    admin: dict[str, Any] = {"headers": bearer(login.json()["access_token"])}
    clip = render_clip(
        ffmpeg_executable(""), tmp_path / "long.mp4", seconds=30, width=1280, height=720
    )
    first = start_worker(settings, workers)
    movie = await new_movie(client, admin, "Survivor")
    await attach(client, admin, movie, clip)

    # Wait until the first worker is well into the transcode, then kill it outright.
    deadline = time.monotonic() + 60
    while True:
        video = (
            await client.get(f"/api/admin/movies/{movie['id']}", headers=admin["headers"])
        ).json()["video"]
        if video["status"] == "processing" and video["progress"] > 5:
            break
        assert time.monotonic() < deadline, video
        await asyncio.sleep(0.1)
    encoders = [p for p in first.children(recursive=True) if "ffmpeg" in p.name()]
    assert encoders, "the worker should be running ffmpeg"
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    psutil.wait_procs(encoders, timeout=10)
    assert not any(p.is_running() for p in encoders), "ffmpeg must die with its worker"

    start_worker(settings, workers)
    body = await wait_for_video(client, admin, movie, timeout=120)

    assert body["video"]["status"] == "ready", body["video"]["error"]
    assert body["video"]["attempts"] == 2
    master_key = f"videos/{body['video']['id']}/hls/master.m3u8"
    storage = client._transport.app.state.storage  # type: ignore[attr-defined]
    master = m3u8.loads((await storage.get_bytes(master_key)).decode())
    assert [p.stream_info.resolution[1] for p in master.playlists] == [360, 480, 720]
