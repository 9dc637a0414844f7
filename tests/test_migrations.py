import asyncio
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from kushfilms.cli import alembic_config
from kushfilms.db import create_engine
from kushfilms.models import Base
from tests.conftest import (
    Backend,
    create_postgres_database,
    drop_postgres_database,
    make_settings,
)

# Search indexes are kept by hand beside the tables (see migrations/env.py).
UNMANAGED = ("movie_search", "search_vector")


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_the_migrations_build_what_the_models_describe(env: Backend) -> None:
    engine = create_engine(env.settings.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await engine.dispose()

    relevant = [d for d in differences if not any(name in str(d) for name in UNMANAGED)]
    assert relevant == []


async def test_migrations_go_down_and_up_again(tmp_path: Path, env: Backend, worker: str) -> None:
    name = f"kf_test_{worker}_updown"
    if env.name == "postgres":
        settings = make_settings(tmp_path, database_url=await create_postgres_database(name))
    else:
        settings = make_settings(tmp_path)
    config = alembic_config(settings)
    try:
        await asyncio.to_thread(command.upgrade, config, "head")
        await asyncio.to_thread(command.downgrade, config, "base")
        await asyncio.to_thread(command.upgrade, config, "head")
    finally:
        if env.name == "postgres":
            await drop_postgres_database(name)
