import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from kushfilms.media import gc
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
        await storage.put_bytes(f"videos/{video}/source", b"x", content_type="video/mp4")
        await storage.put_bytes(f"videos/{video}/hls/master.m3u8", b"x", content_type="text/plain")
    gone_movie = uuid.uuid4()
    await storage.put_bytes(f"art/{gone_movie}/abc-780.jpg", b"x", content_type="image/jpeg")
    settings.upload_dir.mkdir(parents=True, exist_ok=True)
    stray = settings.upload_dir / "strayfileofanuploadthatisgone0000"
    stray.write_bytes(b"partial")
    scratch = settings.data_dir / "work" / str(uuid.uuid4())
    scratch.mkdir(parents=True)
    root = storage.local_path("videos")
    assert root is not None
    age(root / str(orphan))
    age(storage.local_path(f"art/{gone_movie}"))  # not other tests' fresh posters
    age(stray)

    async with env.app.state.db.writer() as session:
        planned = await gc.collect(session, storage, settings, delete=False)
    async with env.app.state.db.writer() as session:
        done = await gc.collect(session, storage, settings, delete=True)
        await session.commit()

    assert planned.prefixes == done.prefixes == [f"videos/{orphan}/", f"art/{gone_movie}/"]
    assert done.staged_files == [stray.name]
    assert done.work_dirs == [scratch.name]
    assert not await storage.list_keys(f"videos/{orphan}/")
    assert await storage.list_keys(f"videos/{fresh_orphan}/")  # within the grace period
    assert not stray.exists()
    assert not scratch.exists()
    assert (await client.get(f"/api/movies/{movie['slug']}")).status_code == 200
