import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from kushfilms.db import SqliteWrites, after_commit, transaction
from kushfilms.models import User
from tests.conftest import Backend


async def test_after_commit_runs_only_when_the_transaction_commits(env: Backend) -> None:
    ran: list[str] = []
    db = env.app.state.db

    async with transaction(db.writer) as session:
        after_commit(session, lambda: ran.append("committed"))
        after_commit(session, lambda: ran.append("committed"))  # a second, distinct callback
        await session.execute(text("SELECT 1"))
    try:
        async with transaction(db.writer) as session:
            after_commit(session, lambda: ran.append("rolled back"))
            raise RuntimeError
    except RuntimeError:
        pass

    assert ran == ["committed", "committed"]


async def test_a_savepoint_rollback_keeps_after_commit_work(env: Backend) -> None:
    ran: list[str] = []

    async with transaction(env.app.state.db.writer) as session:
        after_commit(session, lambda: ran.append("kept"))
        try:
            async with session.begin_nested():
                await session.execute(text("SELECT 1"))
                raise ValueError
        except ValueError:
            pass

    assert ran == ["kept"]


def _add_viewer(session: Session, email: str, ran: list[str]) -> None:
    session.add(User(email=email, name="Run Write", password_hash="x"))
    session.flush()
    after_commit(session, lambda: ran.append(email))


async def test_run_write_commits_the_work_and_then_runs_its_after_commit_work(
    env: Backend,
) -> None:
    db = env.app.state.db
    ran: list[str] = []

    def work(session: Session) -> str:
        _add_viewer(session, "written@example.com", ran)
        return "done"

    assert await db.run_write(work) == "done"

    async with db.reader() as session:
        found = await session.scalar(select(User).where(User.email == "written@example.com"))
    assert found is not None
    assert ran == ["written@example.com"]


async def test_run_write_leaves_nothing_when_the_work_fails(env: Backend) -> None:
    db = env.app.state.db
    ran: list[str] = []

    def work(session: Session) -> None:
        _add_viewer(session, "half@example.com", ran)
        raise RuntimeError("the rest of the work failed")

    with pytest.raises(RuntimeError):
        await db.run_write(work)

    async with db.reader() as session:
        found = await session.scalar(select(User).where(User.email == "half@example.com"))
    assert found is None
    assert ran == []


class _Gate:
    """Holds the SQLite write thread busy, so that the writes sent meanwhile queue up."""

    def __init__(self, writes: SqliteWrites) -> None:
        self.opened = threading.Event()
        self.held = asyncio.ensure_future(writes.run(lambda _: self.opened.wait(10)))

    async def open(self) -> None:
        self.opened.set()
        assert await self.held


def _insert(value: str, sessions: list[int]) -> Callable[[Session], str]:
    def work(session: Session) -> str:
        sessions.append(id(session))
        session.execute(text("INSERT INTO notes (value) VALUES (:value)"), {"value": value})
        return value

    return work


def _notes(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.scalars(text("SELECT value FROM notes ORDER BY value")))


@pytest.fixture
def sqlite_writes(tmp_path: Path) -> Iterator[tuple[SqliteWrites, Engine]]:
    engine = create_engine(f"sqlite:///{tmp_path / 'writes.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE notes (value TEXT NOT NULL UNIQUE)"))
    writes = SqliteWrites(sessionmaker(engine))
    yield writes, engine
    writes.close()
    engine.dispose()


async def test_sqlite_writes_queued_together_are_committed_together(
    sqlite_writes: tuple[SqliteWrites, Engine],
) -> None:
    writes, engine = sqlite_writes
    sessions: list[int] = []
    gate = _Gate(writes)
    queued = [asyncio.ensure_future(writes.run(_insert(value, sessions))) for value in "abc"]
    await asyncio.sleep(0.05)  # all three wait in the queue

    await gate.open()

    assert await asyncio.gather(*queued) == ["a", "b", "c"]
    assert len(set(sessions)) == 1  # one transaction for the three
    assert _notes(engine) == ["a", "b", "c"]


async def test_a_failing_write_fails_alone_when_queued_with_others(
    sqlite_writes: tuple[SqliteWrites, Engine],
) -> None:
    writes, engine = sqlite_writes
    sessions: list[int] = []
    gate = _Gate(writes)
    values = ["a", "a", "b"]  # the second breaks the table's uniqueness
    queued = [asyncio.ensure_future(writes.run(_insert(value, sessions))) for value in values]
    await asyncio.sleep(0.05)

    await gate.open()

    first, failed, last = await asyncio.gather(*queued, return_exceptions=True)
    assert (first, last) == ("a", "b")
    assert isinstance(failed, IntegrityError)
    assert _notes(engine) == ["a", "b"]
