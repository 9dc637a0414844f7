import asyncio
import os
import subprocess
import sys
from pathlib import Path

from alembic import command

from kushfilms.db import create_engine
from kushfilms.migrations_state import (
    SchemaState,
    alembic_config,
    head_revisions,
    migrate_database,
    read_schema_state,
)
from tests.conftest import make_settings
from tests.outages import database_of_its_own

KUSHFILMS = Path(sys.executable).parent / "kushfilms"


def test_the_migrations_end_at_one_head() -> None:
    """Two heads would mean two branches of migrations that nobody merged."""
    assert len(head_revisions()) == 1


def test_a_schema_is_at_head_only_at_every_head() -> None:
    assert SchemaState(current=("0005",), head=("0005",)).at_head
    assert not SchemaState(current=("0004",), head=("0005",)).at_head
    assert not SchemaState(current=(), head=("0005",)).at_head


def test_what_is_pending_names_both_revisions_and_the_remedy() -> None:
    behind = SchemaState(current=("0004",), head=("0005",)).describe()
    empty = SchemaState(current=(), head=("0005",)).describe()

    assert "0004" in behind
    assert "0005" in behind
    assert "none" in empty
    assert "kushfilms migrate" in behind
    assert "kushfilms migrate" in empty


async def test_the_state_follows_the_migrations(backend: str, tmp_path: Path) -> None:
    async with database_of_its_own(backend, tmp_path) as url:
        settings = make_settings(tmp_path, database_url=url)
        engine = create_engine(url, pool_size=1)
        try:
            empty = await read_schema_state(engine)
            await asyncio.to_thread(command.upgrade, alembic_config(settings), "0004")
            behind = await read_schema_state(engine)
            await asyncio.to_thread(migrate_database, settings)
            current = await read_schema_state(engine)
        finally:
            await engine.dispose()

    assert empty.current == ()
    assert not empty.at_head
    assert behind.current == ("0004",)
    assert not behind.at_head
    assert current.current == head_revisions()
    assert current.at_head


def test_migrations_started_at_once_on_one_embedded_database_all_succeed(tmp_path: Path) -> None:
    """As when several `kushfilms serve` start together on a fresh install: each
    migrates first, and all of them must then run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KF_")}
    env["KF_DATA_DIR"] = str(tmp_path)
    env["KF_SECRET_KEY"] = "a-secret-key-for-this-test-that-is-long-enough"
    runs = [
        subprocess.Popen(
            [KUSHFILMS, "migrate"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    errors = [run.communicate(timeout=120)[1] for run in runs]

    assert [run.returncode for run in runs] == [0, 0], errors
