"""The embedded job queue: SQLite, as durable as the database beside it."""

import sqlite3
from pathlib import Path

from kushfilms.worker.queue import Jobs, JobSpec
from tests.conftest import make_settings


async def _record(context: object, value: str) -> None:
    pass


def test_a_job_sent_is_in_the_queue_file_without_an_fsync_per_job(tmp_path: Path) -> None:
    jobs = Jobs(make_settings(tmp_path, redis_url=""), [JobSpec("record", _record)])

    jobs.send("record", "kept")

    storage = jobs.huey.storage
    assert storage.conn.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL, not FULL
    assert storage.conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    with sqlite3.connect(tmp_path / "jobs.db") as other:  # another process's view
        assert other.execute("SELECT count(*) FROM task").fetchone() == (1,)
    assert jobs.huey.pending_count() == 1
