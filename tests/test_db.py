from sqlalchemy import text

from kushfilms.db import after_commit, transaction
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
