"""Worker heartbeats: every running ``kushfilms worker`` says so, every few seconds.

A worker registers a row in ``worker_processes`` when it starts, moves its
``seen_at`` on every HEARTBEAT_SECONDS (one small UPDATE: cheap even for
SQLite's single writer), and deletes the row when it stops cleanly. From these
rows

- readiness knows whether any worker runs (``kushfilms.health``), and
- a lease held by a worker known dead is given up at once, instead of when it
  runs out (``media.tasks.recover_stalled``).

A worker is known dead when it was not seen for LIVENESS_WINDOW, or when it
ran on this machine and its process is gone (killed: no clean stop deleted its
row). "This machine" is the host name with the PID namespace, the place where a
pid means that process. Machines that share a database must keep their clocks
within a few seconds of each other (NTP), as seen_at is each worker's own time.
"""

import asyncio
import logging
import os
import secrets
import socket
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.config import Settings
from kushfilms.db import Database, transaction
from kushfilms.kit.clock import utcnow
from kushfilms.models import WorkerProcess

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 5.0
# Three beats missed: a worker busy or briefly cut off from the database is not
# taken for dead; one that is gone is noticed within seconds.
LIVENESS_WINDOW = timedelta(seconds=3 * HEARTBEAT_SECONDS)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a worker process is: the id of its row, and where its pid means it."""

    id: str
    host: str
    pid: int


def this_machine() -> str:
    """The host name, and the PID namespace where this process's pids mean something."""
    name = socket.gethostname()[:60]
    try:
        namespace = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        return name
    return f"{name}/{namespace.removeprefix('pid:').strip('[]')}"


def this_process() -> Identity:
    """This process's identity as a worker (a forked child gets one of its own)."""
    return _identity(os.getpid())


@cache
def _identity(pid: int) -> Identity:
    host = this_machine()
    return Identity(f"{host}:{pid}:{secrets.token_hex(4)}", host, pid)


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def is_dead(
    worker: WorkerProcess,
    *,
    now: datetime,
    here: str,
    exists: Callable[[int], bool] = process_exists,
) -> bool:
    """Whether ``worker`` is known to be gone (see the module's docstring)."""
    if worker.seen_at < now - LIVENESS_WINDOW:
        return True
    return worker.host == here and not exists(worker.pid)


async def live_workers(session: AsyncSession, *, now: datetime) -> list[WorkerProcess]:
    rows = await session.scalars(
        select(WorkerProcess).where(WorkerProcess.seen_at >= now - LIVENESS_WINDOW)
    )
    here = this_machine()
    return [worker for worker in rows if not is_dead(worker, now=now, here=here)]


async def forget_dead_workers(session: AsyncSession, *, now: datetime) -> Sequence[str]:
    """Delete the rows of the workers known dead; returns their ids (their leases are
    theirs no more)."""
    here = this_machine()
    workers = (await session.scalars(select(WorkerProcess))).all()
    dead = [worker.id for worker in workers if is_dead(worker, now=now, here=here)]
    if dead:
        await session.execute(delete(WorkerProcess).where(WorkerProcess.id.in_(dead)))
    return dead


async def beat(session: AsyncSession, identity: Identity) -> None:
    """Say that ``identity`` is alive (registering it again if its row was dropped)."""
    now = utcnow()
    moved = await session.execute(
        update(WorkerProcess)
        .where(WorkerProcess.id == identity.id)
        .values(seen_at=now)
        .returning(WorkerProcess.id)
    )
    if moved.first() is None:
        session.add(
            WorkerProcess(
                id=identity.id, host=identity.host, pid=identity.pid, started_at=now, seen_at=now
            )
        )


async def sign_off(session: AsyncSession, identity: Identity) -> None:
    await session.execute(delete(WorkerProcess).where(WorkerProcess.id == identity.id))


class Heartbeat:
    """This process's heartbeat, on a thread of its own: registered when started,
    deleted when stopped."""

    def __init__(self, settings: Settings, identity: Identity | None = None) -> None:
        self.settings = settings
        self.identity = identity or this_process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._registered = threading.Event()

    def start(self) -> None:
        """Start beating; returns once registered (or its first try failed)."""
        self._thread.start()
        self._registered.wait(timeout=30)

    def stop(self) -> None:
        """Stop beating and delete the row (no-op if never started)."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        db = Database(self.settings)
        with asyncio.Runner() as loop:
            try:
                while True:
                    try:
                        loop.run(self._write(db, beat))
                    except Exception:
                        log.warning("worker heartbeat failed; trying again", exc_info=True)
                    self._registered.set()
                    if self._stop.wait(HEARTBEAT_SECONDS):
                        break
                loop.run(self._write(db, sign_off))
            except Exception:
                log.warning("worker %s could not sign off", self.identity.id, exc_info=True)
            finally:
                loop.run(db.dispose())

    async def _write(
        self, db: Database, step: Callable[[AsyncSession, Identity], Awaitable[None]]
    ) -> None:
        async with transaction(db.writer) as session:
            await step(session, self.identity)
