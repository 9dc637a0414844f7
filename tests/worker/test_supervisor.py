"""The worker beside `kushfilms serve`: started again when it dies, with backoff."""

import asyncio
import itertools
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from kushfilms.app import create_app
from kushfilms.cli import migrate_database, worker_command
from kushfilms.models import WorkerProcess
from kushfilms.worker.supervisor import Backoff, Supervisor
from tests.conftest import app_of, make_settings, settings_environment
from tests.outages import database_of_its_own

BACKOFF = Backoff()


def test_quick_failures_wait_twice_as_long_each_time_up_to_the_longest() -> None:
    delays: list[float] = []
    delay = None
    for _ in range(8):
        delay = BACKOFF.delay(delay, ran_for=0.5)
        delays.append(delay)

    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]


def test_a_worker_that_ran_a_while_is_started_again_soon() -> None:
    assert BACKOFF.delay(30, ran_for=60) == 1
    assert BACKOFF.delay(30, ran_for=59.9) == 30
    assert BACKOFF.delay(8, ran_for=3600) == 1


@pytest.mark.parametrize(
    ("previous", "ran_for"),
    list(
        itertools.product(
            [None, 0.5, 1, 2, 4, 8, 15, 16, 29, 30, 31, 1000],
            [0, 0.1, 1, 30, 59.999, 60, 61, 86400],
        )
    ),
)
def test_every_delay_is_within_bounds_and_follows_the_rule(
    previous: float | None, ran_for: float
) -> None:
    delay = BACKOFF.delay(previous, ran_for)

    assert BACKOFF.first <= delay <= BACKOFF.longest
    if previous is None or ran_for >= BACKOFF.healthy_after:
        assert delay == BACKOFF.first
    else:
        assert delay == min(BACKOFF.longest, 2 * previous)


SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]
STUBBORN = (  # ignores SIGINT, then says so by creating the file named
    "import pathlib, signal, sys, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "pathlib.Path(sys.argv[1]).touch(); time.sleep(600)"
)


def _wait_for_start(supervisor: Supervisor, starts: int) -> int:
    deadline = time.monotonic() + 30
    while supervisor.starts < starts or supervisor.process is None:
        assert time.monotonic() < deadline, f"not started {starts} times"
        time.sleep(0.01)
    return supervisor.process.pid


def test_a_dead_process_is_started_again_until_stopped() -> None:
    supervisor = Supervisor(SLEEPER, backoff=Backoff(first=0.01))
    supervisor.start()
    try:
        first = _wait_for_start(supervisor, 1)
        os.kill(first, signal.SIGKILL)
        second = _wait_for_start(supervisor, 2)
        os.kill(second, signal.SIGTERM)
        third = _wait_for_start(supervisor, 3)
    finally:
        supervisor.stop()

    assert len({first, second, third}) == 3
    assert supervisor.process is not None
    assert supervisor.process.returncode != -signal.SIGKILL  # it stopped when asked
    assert supervisor.starts == 3


def test_a_process_that_will_not_stop_is_killed(tmp_path: Path) -> None:
    deaf = tmp_path / "deaf"
    supervisor = Supervisor([sys.executable, "-c", STUBBORN, str(deaf)], stop_seconds=0.5)
    supervisor.start()
    _wait_for_start(supervisor, 1)
    deadline = time.monotonic() + 30
    while not deaf.exists():
        assert time.monotonic() < deadline
        time.sleep(0.01)

    supervisor.stop()

    assert supervisor.process is not None
    assert supervisor.process.returncode == -signal.SIGKILL
    assert supervisor.starts == 1


@pytest.fixture
async def lone_app(
    backend: str, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """A client of an app on a database of its own (no other test's worker beats there),
    and the environment that gives a worker the same settings."""
    async with database_of_its_own(backend, tmp_path) as url:
        settings = make_settings(tmp_path, database_url=url, redis_url="")
        await asyncio.to_thread(migrate_database, settings)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                yield http, settings_environment(settings)


async def test_a_killed_worker_is_back_within_seconds_and_readiness_says_so_meanwhile(
    lone_app: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    http, environment = lone_app
    supervisor = Supervisor(worker_command(), env=environment)
    supervisor.start()
    try:
        before = await _readiness_until(http, {200})
        first = supervisor.process.pid if supervisor.process else 0

        os.kill(first, signal.SIGKILL)
        meanwhile = await _readiness_until(http, {503})
        after = await _readiness_until(http, {200})
    finally:
        supervisor.stop()

    assert before["checks"]["worker"] == "ok"
    assert meanwhile["checks"]["worker"].startswith("no job worker seen")
    assert meanwhile["checks"]["database"] == "ok"
    assert after["checks"]["worker"] == "ok"
    assert supervisor.starts == 2
    assert supervisor.process is not None
    assert supervisor.process.pid != first
    assert supervisor.process.returncode != -signal.SIGKILL  # stopped when asked
    async with app_of(http).state.db.reader() as session:
        rows = await session.scalars(
            select(WorkerProcess).where(WorkerProcess.pid == supervisor.process.pid)
        )
        assert rows.all() == []  # and signed off


async def _readiness_until(http: httpx.AsyncClient, statuses: set[int]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        response = await http.get("/health/ready")
        if response.status_code in statuses:
            return dict(response.json())
        assert time.monotonic() < deadline, response.json()
        await asyncio.sleep(0.05)
