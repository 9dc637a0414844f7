"""Where the database's schema stands against the migrations shipped with this code.

The head revision is read from the migration scripts once per process; the
database's own revision is one small read, cheap enough for every readiness probe.
"""

import asyncio
import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from kushfilms.config import Settings
from kushfilms.db import create_engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
PENDING = "migrations pending"


@dataclass(frozen=True)
class SchemaState:
    current: tuple[str, ...]  # empty when the database has no schema at all
    head: tuple[str, ...]

    @property
    def at_head(self) -> bool:
        return set(self.current) == set(self.head)

    def describe(self) -> str:
        """What is pending, naming both revisions and the command that mends it."""
        current = ", ".join(self.current) or "none (empty database)"
        return (
            f"{PENDING}: the database is at revision {current}, this code needs "
            f"{', '.join(self.head)}; run `kushfilms migrate`"
        )


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    return config


@cache
def head_revisions() -> tuple[str, ...]:
    """The revisions the migration scripts end at (one, unless branches are unmerged)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return tuple(sorted(ScriptDirectory.from_config(config).get_heads()))


def _current_revisions(connection: Connection) -> tuple[str, ...]:
    return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))


async def read_schema_state(engine: AsyncEngine) -> SchemaState:
    async with engine.connect() as connection:
        current = await connection.run_sync(_current_revisions)
    return SchemaState(current=current, head=head_revisions())


def schema_state_of(settings: Settings) -> SchemaState:
    """The schema's state, read on an engine of its own (for commands, before they start)."""

    async def read() -> SchemaState:
        engine = create_engine(settings.database_url, pool_size=1)
        try:
            return await read_schema_state(engine)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def migrate_database(settings: Settings) -> None:
    """Upgrade the schema to the head revision (safe to run again, and at once from
    several processes on one SQLite file: they take their turns)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with _sqlite_migration_lock(settings.database_url):
        command.upgrade(alembic_config(settings), "head")


@contextmanager
def _sqlite_migration_lock(url: str) -> Iterator[None]:
    """Hold a lock beside a SQLite file while migrating it.

    A migration's transaction begins by reading; if another process commits its own
    migration meanwhile, SQLite refuses this one's first write (its snapshot is
    stale) instead of waiting. Taking turns, the second finds the schema at head.
    """
    database = make_url(url).database if url.startswith("sqlite") else None
    if not database or database == ":memory:":
        yield
        return
    lock_path = Path(f"{database}.migrate-lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
