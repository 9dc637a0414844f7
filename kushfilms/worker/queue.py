"""The job queue: Huey on SQLite beside the data, or on Redis when configured.

Jobs are coroutine functions ``job(context, *args)`` declared by each domain as
:class:`JobSpec` values, with names namespaced by their domain
(``media.transcode``); the worker runs them with its one job context
(:mod:`kushfilms.worker.context`: settings, database, store, queue). Arguments
are ids, never objects, and every job opens its own database session. A job
asked for during a request is written in that request's transaction and sent
once it commits (:func:`enqueue`, through the outbox of
:mod:`kushfilms.worker.outbox`), so it is never lost to a queue that cannot be
reached and never sent for a change that was undone. A database bound to a
queue (:func:`bind_jobs`) lets code that holds only a session find it
(:func:`jobs_of`).
"""

import logging
import sqlite3
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from huey import RedisHuey
from huey.api import Huey
from huey.consumer import Consumer
from huey.storage import RedisStorage, SqliteStorage
from redis import ConnectionPool
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from kushfilms.config import Settings
from kushfilms.db import Database
from kushfilms.worker.outbox import OutboxRelay

if TYPE_CHECKING:
    from kushfilms.worker.context import JobContext

log = logging.getLogger(__name__)
_JOBS = "kf_jobs"
_RELAY = "kf_outbox"
# Without these a Redis that stops answering (rather than refusing) would hold a
# sender for minutes; the consumer's blocking reads wait 1 s at a time.
REDIS_TIMEOUTS = {"socket_connect_timeout": 2.0, "socket_timeout": 10.0}


@dataclass(frozen=True)
class JobSpec:
    name: str  # "<domain>.<verb>"
    function: Callable[..., Coroutine[Any, Any, None]]
    retries: int = 0
    retry_delay: int = 0
    retry_backoff: float = 0
    former_names: tuple[str, ...] = ()  # jobs queued by an older release still run


class SqliteJobStorage(SqliteStorage):  # type: ignore[misc]  # huey has no types
    """Huey's SQLite queue, as durable as the database: WAL with synchronous=NORMAL.

    Huey leaves SQLite's default (FULL), an fsync at every job sent, which costs
    a request more than the rest of its work. NORMAL loses nothing when the
    process dies; after a power cut the last jobs sent may be gone, exactly as
    the last transactions of the database they came with.
    """

    def _create_connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection = super()._create_connection()
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection


def make_huey(settings: Settings) -> Huey:
    if settings.redis_url:
        pool = ConnectionPool.from_url(settings.redis_url, **REDIS_TIMEOUTS)
        return RedisHuey("kushfilms", connection_pool=pool, utc=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Huey(
        "kushfilms",
        storage_class=SqliteJobStorage,
        filename=str(settings.data_dir / "jobs.db"),
        utc=True,
    )


@dataclass
class Jobs:
    """The queue and the jobs it knows, bound to one configuration."""

    settings: Settings
    specs: Iterable[JobSpec]
    huey: Huey = field(init=False)
    tasks: dict[str, Any] = field(init=False, default_factory=dict)
    # What the jobs run with, in a worker (worker.context.open_context); a process
    # that only sends jobs has none.
    context: "JobContext | None" = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.huey = make_huey(self.settings)
        for spec in self.specs:
            for name in (spec.name, *spec.former_names):
                self.tasks[name] = self.huey.task(
                    name=name,
                    retries=spec.retries,
                    retry_delay=spec.retry_delay,
                    retry_backoff=spec.retry_backoff,
                )(_bind(spec.function, self))

    def send(self, name: str, *args: Any, delay: float | None = None) -> None:
        task = self.tasks[name]
        if delay:
            task.schedule(args=args, delay=delay)
        else:
            task(*args)
        log.info("queued %s%r", name, args)

    def close(self) -> None:
        """Release the queue's connections (Redis' pool, SQLite's file)."""
        storage = self.huey.storage
        storage.close()
        if isinstance(storage, RedisStorage):  # huey's close leaves the pool open
            storage.conn.connection_pool.disconnect()

    def database(self) -> Database:
        """A database whose write sessions can queue jobs here; the caller disposes of it."""
        db = Database(self.settings)
        bind_jobs(db, self)
        return db

    def consumer(self, threads: int) -> Consumer:
        # Redis storage blocks on the queue (BRPOP): a job starts as soon as it is
        # sent, and huey's delays only pace retries after a connection error. SQLite
        # storage is polled; an idle worker looks every tenth of a second (a read that
        # takes no lock) rather than backing off to huey's default of 10 s.
        polling = {} if self.huey.storage.blocking else {"initial_delay": 0.1, "max_delay": 0.1}
        return self.huey.create_consumer(
            workers=threads, worker_type="thread", periodic=False, **polling
        )


def _bind(function: Callable[..., Coroutine[Any, Any, None]], jobs: "Jobs") -> Callable[..., None]:
    def run(*args: Any) -> None:
        if jobs.context is None:
            raise RuntimeError("these jobs have no context to run in: see worker.context")
        jobs.context.run(function(jobs.context, *args))

    run.__name__ = function.__name__
    run.__qualname__ = function.__qualname__
    return run


def enqueue(session: AsyncSession | Session, jobs: Jobs, name: str, *args: Any) -> None:
    """Queue a job of ``jobs`` with the session's transaction: it is sent once that
    commits, and never if it rolls back. Its arguments must be JSON values (ids, not
    objects). The session's database must be bound to ``jobs`` (:func:`bind_jobs`)."""
    if name not in jobs.tasks:
        raise ValueError(f"no job is called {name!r}")
    relay: OutboxRelay | None = session.info.get(_RELAY)
    if relay is None:
        raise RuntimeError("this session's database has no job queue: see bind_jobs")
    relay.record(session, name, args)


def bind_jobs(db: Database, jobs: Jobs) -> OutboxRelay:
    """Make ``jobs`` the queue of every write session ``db`` opens from now on; returns
    the outbox relay of ``db``, which the caller may run (:meth:`OutboxRelay.run`).
    Sent jobs' rows are deleted at the latest when ``db`` is disposed of."""
    relay = OutboxRelay(db, jobs.send)
    info = {_JOBS: jobs, _RELAY: relay}
    db.writer.configure(info=info)
    if db.plain_writer is not None:  # run_write's sessions, on SQLite
        db.plain_writer.configure(info=info)
    db.before_dispose.append(relay.flush)
    return relay


def jobs_of(session: AsyncSession | Session) -> Jobs:
    """The queue of a session's database (see :func:`bind_jobs`)."""
    jobs: Jobs | None = session.info.get(_JOBS)
    if jobs is None:
        raise RuntimeError("this session's database has no job queue: see worker.queue.bind_jobs")
    return jobs
