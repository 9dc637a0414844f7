"""Alembic environment: async engines, SQLite batch mode, one metadata."""

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from kushfilms.config import Settings
from kushfilms.db import create_engine
from kushfilms.models import Base

# Search indexes live beside the tables and are managed by hand in migrations.
_UNMANAGED_TABLES = {"movie_search", "movie_search_vocab"}
_UNMANAGED_COLUMNS = {("movies", "search_vector")}


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    if type_ == "table" and name in _UNMANAGED_TABLES:
        return False
    if name and name.startswith("movie_search_"):
        return False
    if type_ == "column" and (obj.table.name, name) in _UNMANAGED_COLUMNS:
        return False
    return not (type_ == "index" and name == "ix_movies_search_vector")


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_object=include_object,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(url: str) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def main() -> None:
    url = context.config.get_main_option("sqlalchemy.url") or Settings().database_url
    asyncio.run(_run_online(url))


main()
