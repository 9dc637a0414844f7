"""Engines, sessions and the one-transaction-per-request dependencies.

Three kinds of session:

- ``DbSession``: a read-write transaction on the primary. It commits when the
  request succeeds and rolls back when it fails. On SQLite it begins with
  ``BEGIN IMMEDIATE`` so that two writers queue instead of deadlocking.
- ``ReadSession``: a read-only transaction on the primary, for reads that must
  see the caller's own writes (authentication, say).
- ``ReplicaSession``: a read-only transaction on the read replica
  (``KF_DATABASE_READ_URL``), or on the primary when there is none.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction

from kushfilms.config import Settings
from kushfilms.errors import KushError

_WRITE_OPTION = "kf_write"
_AFTER_COMMIT = "kf_after_commit"


def after_commit(session: AsyncSession, callback: Callable[[], object]) -> None:
    """Run ``callback`` once the session's transaction commits; never if it rolls back.

    This is how work that must not happen for a failed request (sending a job,
    dropping a cache) is tied to the request's transaction.
    """
    callbacks: list[Callable[[], object]] = session.sync_session.info.setdefault(_AFTER_COMMIT, [])
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


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    if url.startswith("sqlite"):
        # Each SQLite connection keeps its own page cache (2 MiB) and thread;
        # beyond a few, more connections cost memory and buy no speed.
        size = max(1, min(pool_size, 4))
        engine = create_async_engine(url, pool_size=size, max_overflow=size)
        _configure_sqlite(engine)
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
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

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        writes = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


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
        self.primary = create_engine(settings.database_url, pool_size=size)
        self.primary_reads = create_engine(settings.database_url, pool_size=size)
        if settings.database_read_url:
            self.replica = create_engine(settings.database_read_url, pool_size=size)
        else:
            self.replica = self.primary_reads
        self.writer = async_sessionmaker(
            self.primary.execution_options(**{_WRITE_OPTION: True}), expire_on_commit=False
        )
        self.reader = async_sessionmaker(self.primary_reads, expire_on_commit=False)
        self.replica_reader = async_sessionmaker(self.replica, expire_on_commit=False)

    async def dispose(self) -> None:
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
        except KushError as error:
            if error.commits:
                await session.commit()
            else:
                await session.rollback()
            raise
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def _write_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with transaction(database(request).writer) as session:
        yield session


async def _read_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with database(request).reader() as session:
        yield session


async def _replica_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with database(request).replica_reader() as session:
        yield session


# scope="function": the transaction ends before the response is sent, so a
# failed commit becomes an error response rather than a silent loss.
DbSession = Annotated[AsyncSession, Depends(_write_session, scope="function")]
ReadSession = Annotated[AsyncSession, Depends(_read_session, scope="function")]
ReplicaSession = Annotated[AsyncSession, Depends(_replica_session, scope="function")]
