"""The test harness: real databases, one app per backend, a clean state per test.

Every test that uses ``client`` runs on the embedded backend (SQLite, limits in
memory) and, when KF_TEST_POSTGRES_URL and KF_TEST_REDIS_URL are set, again on
PostgreSQL with Redis. Each test worker has its own database, made by running
the migrations and dropped at the end.
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp

from kushfilms.accounts import admins
from kushfilms.app import create_app
from kushfilms.catalog.reads import CATALOG_GENERATION
from kushfilms.cli import migrate_database
from kushfilms.config import Settings, async_database_url
from kushfilms.db import Database, transaction
from kushfilms.jobs import all_jobs
from kushfilms.models import Base
from kushfilms.worker.queue import Jobs

POSTGRES_URL = os.environ.get("KF_TEST_POSTGRES_URL", "")
REDIS_URL = os.environ.get("KF_TEST_REDIS_URL", "")
BACKENDS = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])
PASSWORD = "correct-horse-battery-staple"
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
_SERVER_START_SECONDS = 10.0
_SERVER_STOP_SECONDS = 5.0
# argon2 at its least cost, so that the many accounts the tests make cost nothing;
# tests of hashing itself (tests/accounts/test_passwords.py) use the real cost.
CHEAP_PASSWORD_HASHING = {
    "password_hash_time_cost": 1,
    "password_hash_memory_kib": 8,
    "password_hash_parallelism": 1,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests of one backend stay on one worker, so each worker builds few apps.
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("backend") if callspec else None
        if backend:
            item.add_marker(pytest.mark.xdist_group(backend))


@pytest.fixture(scope="session")
def worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "gw0")


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@asynccontextmanager
async def _postgres_admin() -> AsyncIterator[tuple[asyncpg.Connection, Any]]:
    """A connection to the test server's maintenance database, and its URL."""
    url = make_url(async_database_url(POSTGRES_URL))
    connection = await asyncpg.connect(
        user=url.username,
        password=url.password,
        host=url.host,
        port=url.port,
        database=url.database,
    )
    try:
        yield connection, url
    finally:
        await connection.close()


async def create_postgres_database(name: str) -> str:
    async with _postgres_admin() as (connection, url):
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    return str(url.set(database=name).render_as_string(hide_password=False))


async def drop_postgres_database(name: str) -> None:
    async with _postgres_admin() as (connection, _):
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_url_for(worker: str) -> str:
    """A Redis database of the worker's own (1-15), so workers never share keys."""
    index = 1 + int("".join(c for c in worker if c.isdigit()) or "0") % 15
    return urlunsplit(urlsplit(REDIS_URL)._replace(path=f"/{index}"))


@dataclass
class Backend:
    name: str
    settings: Settings
    app: FastAPI


@pytest.fixture(scope="session")
async def env(
    backend: str, worker: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Backend]:
    data_dir = tmp_path_factory.mktemp(f"data-{backend}")
    # Unique per run too, so two runs on one server never drop each other's database.
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", uuid.uuid4().hex)[:8]
    database_name = f"kf_test_{worker}_{run}"
    overrides: dict[str, Any] = {}
    if backend == "postgres":
        overrides["database_url"] = await create_postgres_database(database_name)
        if REDIS_URL:
            overrides["redis_url"] = redis_url_for(worker)
    settings = make_settings(data_dir, **overrides)
    await asyncio.to_thread(migrate_database, settings)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield Backend(backend, settings, app)
    if backend == "postgres":
        await drop_postgres_database(database_name)


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "development",
        "data_dir": data_dir,
        "secret_key": TEST_SECRET,
        "rate_limit_api": "100000/minute",
        "cache_seconds": 10,
        # Most tests subscribe viewers they just made; the rule is tested on its own
        # (tests/accounts/test_account_links.py).
        "require_verified_email_to_subscribe": False,
        **CHEAP_PASSWORD_HASHING,
        **overrides,
    }
    return Settings(**values)


async def _clean(app: FastAPI) -> None:
    db: Database = app.state.db
    async with transaction(db.writer) as session:
        if session.get_bind().dialect.name == "postgresql":
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            await session.execute(text(f"TRUNCATE {names} CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                await session.execute(table.delete())
    await app.state.limiter.reset()
    app.state.cache.clear()
    CATALOG_GENERATION.advance()  # the catalogue is gone: totals counted from it too


@pytest.fixture
async def client(env: Backend) -> AsyncIterator[httpx.AsyncClient]:
    await _clean(env.app)
    async with _client_for(env.app) as http:
        yield http


def _client_for(app: FastAPI, ip: str = "203.0.113.10") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def client_from(env: Backend, client: httpx.AsyncClient) -> AsyncIterator[Any]:
    """Clients of the same app calling from other addresses: ``client_from(ip)``."""
    opened: list[httpx.AsyncClient] = []

    def make(ip: str) -> httpx.AsyncClient:
        http = _client_for(env.app, ip)
        opened.append(http)
        return http

    yield make
    for http in opened:
        await http.aclose()


@pytest.fixture
async def db_session(env: Backend) -> AsyncIterator[AsyncSession]:
    """A transaction on the app's database, committed at the end, for arranging data."""
    async with transaction(env.app.state.db.writer) as session:
        yield session


def app_of(client: httpx.AsyncClient) -> FastAPI:
    """The app an in-process client talks to."""
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app: FastAPI = transport.app  # type: ignore[assignment]
    return app


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(
    client: httpx.AsyncClient, *, email: str | None = None, name: str = "Viewer"
) -> dict[str, Any]:
    email = email or f"viewer-{uuid.uuid4().hex[:8]}@example.com"
    response = await client.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, "name": name}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def viewer(client: httpx.AsyncClient) -> dict[str, Any]:
    """A signed-in viewer: the register response, plus ``headers``."""
    body = await register(client)
    return {**body, "headers": bearer(body["access_token"])}


@pytest.fixture
async def admin(client: httpx.AsyncClient, env: Backend) -> dict[str, Any]:
    """A signed-in administrator, made with the same service the CLI uses."""
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    async with transaction(env.app.state.db.writer) as session:
        await admins.ensure_admin(
            session,
            email=email,
            password=PASSWORD,
            name="Admin",
            hasher=env.app.state.password_hasher,
        )
    response = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return {**body, "headers": bearer(body["access_token"])}


@pytest.fixture
async def client_of_app(env: Backend, client: httpx.AsyncClient) -> AsyncIterator[Any]:
    """``client_of_app(**settings)``: a client of another app on the same database.

    ``client._transport.app.state.client_of(ip)`` gives one calling from elsewhere.
    """
    async with AsyncExitStack() as stack:

        async def make(ip: str = "203.0.113.10", **overrides: Any) -> httpx.AsyncClient:
            values = {
                "database_url": env.settings.database_url,
                "redis_url": env.settings.redis_url,
                **overrides,
            }
            app = create_app(make_settings(env.settings.data_dir, **values))
            await stack.enter_async_context(app.router.lifespan_context(app))
            app.state.client_of = lambda other_ip: stack.enter_async_context(
                _client_for(app, other_ip)
            )
            return await stack.enter_async_context(_client_for(app, ip))

        yield make


def settings_environment(settings: Settings) -> dict[str, str]:
    """The environment that gives a subprocess (a worker, the CLI) these settings."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KF_")}
    values = {
        "KF_DATA_DIR": str(settings.data_dir),
        "KF_DATABASE_URL": settings.database_url,
        "KF_REDIS_URL": settings.redis_url,
        "KF_SECRET_KEY": settings.secret_key.get_secret_value(),
        "KF_STORAGE_URL": settings.storage_url,
        "KF_S3_ENDPOINT_URL": settings.s3_endpoint_url,
        "KF_S3_ACCESS_KEY_ID": settings.s3_access_key_id,
        "KF_S3_SECRET_ACCESS_KEY": settings.s3_secret_access_key.get_secret_value(),
        "KF_UPLOAD_DIR": str(settings.upload_dir),
        "KF_JOB_LEASE_SECONDS": str(settings.job_lease_seconds),
        "KF_MEDIA_DELIVERY": settings.media_delivery,
        "KF_PASSWORD_HASH_TIME_COST": str(settings.password_hash_time_cost),
        "KF_PASSWORD_HASH_MEMORY_KIB": str(settings.password_hash_memory_kib),
        "KF_PASSWORD_HASH_PARALLELISM": str(settings.password_hash_parallelism),
        "KF_REQUIRE_VERIFIED_EMAIL_TO_SUBSCRIBE": str(
            settings.require_verified_email_to_subscribe
        ).lower(),
        "KF_LOG_LEVEL": "warning",
    }
    return {**environment, **values}


@pytest.fixture(scope="session")
def job_worker(env: Backend) -> Iterator[subprocess.Popen[bytes]]:
    """A real `kushfilms worker` consuming the backend's job queue."""
    Jobs(env.settings, all_jobs()).huey.flush()  # nothing left over from earlier runs
    process = subprocess.Popen(
        [sys.executable, "-m", "kushfilms", "worker"],
        env=settings_environment(env.settings),
        start_new_session=True,
    )
    yield process
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="session")
def live_server(env: Backend) -> Iterator[str]:
    """The backend's app served by uvicorn on a free loopback port; yields its base URL.

    The server runs its own event loop in a background thread, so it serves an
    app of its own made from the backend's settings (same database, same upload
    directory): database connections belong to the loop that opened them.
    """
    with serving(create_app(env.settings), name="live-server") as url:
        yield url


@contextmanager
def serving(app: ASGIApp, *, name: str) -> Iterator[str]:
    """An ASGI app served by uvicorn on a free loopback port, in a thread of its own
    with its own event loop; yields its base URL and stops the server on exit."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan="on",
        log_level="warning",
        ws="none",
        timeout_graceful_shutdown=_SERVER_STOP_SECONDS,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name=name, daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + _SERVER_START_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {name} server did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=2 * _SERVER_STOP_SECONDS)
        listener.close()
