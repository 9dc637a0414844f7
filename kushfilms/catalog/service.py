"""The catalogue: movies and categories, listing, search and publishing."""

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from kushfilms.catalog import reads
from kushfilms.catalog.reads import CATALOG_GENERATION, MovieFilter, Sort
from kushfilms.db import after_commit
from kushfilms.errors import Conflict, NotFound, Unprocessable
from kushfilms.kit.clock import utcnow
from kushfilms.kit.pagination import Paged, PageRequest, count
from kushfilms.kit.slug import insert_with_unique_slug, make_slug
from kushfilms.models import Category, Movie

__all__ = ["CATALOG_GENERATION", "MovieFilter", "Sort"]


def _catalog_changed(session: AsyncSession) -> None:
    after_commit(session, CATALOG_GENERATION.advance)


class MovieNotFound(NotFound):
    code = "movie_not_found"
    message = "No such movie."


class CategoryNotFound(NotFound):
    code = "category_not_found"
    message = "No such category."


class UnknownCategory(Unprocessable):
    code = "unknown_category"
    message = "category_id: no such category."


class CategoryNameTaken(Conflict):
    code = "category_name_taken"
    message = "A category with this name already exists."


class SlugTaken(Conflict):
    code = "slug_taken"
    message = "Another item already uses this slug."


async def list_movies(session: AsyncSession, query: MovieFilter, page: PageRequest) -> Paged[Movie]:
    """A page of the movies ``query`` finds, as ORM objects (for the admin pages)."""
    found = await session.run_sync(reads.find_movie_ids, query, page)
    return Paged(
        items=await _movies_in_order(session, found.items), total=found.total, request=page
    )


async def _movies_in_order(session: AsyncSession, ids: list[uuid.UUID]) -> list[Movie]:
    if not ids:
        return []
    rows = await session.scalars(
        select(Movie).where(Movie.id.in_(ids)).options(joinedload(Movie.category))
    )
    by_id = {movie.id: movie for movie in rows}
    return [by_id[movie_id] for movie_id in ids if movie_id in by_id]


async def get_movie(
    session: AsyncSession, id_or_slug: str | uuid.UUID, *, include_unpublished: bool = False
) -> Movie:
    movie = await session.scalar(
        select(Movie)
        .options(joinedload(Movie.category))
        .where(reads.the_movie(id_or_slug, include_unpublished))
    )
    if movie is None:
        raise MovieNotFound()
    return movie


async def create_movie(session: AsyncSession, fields: Mapping[str, Any]) -> Movie:
    _catalog_changed(session)
    await _check_category(session, fields.get("category_id"))
    values = dict(fields)
    slug = values.pop("slug", None)
    movie = Movie(**values)
    await _add_with_slug(session, movie, slug, fallback="movie", source=movie.title)
    return await get_movie(session, movie.id, include_unpublished=True)


async def update_movie(
    session: AsyncSession, movie_id: uuid.UUID, changes: Mapping[str, Any]
) -> Movie:
    _catalog_changed(session)
    movie = await get_movie(session, movie_id, include_unpublished=True)
    if "category_id" in changes:
        await _check_category(session, changes["category_id"])
    if changes.get("slug") and changes["slug"] != movie.slug:
        await _claim_slug(session, Movie, changes["slug"])
    for field, value in changes.items():
        setattr(movie, field, value)
    await session.flush()
    session.expire(movie, ["category"])
    return await get_movie(session, movie_id, include_unpublished=True)


async def delete_movie(session: AsyncSession, movie_id: uuid.UUID) -> None:
    _catalog_changed(session)
    movie = await get_movie(session, movie_id, include_unpublished=True)
    await session.delete(movie)
    await session.flush()


async def set_published(session: AsyncSession, movie_id: uuid.UUID, published: bool) -> Movie:
    _catalog_changed(session)
    movie = await get_movie(session, movie_id, include_unpublished=True)
    movie.published = published
    if published and movie.published_at is None:
        movie.published_at = utcnow()
    await session.flush()
    return movie


async def set_duration(session: AsyncSession, movie_id: uuid.UUID, seconds: int) -> None:
    _catalog_changed(session)
    movie = await get_movie(session, movie_id, include_unpublished=True)
    movie.duration = seconds


async def set_pictures(
    session: AsyncSession,
    movie_id: uuid.UUID,
    *,
    poster_key: str | None,
    backdrop_key: str | None,
) -> Movie:
    """Show the pictures stored at these keys as the movie's poster and backdrop (which
    pictures a film gets is media's to decide: ``media.pictures``)."""
    movie = await get_movie(session, movie_id, include_unpublished=True)
    _catalog_changed(session)
    movie.poster_key, movie.backdrop_key = poster_key, backdrop_key
    return movie


async def add_views(session: AsyncSession, views: Mapping[uuid.UUID, int]) -> None:
    """Count views towards the movies' popularity (see catalog.view_counter for batching)."""
    for movie_id, added in views.items():
        await session.execute(
            update(Movie)
            .where(Movie.id == movie_id)
            # A view is not an edit: updated_at stays.
            .values(view_count=Movie.view_count + added, updated_at=Movie.updated_at)
        )


async def list_categories(session: AsyncSession, page: PageRequest) -> Paged[tuple[Category, int]]:
    """Categories by name, each with its number of published movies."""
    movie_count = func.count(Movie.id)
    statement: Select[Category, int] = (
        select(Category, movie_count)
        .outerjoin(Movie, (Movie.category_id == Category.id) & Movie.published.is_(True))
        .group_by(Category.id)
        .order_by(func.lower(Category.name), Category.id)
    )
    total = await count(session, select(Category))
    rows = await session.execute(statement.limit(page.page_size).offset(page.offset))
    return Paged(items=[(row[0], row[1]) for row in rows], total=total, request=page)


async def movies_by_id(
    session: AsyncSession, movie_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Movie]:
    if not movie_ids:
        return {}
    rows = await session.scalars(
        select(Movie).where(Movie.id.in_(movie_ids)).options(joinedload(Movie.category))
    )
    return {movie.id: movie for movie in rows}


def published_movie_ids() -> Select[uuid.UUID]:
    """A subquery of the ids of published movies, for other domains' filters."""
    return select(Movie.id).where(Movie.published.is_(True))


async def count_movies(session: AsyncSession, *, published: bool | None = None) -> int:
    """All movies, or only the published (``True``) or unpublished (``False``) ones."""
    statement = select(Movie.id)
    if published is not None:
        statement = statement.where(Movie.published.is_(published))
    return await count(session, statement)


async def category_ids_by_name(session: AsyncSession) -> dict[str, uuid.UUID]:
    rows = await session.execute(select(Category.name, Category.id))
    return {row.name: row.id for row in rows}


async def count_published(session: AsyncSession, category_id: uuid.UUID) -> int:
    return await count(
        session,
        select(Movie.id).where(Movie.category_id == category_id, Movie.published.is_(True)),
    )


async def get_category(session: AsyncSession, category_id: uuid.UUID) -> Category:
    category = await session.get(Category, category_id)
    if category is None:
        raise CategoryNotFound()
    return category


async def create_category(
    session: AsyncSession, *, name: str, description: str = "", slug: str | None = None
) -> Category:
    _catalog_changed(session)
    await _check_category_name(session, name)
    category = Category(name=name, description=description)
    await _add_with_slug(session, category, slug, fallback="category", source=name)
    return category


async def update_category(
    session: AsyncSession, category_id: uuid.UUID, changes: Mapping[str, Any]
) -> Category:
    _catalog_changed(session)
    category = await get_category(session, category_id)
    if "name" in changes and changes["name"].lower() != category.name.lower():
        await _check_category_name(session, changes["name"])
    if changes.get("slug") and changes["slug"] != category.slug:
        await _claim_slug(session, Category, changes["slug"])
    for field, value in changes.items():
        setattr(category, field, value)
    await session.flush()
    return category


async def delete_category(session: AsyncSession, category_id: uuid.UUID) -> None:
    _catalog_changed(session)
    """Delete a category; its movies stay, without a category."""
    category = await get_category(session, category_id)
    await session.delete(category)
    await session.flush()


async def _check_category(session: AsyncSession, category_id: uuid.UUID | None) -> None:
    if category_id is not None and await session.get(Category, category_id) is None:
        raise UnknownCategory(field="category_id")


async def _check_category_name(session: AsyncSession, name: str) -> None:
    clash = await session.scalar(
        select(Category.id).where(func.lower(Category.name) == name.lower())
    )
    if clash is not None:
        raise CategoryNameTaken(field="name")


async def _add_with_slug(
    session: AsyncSession,
    row: Movie | Category,
    requested: str | None,
    *,
    fallback: str,
    source: str,
) -> None:
    """Add ``row`` under the requested slug (which must be free) or one made from ``source``."""
    model = type(row)
    if requested:
        await _claim_slug(session, model, requested)
        row.slug = requested
        session.add(row)
    else:
        await insert_with_unique_slug(
            session, row, model.slug, make_slug(source, fallback=fallback)
        )
    await session.flush()


async def _claim_slug(
    session: AsyncSession, model: type[Movie] | type[Category], slug: str
) -> None:
    if await session.scalar(select(model.id).where(model.slug == slug)) is not None:
        raise SlugTaken(field="slug")
