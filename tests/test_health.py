import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.app import create_app
from kushfilms.cli import alembic_config, migrate_database
from kushfilms.db import transaction
from kushfilms.kit.clock import utcnow
from kushfilms.migrations_state import head_revisions
from kushfilms.models import WorkerProcess
from kushfilms.worker import heartbeat
from tests.conftest import Backend, app_of, make_settings
from tests.outages import database_of_its_own


async def test_liveness(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def a_live_worker(session: AsyncSession) -> None:
    """This test process, registered as a worker would register itself."""
    await heartbeat.beat(session, heartbeat.this_process())
    await session.commit()


async def test_readiness_checks_what_is_configured(
    client: httpx.AsyncClient, env: Backend, db_session: AsyncSession
) -> None:
    await a_live_worker(db_session)

    response = await client.get("/health/ready")

    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["database"] == checks["worker"] == "ok"
    assert ("redis" in checks) == bool(env.settings.redis_url)


@asynccontextmanager
async def _alone(
    backend: str, tmp_path: Path, revision: str = "head", **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app on a database of its own, where no other test's worker beats,
    migrated up to ``revision``."""
    async with database_of_its_own(backend, tmp_path) as url:
        settings = make_settings(tmp_path, database_url=url, **overrides)
        await asyncio.to_thread(command.upgrade, alembic_config(settings), revision)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                yield http


@pytest.fixture
async def lone_client(backend: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with _alone(backend, tmp_path) as http:
        yield http


async def test_workers_elsewhere_are_reported_but_do_not_take_the_web_node_out(
    backend: str, tmp_path: Path
) -> None:
    """With KF_WORKER_IN_SERVE=false no worker of this server's own can be missing;
    a load balancer must not drop every web node because the workers are down."""
    async with _alone(backend, tmp_path, worker_in_serve=False) as http:
        response = await http.get("/health/ready")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["worker"].startswith("no job worker seen")


async def test_readiness_needs_a_live_worker(lone_client: httpx.AsyncClient) -> None:
    here = heartbeat.this_machine()
    now = utcnow()
    async with transaction(app_of(lone_client).state.db.writer) as session:
        session.add_all(
            [
                # Killed on this machine: its process is gone, its row stayed.
                WorkerProcess(id="killed", host=here, pid=2**22 + 1, started_at=now, seen_at=now),
                # Elsewhere, and silent for longer than the window.
                WorkerProcess(
                    id="silent",
                    host="elsewhere",
                    pid=1,
                    started_at=now,
                    seen_at=now - heartbeat.LIVENESS_WINDOW - timedelta(seconds=1),
                ),
            ]
        )

    response = await lone_client.get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["worker"].startswith("no job worker seen")
    assert "worker" in body["error"]["message"]


async def test_a_worker_elsewhere_counts_while_it_beats(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    now = utcnow()
    db_session.add(
        WorkerProcess(id="remote", host="elsewhere", pid=2**22 + 1, started_at=now, seen_at=now)
    )
    await db_session.commit()

    response = await client.get("/health/ready")

    assert response.json()["checks"]["worker"] == "ok"


async def test_readiness_names_a_failed_redis(client_of_app: Any) -> None:
    broken = await client_of_app(redis_url="redis://127.0.0.1:1/0")

    response = await broken.get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")
    assert body["error"]["code"] == "not_ready"
    assert "redis" in body["error"]["message"]


async def test_readiness_names_a_failed_database(client_of_app: Any, tmp_path: Any) -> None:
    broken = await client_of_app(database_url=f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/x.db")

    response = await broken.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("error")
    assert "database" in response.json()["error"]["message"]


async def test_readiness_checks_the_replica_too(client_of_app: Any, tmp_path: Any) -> None:
    broken = await client_of_app(
        database_read_url=f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/replica.db"
    )

    response = await broken.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "ok"
    assert response.json()["checks"]["database_replica"].startswith("error")


async def test_readiness_waits_for_the_schema_to_reach_the_head_revision(
    backend: str, tmp_path: Path
) -> None:
    """Every request would fail on a schema the code does not know: not ready until
    `kushfilms migrate` has run."""
    async with _alone(backend, tmp_path, revision="0004", worker_in_serve=False) as http:
        behind = await http.get("/health/ready")
        await asyncio.to_thread(migrate_database, app_of(http).state.settings)
        migrated = await http.get("/health/ready")

    assert behind.status_code == 503
    body = behind.json()
    assert body["error"]["code"] == "migrations_pending"
    assert "0004" in body["error"]["message"]
    assert head_revisions()[0] in body["error"]["message"]
    assert "kushfilms migrate" in body["checks"]["schema"]
    assert migrated.status_code == 200, migrated.json()
    assert migrated.json()["checks"]["schema"] == "ok"


async def test_an_empty_database_is_not_ready(backend: str, tmp_path: Path) -> None:
    async with _alone(backend, tmp_path, revision="base", worker_in_serve=False) as http:
        response = await http.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "migrations_pending"
    assert "none" in response.json()["checks"]["schema"]
