"""A worker killed mid-transcode: the job is taken up again and completes."""

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import m3u8
import psutil
import pytest

from kushfilms.config import Settings
from kushfilms.media.ffmpeg import ffmpeg_executable
from kushfilms.media.synthetic import render_clip
from tests.conftest import make_settings
from tests.media.journey import (
    attach,
    installed,
    new_movie,
    start_worker,
    stop_worker,
    wait_for_video,
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # A short lease, so a dead worker is noticed within seconds.
    return make_settings(tmp_path, job_lease_seconds=3)


async def test_a_killed_worker_is_replaced_and_the_job_completes(
    settings: Settings, tmp_path: Path
) -> None:
    workers: list[subprocess.Popen[bytes]] = []
    try:
        async with installed(settings) as (client, admin):
            await _kill_and_recover(client, admin, settings, workers, tmp_path)
    finally:
        for process in workers:
            stop_worker(process)


async def _kill_and_recover(
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    settings: Settings,
    workers: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    clip = render_clip(
        ffmpeg_executable(""), tmp_path / "long.mp4", seconds=30, width=1280, height=720
    )
    workers.append(start_worker(settings))
    first = psutil.Process(workers[-1].pid)
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

    workers.append(start_worker(settings))
    body = await wait_for_video(client, admin, movie, timeout=120)

    assert body["video"]["status"] == "ready", body["video"]["error"]
    assert body["video"]["attempts"] == 2
    master_key = f"videos/{body['video']['id']}/hls/master.m3u8"
    storage = client._transport.app.state.storage  # type: ignore[attr-defined]
    master = m3u8.loads((await storage.get_bytes(master_key)).decode())
    assert [p.stream_info.resolution[1] for p in master.playlists] == [360, 480, 720]
