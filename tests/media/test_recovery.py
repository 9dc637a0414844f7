"""A worker killed mid-transcode: the job is taken up again and completes; at once
when the worker is known dead, rather than when its lease runs out."""

import asyncio
import os
import signal
import subprocess
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import m3u8
import psutil
import pytest
from sqlalchemy import select

from kushfilms.cli import worker_command
from kushfilms.config import Settings
from kushfilms.db import transaction
from kushfilms.jobs import job_context
from kushfilms.kit.clock import utcnow
from kushfilms.media import layout
from kushfilms.media.ffmpeg import ffmpeg_executable
from kushfilms.media.synthetic import render_clip
from kushfilms.media.tasks import recover_stalled
from kushfilms.models import Video, VideoStatus, WorkerProcess
from kushfilms.worker import heartbeat
from kushfilms.worker.supervisor import Supervisor
from tests.catalog.conftest import add_movie
from tests.conftest import Backend, make_settings, settings_environment
from tests.films import add_video
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


async def test_a_killed_workers_film_is_retried_as_soon_as_serves_worker_is_back(
    tmp_path: Path,
) -> None:
    """The lease (ten minutes here) need not run out: the worker that `serve`'s
    supervisor starts again sees its predecessor is dead, and takes the film up."""
    settings = make_settings(tmp_path, job_lease_seconds=600)
    supervisor = Supervisor(worker_command(), env=settings_environment(settings))
    async with installed(settings) as (client, admin):
        supervisor.start()
        try:
            clip = render_clip(
                ffmpeg_executable(""), tmp_path / "long.mp4", seconds=30, width=1280, height=720
            )
            movie = await new_movie(client, admin, "Phoenix")
            await attach(client, admin, movie, clip)
            await _well_into_the_transcode(client, admin, movie)
            assert supervisor.process is not None
            os.kill(supervisor.process.pid, signal.SIGKILL)

            # Well within the lease: only the dead worker's known death can explain it.
            body = await wait_for_video(client, admin, movie, timeout=120)
        finally:
            supervisor.stop()

    assert supervisor.starts == 2
    assert body["video"]["status"] == "ready", body["video"]["error"]
    assert body["video"]["attempts"] == 2


async def _well_into_the_transcode(
    client: httpx.AsyncClient, admin: dict[str, Any], movie: dict[str, Any]
) -> float:
    """Wait until the video is more than 5 % processed; returns how far it got."""
    deadline = time.monotonic() + 60
    while True:
        video = (
            await client.get(f"/api/admin/movies/{movie['id']}", headers=admin["headers"])
        ).json()["video"]
        if video["status"] == "processing" and video["progress"] > 5:
            return float(video["progress"])
        assert time.monotonic() < deadline, video
        await asyncio.sleep(0.1)


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
    reached = await _well_into_the_transcode(client, admin, movie)
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
    # The second attempt starts over, but the figure shown never goes back.
    assert body["progress_seen"] == sorted(body["progress_seen"])
    assert all(percent >= reached for percent in body["progress_seen"])
    master_key = layout.master_key(uuid.UUID(body["video"]["id"]))
    storage = client._transport.app.state.storage  # type: ignore[attr-defined]
    master = m3u8.loads((await storage.get_bytes(master_key)).decode())
    assert [p.stream_info.resolution[1] for p in master.playlists] == [360, 480, 720]


async def test_only_the_leases_of_workers_known_dead_are_given_up_early(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    here, now = heartbeat.this_machine(), utcnow()
    living = heartbeat.this_process()
    async with transaction(env.app.state.db.writer) as session:
        await heartbeat.beat(session, living)
        session.add(
            WorkerProcess(id="killed", host=here, pid=2**22 + 1, started_at=now, seen_at=now)
        )
    lease = now + timedelta(minutes=10)
    orphan = await add_movie(client, admin, title="Orphan", publish=False)
    held = await add_movie(client, admin, title="Held", publish=False)
    unnamed = await add_movie(client, admin, title="Unnamed", publish=False)
    await add_video(env, orphan, VideoStatus.PROCESSING, lease_until=lease, lease_owner="killed")
    await add_video(env, held, VideoStatus.PROCESSING, lease_until=lease, lease_owner=living.id)
    await add_video(env, unnamed, VideoStatus.PROCESSING, lease_until=lease)

    async with job_context(env.settings) as context:
        resent = await recover_stalled(context)

    async with env.app.state.db.reader() as session:
        videos = {video.movie_id: video for video in await session.scalars(select(Video))}
        killed_row = await session.get(WorkerProcess, "killed")
        living_row = await session.get(WorkerProcess, living.id)
    given_up = videos[uuid.UUID(orphan["id"])]
    assert resent == 1
    assert (given_up.status, given_up.lease_until, given_up.lease_owner) == (
        VideoStatus.UPLOADED,
        None,
        None,
    )
    assert "retrying" in (given_up.error or "")
    assert videos[uuid.UUID(held["id"])].status == VideoStatus.PROCESSING
    assert videos[uuid.UUID(unnamed["id"])].status == VideoStatus.PROCESSING
    assert killed_row is None
    assert living_row is not None
