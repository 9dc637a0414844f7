"""Engines, sessions and the one-transaction-per-request dependencies.

Three kinds of session:

- ``DbSession``: a read-write transaction on the primary. It commits when the
  request succeeds and rolls back when it fails. On SQLite it begins with
  ``BEGIN IMMEDIATE`` so that two writers queue instead of deadlocking.
- ``ReadSession``: a read-only transaction on the primary, for reads that must
  see the caller's own writes (authentication, say).
- ``ReplicaSession``: a read-only transaction on the read replica
  (``KF_DATABASE_READ_URL``), or on the primary when there is none.

Hot read paths (the catalogue) skip the session dependency and hand the whole
read to :meth:`Database.run_read`, which on SQLite costs one hop to a thread
instead of several per statement.
"""

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from queue import SimpleQueue
from typing import Any, Generic, TypeVar

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import event, make_url
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from kushfilms.config import Settings
from kushfilms.errors import KushError

log = logging.getLogger(__name__)
T = TypeVar("T")
_WRITE_OPTION = "kf_write"
_AFTER_COMMIT = "kf_after_commit"


def after_commit(session: AsyncSession | Session, callback: Callable[[], object]) -> None:
    """Run ``callback`` once the session's transaction commits; never if it rolls back.

    This is how work that must not happen for a failed request (sending a job,
    dropping a cache) is tied to the request's transaction.
    """
    callbacks: list[Callable[[], object]] = session.info.setdefault(_AFTER_COMMIT, [])
    if callback not in callbacks:
        callbacks.append(callback)


_COMMITTED = "kf_committed"


# after_commit also fires when a savepoint is released, so it only notes the
# commit; the work runs when the outermost transaction ends having committed.
@event.listens_for(Session, "after_commit")
def _note_commit(session: Session) -> None:
    session.info[_COMMITTED] = True


@event.listens_for(Session, "after_transaction_end")
def _run_after_commit(session: Session, transaction: SessionTransaction) -> None:
    committed = session.info.pop(_COMMITTED, False)
    if transaction.nested or transaction.parent is not None:
        return
    callbacks = session.info.pop(_AFTER_COMMIT, [])
    if committed:
        for callback in callbacks:
            callback()


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    writes: bool = False,
    connect_timeout: float = 5.0,
    statement_timeout: float | None = None,
) -> AsyncEngine:
    if url.startswith("sqlite"):
        # Each SQLite connection keeps its own page cache (2 MiB) and thread;
        # beyond a few, more connections cost memory and buy no speed. SQLite
        # takes one writer at a time: writers wait for the one connection here,
        # woken as soon as it is free, rather than in SQLite's busy handler,
        # which sleeps up to 100 ms between tries.
        size = 1 if writes else max(1, min(pool_size, 4))
        engine = create_async_engine(url, pool_size=size, max_overflow=0 if writes else size)
        _configure_sqlite(engine)
        return engine
    # A database that is down or out of reach fails a request in seconds (answered
    # 503, see errors.is_database_unavailable) instead of holding it: a bounded
    # connect, a bounded wait for a pooled connection, a bounded statement.
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=2 * connect_timeout,
        connect_args={"timeout": connect_timeout, "command_timeout": statement_timeout},
    )


def _plain_sqlite_engine(url: str, *, pool_size: int = 1) -> Engine:
    """A sync engine on the same SQLite file, over the standard sqlite3 module."""
    sync_url = make_url(url).set(drivername="sqlite+pysqlite")
    engine = create_sync_engine(sync_url, pool_size=pool_size, max_overflow=3)
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: AsyncEngine | Engine) -> None:
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            "busy_timeout=15000",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        writes = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


class SqliteWrites:
    """One thread that runs write work on SQLite, committing together what queued up
    together (group commit).

    A piece of work that arrives while the thread is busy waits in the queue; the
    thread then takes all that waits (up to MAX_BATCH) into one transaction, so
    that under load the cost of beginning, committing and handing back is paid
    once for many. If any of them fails, or the commit does, the transaction is
    undone and each piece runs again alone, so that only the failing one fails.
    """

    MAX_BATCH = 64

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._queue: SimpleQueue[_Write[Any] | None] = SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="kf-sqlite-writes", daemon=True)

    async def run(self, work: Callable[[Session], T]) -> T:
        if self._thread.ident is None:  # started on first use: most jobs never write so
            self._thread.start()
        done: Future[T] = Future()
        self._queue.put(_Write(work, done))
        return await asyncio.wrap_future(done)

    def close(self) -> None:
        """Finish the work queued so far, then stop the thread."""
        if self._thread.ident is not None:
            self._queue.put(None)
            self._thread.join()

    def _serve(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = [first]
            while len(batch) < self.MAX_BATCH and not self._queue.empty():
                following = self._queue.get()
                if following is None:
                    self._run_batch(batch)
                    return
                batch.append(following)
            self._run_batch(batch)

    def _run_batch(self, batch: list["_Write[Any]"]) -> None:
        batch = [write for write in batch if write.done.set_running_or_notify_cancel()]
        if len(batch) > 1 and self._run_together(batch):
            return
        for write in batch:
            try:
                write.done.set_result(self._run_alone(write.work))
            except BaseException as error:  # handed to the request that waits for it
                write.done.set_exception(error)

    def _run_together(self, batch: list["_Write[Any]"]) -> bool:
        try:
            with self._sessions() as session:
                results = [write.work(session) for write in batch]
                session.commit()
        except Exception:
            log.debug("%d writes failed together; each runs again alone", len(batch), exc_info=True)
            return False
        for write, result in zip(batch, results, strict=True):
            write.done.set_result(result)
        return True

    def _run_alone(self, work: Callable[[Session], T]) -> T:
        with self._sessions() as session:
            try:
                result = work(session)
            except BaseException as error:
                if _keeps_work(error):
                    session.commit()
                else:
                    session.rollback()
                raise
            session.commit()
            return result


class SqliteReads:
    """A few threads, each with its own connection over the sqlite3 module, that run
    whole reads: a read of several statements costs one hop from the event loop,
    where through aiosqlite each statement costs several."""

    def __init__(self, url: str, *, threads: int) -> None:
        self.engine = _plain_sqlite_engine(url, pool_size=threads)
        self._sessions = sessionmaker(self.engine)
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="kf-sqlite-reads")

    async def run(self, work: Callable[[Session], T], *, brief: bool = False) -> T:
        if brief:
            return self._run(work)
        return await asyncio.get_running_loop().run_in_executor(self._threads, self._run, work)

    def _run(self, work: Callable[[Session], T]) -> T:
        with self._sessions() as session:
            try:
                return work(session)
            finally:
                session.rollback()

    def close(self) -> None:
        self._threads.shutdown(wait=True)
        self.engine.dispose()


@dataclass(frozen=True, slots=True)
class _Write(Generic[T]):
    work: Callable[[Session], T]
    done: Future[T]


class Database:
    """The primary's engines (one pool for writes, one for reads), the replica's, and
    their session factories.

    Writes and reads draw on separate pools. A request often reads (who is
    calling) and then writes; were both in one pool, as many such requests as
    the pool has connections could each hold a read connection and wait for a
    write one, for ever. With two pools a writer never waits for a reader, so
    every wait ends.
    """

    def __init__(self, settings: Settings) -> None:
        size = settings.database_pool_size
        engine_for = partial(
            create_engine,
            pool_size=size,
            connect_timeout=settings.database_connect_timeout_seconds,
            statement_timeout=settings.database_statement_timeout_seconds,
        )
        self.primary = engine_for(settings.database_url, writes=True)
        self.primary_reads = engine_for(settings.database_url)
        if settings.database_read_url:
            self.replica = engine_for(settings.database_read_url)
        else:
            self.replica = self.primary_reads
        self.writer = async_sessionmaker(
            self.primary.execution_options(**{_WRITE_OPTION: True}), expire_on_commit=False
        )
        self.reader = async_sessionmaker(self.primary_reads, expire_on_commit=False)
        self.replica_reader = async_sessionmaker(self.replica, expire_on_commit=False)
        # On SQLite, run_write's work runs on a thread of its own over the sqlite3
        # module: one thread, as SQLite has one writer at a time anyway.
        url = settings.database_url
        self._plain = _plain_sqlite_engine(url) if url.startswith("sqlite") else None
        self.plain_writer: sessionmaker[Session] | None = None
        self._writes: SqliteWrites | None = None
        if self._plain is not None:
            self.plain_writer = sessionmaker(
                self._plain.execution_options(**{_WRITE_OPTION: True}), expire_on_commit=False
            )
            self._writes = SqliteWrites(self.plain_writer)
        # Two reading threads: one measured fastest for short reads (more fight for
        # the GIL), but a second lets one long search run beside other requests.
        read_url = settings.database_read_url or url
        self._reads = SqliteReads(read_url, threads=2) if read_url.startswith("sqlite") else None
        # Work that must use the database once more before it closes (the outbox
        # relay deleting the rows of jobs it sent).
        self.before_dispose: list[Callable[[], Awaitable[None]]] = []

    async def run_write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a write transaction on a plain (sync) session: committed
        when it returns, undone when it raises.

        For work of many statements. Through aiosqlite each statement costs
        several hops between the event loop and the connection's thread; on
        SQLite ``work`` runs instead on the database's write thread over the
        sqlite3 module (see :class:`SqliteWrites`), and its after-commit callbacks
        run there too. ``work`` may share its transaction with other work queued
        at the same moment, and then run twice; so it must change nothing but
        the session. Other databases run it through the async session
        (``run_sync``), in a transaction of its own.
        """
        if self._writes is None:
            async with transaction(self.writer) as session:
                return await session.run_sync(work)
        return await self._writes.run(work)

    async def run_read(self, work: Callable[[Session], T], *, brief: bool = False) -> T:
        """Run ``work`` in a read transaction on the replica (the primary when there is
        none), on a plain (sync) session, and return what it returns.

        For hot reads: on SQLite ``work`` runs on a reading thread over the sqlite3
        module, in one hop from the event loop; other databases run it through the
        async session (``run_sync``). ``work`` must only read.

        A ``brief`` read (a few rows found by an index, well under a millisecond)
        runs on SQLite in the caller's thread: handing it to a thread and back
        costs more than the read, and the threads fight for the GIL (detail: 2,179
        against 1,700 requests/s in-process). Searches, whose SQL runs longer and
        lets go of the GIL meanwhile, are not brief.
        """
        if self._reads is None:
            async with self.replica_reader() as session:
                return await session.run_sync(work)
        return await self._reads.run(work, brief=brief)

    async def dispose(self) -> None:
        for work in self.before_dispose:
            try:
                await work()
            except Exception:
                log.exception("work before closing the database failed")
        if self._writes is not None:
            await asyncio.to_thread(self._writes.close)
        if self._reads is not None:
            await asyncio.to_thread(self._reads.close)
        if self._plain is not None:
            self._plain.dispose()
        await self.primary.dispose()
        await self.primary_reads.dispose()
        if self.replica is not self.primary_reads:
            await self.replica.dispose()


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Yield a session whose work is committed on success and undone on failure."""
    async with factory() as session:
        try:
            yield session
        except BaseException as error:
            if _keeps_work(error):
                await session.commit()
            else:
                await session.rollback()
            raise
        await session.commit()


def _keeps_work(error: BaseException) -> bool:
    """Whether a transaction ended by ``error`` is committed all the same (an
    expected failure whose work must stand, such as a rejected token's revocation)."""
    return isinstance(error, KushError) and error.commits
