"""Attaching an upload to a movie: no transaction waits for the probe or the transfer."""

import asyncio
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select
from sqlalchemy.pool import Pool

from kushfilms.db import Database, transaction
from kushfilms.jobs import job_context
from kushfilms.media import gc, layout, tasks
from kushfilms.media import service as media
from kushfilms.media.ffmpeg import TranscodeError
from kushfilms.media.ingest.probe import SourceInfo, probe
from kushfilms.media.storage import Storage
from kushfilms.models import Video, VideoStatus
from tests.conftest import Backend, register
from tests.media.journey import new_movie, upload
from tests.media.samples import sample

SMALL = "10"  # 31 kB of VP9, quick to probe and transcode
WAIT = 30.0  # a bound on waits that end at once when all goes well


@pytest.fixture(autouse=True)
def _no_held_sources_left(env: Backend) -> Iterator[None]:
    """Held sources whose job never ran here would outlive this test's videos."""
    yield
    for held in env.settings.upload_dir.glob(f"*{layout.HELD_SUFFIX}"):
        held.unlink(missing_ok=True)


@pytest.fixture
def connections_in_use() -> Iterator[Callable[[], int]]:
    """How many database connections of this process are checked out right now
    (each holds a transaction while it is)."""
    in_use = 0

    def checkout(*_: Any) -> None:
        nonlocal in_use
        in_use += 1

    def checkin(*_: Any) -> None:
        nonlocal in_use
        in_use -= 1

    event.listen(Pool, "checkout", checkout)
    event.listen(Pool, "checkin", checkin)
    yield lambda: in_use
    event.remove(Pool, "checkout", checkout)
    event.remove(Pool, "checkin", checkin)


def attaching(
    client: httpx.AsyncClient, admin: dict[str, Any], movie: dict[str, Any], upload_id: str
) -> "asyncio.Task[httpx.Response]":
    return asyncio.ensure_future(
        client.post(
            f"/api/admin/movies/{movie['id']}/video",
            json={"upload_id": upload_id},
            headers=admin["headers"],
        )
    )


async def test_no_transaction_is_open_while_the_upload_is_probed(
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    env: Backend,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db: Database = env.app.state.db
    movie = await new_movie(client, admin, "Probed Alone")
    upload_id = await upload(client, admin, sample(SMALL))
    open_while_probing = []

    def watched_probe(path: Path) -> SourceInfo:
        open_while_probing.append(db.primary.pool.checkedout() + db.primary_reads.pool.checkedout())
        return probe(path)

    monkeypatch.setattr(media, "probe", watched_probe)

    response = await attaching(client, admin, movie, upload_id)

    assert response.status_code == 202, response.text
    assert open_while_probing == [0]
    assert response.json()["status"] == "uploaded"
    assert layout.held_source(env.settings, uuid.UUID(response.json()["id"])).is_file()
    assert not layout.staged_upload(env.settings, upload_id).exists()


async def test_other_writers_go_on_while_an_attach_probes(
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On SQLite one open write transaction stops every other writer: a viewer signing
    up while a film is probed must not wait for the probe."""
    movie = await new_movie(client, admin, "Slow To Probe")
    upload_id = await upload(client, admin, sample(SMALL))
    probing, release = threading.Event(), threading.Event()

    def slow_probe(path: Path) -> SourceInfo:
        probing.set()
        release.wait(WAIT)
        return probe(path)

    monkeypatch.setattr(media, "probe", slow_probe)
    attach = attaching(client, admin, movie, upload_id)
    try:
        assert await asyncio.to_thread(probing.wait, WAIT)
        signed_up = await register(client)  # a write of its own, while the probe runs
        category = await client.post(
            "/api/admin/categories", json={"name": "Noir"}, headers=admin["headers"]
        )
    finally:
        release.set()
    response = await attach

    assert signed_up["user"]["email"].startswith("viewer-")
    assert category.status_code == 201, category.text
    assert response.status_code == 202, response.text


async def test_one_upload_attached_twice_at_once_goes_to_one_movie(
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    env: Backend,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both attaches probe at once (no lock is held while probing); then one takes the
    upload and the other is refused. Run on PostgreSQL too, where both commit at once."""
    first = await new_movie(client, admin, "First Taker")
    second = await new_movie(client, admin, "Second Taker")
    upload_id = await upload(client, admin, sample(SMALL))
    both_probing = threading.Barrier(2, timeout=WAIT)

    def probe_together(path: Path) -> SourceInfo:
        both_probing.wait()
        return probe(path)

    monkeypatch.setattr(media, "probe", probe_together)

    responses = await asyncio.gather(
        attaching(client, admin, first, upload_id), attaching(client, admin, second, upload_id)
    )

    assert sorted(response.status_code for response in responses) == [202, 409]
    refused = next(response for response in responses if response.status_code == 409)
    assert refused.json()["error"]["code"] == "upload_already_attached"
    async with env.app.state.db.reader() as session:
        videos = (await session.scalars(select(Video))).all()
    assert len(videos) == 1
    # The winner's source is held for its job, or already stored if a worker of an
    # earlier test in this process took the job; the loser left nothing behind.
    winner = layout.held_source(env.settings, videos[0].id)
    held = list(env.settings.upload_dir.glob(f"*{layout.HELD_SUFFIX}"))
    assert set(held) <= {winner}
    storage: Storage = env.app.state.storage
    assert winner in held or await storage.exists(videos[0].source_key)


async def test_a_later_attach_of_a_taken_upload_is_refused(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    movie = await new_movie(client, admin, "Taken")
    upload_id = await upload(client, admin, sample(SMALL))

    first = await attaching(client, admin, movie, upload_id)
    again = await attaching(client, admin, movie, upload_id)

    assert first.status_code == 202, first.text
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "upload_already_attached"


async def test_the_job_stores_the_source_with_no_transaction_open(
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    env: Backend,
    monkeypatch: pytest.MonkeyPatch,
    connections_in_use: Callable[[], int],
) -> None:
    """The transcode job moves the held source into storage first; it is run here, in
    this process, so that the connections it holds can be counted."""
    storage: Storage = env.app.state.storage
    movie = await new_movie(client, admin, "Moved In")
    video = await _recorded_video(env, uuid.UUID(movie["id"]), sample(SMALL))
    open_while_moving = []

    class WatchedStorage:
        def __getattr__(self, name: str) -> Any:
            return getattr(storage, name)

        async def move_in(self, key: str, source: Path, *, content_type: str) -> None:
            open_while_moving.append(connections_in_use())
            await storage.move_in(key, source, content_type=content_type)

    async with job_context(env.settings) as context:
        context.storage = WatchedStorage()
        await tasks.transcode(context, str(video.id))

    assert open_while_moving == [0]
    assert await storage.exists(video.source_key)
    assert not layout.held_source(env.settings, video.id).exists()
    detail = await client.get(f"/api/admin/movies/{movie['id']}", headers=admin["headers"])
    assert detail.json()["video"]["status"] == "ready"


async def test_storing_the_source_again_after_it_was_stored_goes_on(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    """A retry finds the source stored and the held file gone; a source lost both ways
    is a failure the job reports."""
    storage: Storage = env.app.state.storage
    movie = await new_movie(client, admin, "Stored Once")
    video = await _recorded_video(env, uuid.UUID(movie["id"]), sample(SMALL))
    claim = tasks.Claim(
        video.id,
        video.movie_id,
        video.source_key,
        layout.video_prefix(video.id),
        1,
        probe(sample(SMALL)),
    )

    await tasks._store_source(storage, env.settings, claim)
    await tasks._store_source(storage, env.settings, claim)
    await storage.delete_prefix(layout.video_prefix(video.id))

    assert not layout.held_source(env.settings, video.id).exists()
    with pytest.raises(TranscodeError, match="missing"):
        await tasks._store_source(storage, env.settings, claim)


async def test_gc_keeps_the_held_source_of_a_recorded_video(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    movie = await new_movie(client, admin, "Waiting For Its Job")
    video = await _recorded_video(env, uuid.UUID(movie["id"]), sample(SMALL))
    kept = layout.held_source(env.settings, video.id)
    orphan = layout.held_source(env.settings, uuid.uuid4())
    shutil.copyfile(sample(SMALL), orphan)
    hours_ago = time.time() - 2 * 3600
    for path in (kept, orphan):
        os.utime(path, (hours_ago, hours_ago))

    async with transaction(env.app.state.db.writer) as session:
        garbage = await gc.collect(session, env.app.state.storage, env.settings, delete=True)

    assert garbage.held_sources == [orphan.name.removesuffix(layout.HELD_SUFFIX)]
    assert garbage.staged_files == []
    assert kept.is_file()
    assert not orphan.exists()


async def _recorded_video(env: Backend, movie_id: uuid.UUID, source: Path) -> Video:
    """A video as an attach records it (its source held, its job not yet run), but with
    no job queued, so that no running worker takes it."""
    db: Database = env.app.state.db
    video = Video(id=uuid.uuid4(), movie_id=movie_id, source_filename=source.name)
    video.source_key = layout.source_key(video.id)
    media._record_source(video, probe(source))
    shutil.copyfile(source, layout.held_source(env.settings, video.id))
    async with transaction(db.writer) as session:
        session.add(video)
    assert video.status == VideoStatus.UPLOADED
    return video


async def test_a_long_transfer_of_the_source_keeps_the_lease_alive(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Moving many GiB into object storage can outlast the lease: the job renews it as
    it does while ffmpeg runs, so recovery never hands a live job to a second worker."""
    storage: Storage = env.app.state.storage
    movie = await new_movie(client, admin, "Slow Store")
    video = await _recorded_video(env, uuid.UUID(movie["id"]), sample(SMALL))
    leases: list[Any] = []

    async def lease_until() -> Any:
        async with env.app.state.db.reader() as session:
            return (await session.get(Video, video.id, populate_existing=True)).lease_until

    class SlowStorage:
        def __getattr__(self, name: str) -> Any:
            return getattr(storage, name)

        async def move_in(self, key: str, source: Path, *, content_type: str) -> None:
            leases.append(await lease_until())
            await asyncio.sleep(0.6)  # many heartbeats, at the pace set below
            leases.append(await lease_until())
            await storage.move_in(key, source, content_type=content_type)

    monkeypatch.setattr(tasks, "HEARTBEAT_SECONDS", 0.1)
    async with job_context(env.settings) as context:
        context.storage = SlowStorage()
        await tasks.transcode(context, str(video.id))

    before, after = leases
    assert after > before
    detail = await client.get(f"/api/admin/movies/{movie['id']}", headers=admin["headers"])
    assert detail.json()["video"]["status"] == "ready"
