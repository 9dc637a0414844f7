"""Unique, readable slugs from titles."""

import secrets
from typing import Any

from slugify import slugify
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

MAX_SLUG_LENGTH = 200


def make_slug(text: str, *, fallback: str) -> str:
    return slugify(text, max_length=MAX_SLUG_LENGTH, word_boundary=True) or fallback


def next_free_slug(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    suffix = 2
    while f"{base}-{suffix}" in taken:
        suffix += 1
    return f"{base}-{suffix}"


async def unique_slug(session: AsyncSession, column: InstrumentedAttribute[str], base: str) -> str:
    """The base slug, or the base with the lowest free ``-N`` suffix."""
    taken = await session.scalars(
        select(column).where(or_(column == base, column.like(f"{base}-%")))
    )
    return next_free_slug(base, set(taken))


async def insert_with_unique_slug(
    session: AsyncSession, row: Any, column: InstrumentedAttribute[str], base: str
) -> None:
    """Add ``row`` with a free slug, retrying when a concurrent insert took it."""
    for attempt in range(5):
        candidate = await unique_slug(session, column, base)
        if attempt:
            candidate = f"{base}-{secrets.token_hex(3)}"
        row.slug = candidate
        try:
            async with session.begin_nested():
                session.add(row)
        except IntegrityError as error:
            if "slug" not in str(error.orig):
                raise
            continue
        return
    raise RuntimeError(f"no free slug for {base!r} after 5 attempts")
