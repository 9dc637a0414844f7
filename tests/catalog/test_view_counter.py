import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from kushfilms.catalog.view_counter import ViewCounter
from kushfilms.db import Database
from tests.catalog.conftest import add_movie, titles
from tests.conftest import Backend, make_settings


async def test_views_are_counted_in_batches(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    quiet = await add_movie(client, admin, title="Quiet")
    loud = await add_movie(client, admin, title="Loud")
    counter = ViewCounter()
    for _ in range(3):
        counter.count(uuid.UUID(loud["id"]))
    counter.count(uuid.UUID(quiet["id"]))

    written = await counter.flush(env.app.state.db)

    assert written == 4
    assert await counter.flush(env.app.state.db) == 0  # nothing counted twice
    assert await titles(client, "sort=popular") == ["Loud", "Quiet"]
    body = (await client.get(f"/api/movies/{loud['id']}", headers=admin["headers"])).json()
    assert body["view_count"] == 3
    assert body["updated_at"] == loud["updated_at"]  # a view is not an edit


async def test_counts_survive_a_failed_write(tmp_path: Path) -> None:
    missing = f"sqlite+aiosqlite:///{tmp_path}/no/such/dir.db"
    broken = Database(make_settings(tmp_path, database_url=missing))
    counter = ViewCounter()
    counter.count(uuid.UUID(int=1))

    with pytest.raises(OperationalError):
        await counter.flush(broken)

    assert counter.pending == {uuid.UUID(int=1): 1}
    await broken.dispose()
