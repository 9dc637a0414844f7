"""Worker heartbeats: who is known dead, and the rows a worker keeps."""

import os
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from kushfilms.db import transaction
from kushfilms.kit.clock import utcnow
from kushfilms.models import WorkerProcess
from kushfilms.worker import heartbeat
from kushfilms.worker.heartbeat import LIVENESS_WINDOW, Heartbeat, Identity, is_dead
from tests.conftest import Backend

NOW = datetime(2026, 12, 3, 20, 0, tzinfo=utcnow().tzinfo)
HERE = "this-host/4026531836"
RUNNING_PID, GONE_PID = 100, 200


def _worker(host: str, pid: int, seen_seconds_ago: float) -> WorkerProcess:
    seen = NOW - timedelta(seconds=seen_seconds_ago)
    return WorkerProcess(id=f"{host}:{pid}:x", host=host, pid=pid, started_at=seen, seen_at=seen)


WINDOW = LIVENESS_WINDOW.total_seconds()


@pytest.mark.parametrize(
    ("host", "pid", "seen_seconds_ago", "dead"),
    [
        (HERE, RUNNING_PID, 0, False),
        (HERE, RUNNING_PID, WINDOW, False),  # at the edge of the window: still alive
        (HERE, RUNNING_PID, WINDOW + 0.001, True),  # hung: its process is there, silent
        (HERE, GONE_PID, 0, True),  # killed: no need to wait for the window
        (HERE, GONE_PID, WINDOW + 1, True),
        ("other-host/4026531836", GONE_PID, 0, False),  # pids elsewhere mean nothing here
        ("this-host/4026532000", GONE_PID, 0, False),  # another PID namespace: the same
        ("other-host/4026531836", RUNNING_PID, WINDOW, False),
        ("other-host/4026531836", RUNNING_PID, WINDOW + 0.001, True),
    ],
)
def test_who_is_known_dead(host: str, pid: int, seen_seconds_ago: float, dead: bool) -> None:
    worker = _worker(host, pid, seen_seconds_ago)

    verdict = is_dead(worker, now=NOW, here=HERE, exists=lambda p: p == RUNNING_PID)

    assert verdict is dead


def test_a_process_has_one_identity_on_this_machine() -> None:
    identity = heartbeat.this_process()

    assert identity is heartbeat.this_process()
    assert identity.pid == os.getpid()
    assert identity.host == heartbeat.this_machine()
    assert identity.id.startswith(f"{identity.host}:{identity.pid}:")
    assert len(identity.id) <= 100  # the column's size


async def test_a_beat_registers_then_moves_seen_at(env: Backend) -> None:
    identity = Identity(f"beat-{os.urandom(4).hex()}", heartbeat.this_machine(), os.getpid())
    db = env.app.state.db

    async with transaction(db.writer) as session:
        await heartbeat.beat(session, identity)
    async with db.reader() as session:
        first = await session.get(WorkerProcess, identity.id)
    async with transaction(db.writer) as session:
        await heartbeat.beat(session, identity)
    async with db.reader() as session:
        second = await session.get(WorkerProcess, identity.id)
    async with transaction(db.writer) as session:
        await heartbeat.sign_off(session, identity)
    async with db.reader() as session:
        gone = await session.get(WorkerProcess, identity.id)

    assert first is not None
    assert second is not None
    assert (first.host, first.pid) == (identity.host, identity.pid)
    assert second.seen_at > first.seen_at
    assert second.started_at == first.started_at
    assert gone is None


async def test_the_dead_are_forgotten_and_the_living_kept(env: Backend) -> None:
    here = heartbeat.this_machine()
    now = utcnow()
    tag = os.urandom(4).hex()
    alive, killed, silent = f"alive-{tag}", f"killed-{tag}", f"silent-{tag}"
    db = env.app.state.db
    async with transaction(db.writer) as session:
        session.add_all(
            [
                WorkerProcess(id=alive, host=here, pid=os.getpid(), started_at=now, seen_at=now),
                WorkerProcess(id=killed, host=here, pid=2**22 + 1, started_at=now, seen_at=now),
                WorkerProcess(
                    id=silent,
                    host="elsewhere",
                    pid=1,
                    started_at=now,
                    seen_at=now - LIVENESS_WINDOW - timedelta(seconds=1),
                ),
            ]
        )

    async with transaction(db.writer) as session:
        forgotten = await heartbeat.forget_dead_workers(session, now=utcnow())
    async with db.reader() as session:
        left = set(await session.scalars(select(WorkerProcess.id)))

    assert {killed, silent} <= set(forgotten)
    assert alive not in forgotten
    assert alive in left
    assert not {killed, silent} & left


async def test_a_heartbeat_is_registered_while_it_runs(env: Backend) -> None:
    identity = Identity(f"thread-{os.urandom(4).hex()}", heartbeat.this_machine(), os.getpid())
    beating = Heartbeat(env.settings, identity)
    db = env.app.state.db

    beating.start()
    async with db.reader() as session:
        running = await session.get(WorkerProcess, identity.id)
    beating.stop()
    async with db.reader() as session:
        stopped = await session.get(WorkerProcess, identity.id)

    assert running is not None
    assert stopped is None
