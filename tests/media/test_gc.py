import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from kushfilms.media import gc, layout
from tests.catalog.conftest import add_movie
from tests.conftest import Backend


def age(path: Path, hours: float = 2) -> None:
    past = time.time() - hours * 3600
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(item, (past, past))


async def test_gc_removes_only_what_nothing_refers_to(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    storage = env.app.state.storage
    settings = env.settings
    movie = await add_movie(client, admin, title="Kept")
    orphan, fresh_orphan = uuid.uuid4(), uuid.uuid4()
    for video in (orphan, fresh_orphan):
        await storage.put_bytes(layout.source_key(video), b"x", content_type="video/mp4")
        await storage.put_bytes(layout.master_key(video), b"x", content_type="text/plain")
    gone_movie = uuid.uuid4()
    poster = layout.poster_key(gone_movie, "abc", 780)
    await storage.put_bytes(poster, b"x", content_type="image/jpeg")
    settings.upload_dir.mkdir(parents=True, exist_ok=True)
    stray = settings.upload_dir / "strayfileofanuploadthatisgone0000"
    stray.write_bytes(b"partial")
    scratch = layout.scratch_dir(settings, uuid.uuid4())
    scratch.mkdir(parents=True)
    root = storage.local_path(layout.VIDEOS)
    assert root is not None
    age(root / str(orphan))
    age(storage.local_path(layout.art_prefix(gone_movie)))  # not other tests' fresh posters
    age(stray)

    async with env.app.state.db.writer() as session:
        planned = await gc.collect(session, storage, settings, delete=False)
    async with env.app.state.db.writer() as session:
        done = await gc.collect(session, storage, settings, delete=True)
        await session.commit()

    gone = [layout.video_prefix(orphan), layout.art_prefix(gone_movie)]
    ours = {*gone, layout.video_prefix(fresh_orphan)}  # other tests' leftovers share the store
    assert planned.prefixes == done.prefixes
    assert [prefix for prefix in done.prefixes if prefix in ours] == gone
    assert done.staged_files == [stray.name]
    assert done.work_dirs == [scratch.name]
    assert not await storage.list_keys(layout.video_prefix(orphan))
    assert await storage.list_keys(layout.video_prefix(fresh_orphan))  # within the grace period
    assert not stray.exists()
    assert not scratch.exists()
    assert (await client.get(f"/api/movies/{movie['slug']}")).status_code == 200
