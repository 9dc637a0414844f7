"""The catalogue's hot reads, written for speed: a page of movies and one movie.

Every viewer browses and searches, so these run on every visit. Each is plain
work on a sync session, run in one hop by :meth:`kushfilms.db.Database.run_read`
(on SQLite a reading thread over the sqlite3 module). Rows come back as plain
dicts in the API's shape, straight from Core statements: no ORM objects, no
second pass to turn them into response models. A page's total comes from a
small cache that the catalogue's changes in this process clear at once, and
that lets another process's change show within ``TOTAL_SECONDS``.
"""

import enum
import functools
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Row, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from kushfilms.catalog import search
from kushfilms.kit.cache import Generation
from kushfilms.kit.pagination import PageRequest
from kushfilms.kit.text import words
from kushfilms.media.layout import art_url
from kushfilms.models import AccessLevel, Category, Movie

T = TypeVar("T")
TOTAL_SECONDS = 5.0
# Moves on when this process commits a change to the catalogue, which drops
# cached public responses and totals built from the old one.
CATALOG_GENERATION = Generation()


class Sort(enum.StrEnum):
    RELEVANCE = "relevance"
    NEWEST = "newest"
    TITLE = "title"
    POPULAR = "popular"


@dataclass(frozen=True, slots=True)
class MovieFilter:
    search: str | None = None
    category: str | None = None  # slug or id
    access_level: AccessLevel | None = None
    sort: Sort | None = None  # relevance when searching, else newest
    include_unpublished: bool = False

    @property
    def served_by_an_index(self) -> bool:
        """Whether a page of it is read along an index, in well under a millisecond:
        the published films, newest first (by (published, published_at, id)), not a
        search (which ranks every hit) nor another order (which sorts them all)."""
        return not self.search and not self.include_unpublished and self.sort in (None, Sort.NEWEST)


def as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def the_movie(id_or_slug: str | uuid.UUID, include_unpublished: bool) -> ColumnElement[bool]:
    """The condition that picks one movie by id or slug, published unless told."""
    parsed = id_or_slug if isinstance(id_or_slug, uuid.UUID) else as_uuid(id_or_slug)
    found = Movie.id == parsed if parsed is not None else Movie.slug == id_or_slug
    return found if include_unpublished else and_(found, Movie.published.is_(True))


def _category_id(slug_or_id: str) -> Any:
    condition = Category.slug == slug_or_id
    parsed = as_uuid(slug_or_id)
    if parsed is not None:
        condition = or_(condition, Category.id == parsed)
    return select(Category.id).where(condition).scalar_subquery()


def _ordering(
    sort: Sort | None, rank: ColumnElement[float] | None, *, published_only: bool
) -> list[Any]:
    # Published movies always have published_at, and the index on
    # (published, published_at, id) serves this order; unpublished ones are
    # newest by creation.
    newest = [Movie.published_at.desc()] if published_only else [Movie.created_at.desc()]
    if sort is None:
        sort = Sort.RELEVANCE if rank is not None else Sort.NEWEST
    if sort is Sort.RELEVANCE and rank is not None:
        order = [rank.asc(), *newest]
    elif sort is Sort.TITLE:
        order = [func.lower(Movie.title).asc()]
    elif sort is Sort.POPULAR:
        order = [Movie.view_count.desc(), *newest]
    else:
        order = newest
    return [*order, Movie.id.desc()]


_COLUMNS = (
    Movie.id,
    Movie.title,
    Movie.slug,
    Movie.description,
    Movie.poster_key,
    Movie.backdrop_key,
    Movie.duration,
    Movie.release_year,
    Movie.access_level,
    Movie.published,
    Movie.published_at,
    Movie.view_count,
    Movie.created_at,
    Movie.updated_at,
    Category.id.label("category_id"),
    Category.name.label("category_name"),
    Category.slug.label("category_slug"),
)


def _movie(row: Row[Any]) -> dict[str, Any]:
    """A movie in the API's shape (``MovieOut``)."""
    poster = art_url(row.poster_key) if row.poster_key else None
    return {
        "id": row.id,
        "title": row.title,
        "slug": row.slug,
        "description": row.description,
        "thumbnail_url": poster,
        "poster_url": poster,
        "backdrop_url": art_url(row.backdrop_key) if row.backdrop_key else None,
        "duration": row.duration,
        "release_year": row.release_year,
        "access_level": row.access_level,
        "category": (
            {"id": row.category_id, "name": row.category_name, "slug": row.category_slug}
            if row.category_id is not None
            else None
        ),
        "published": row.published,
        "published_at": row.published_at,
        "view_count": row.view_count,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _all_columns() -> Select[Any]:
    statement: Select[Any] = select(*_COLUMNS)  # type: ignore[assignment]
    return statement.outerjoin(Category, Category.id == Movie.category_id)


# Built once: every column of the API's shape, the category's included.
_MOVIE_ROWS = _all_columns()


def _movie_rows() -> Select[Any]:
    return _MOVIE_ROWS


@dataclass
class Totals:
    """How many movies each filter finds, for ``seconds`` or until the catalogue
    changes in this process, for at most ``max_entries`` filters."""

    seconds: float = TOTAL_SECONDS
    max_entries: int = 4096
    kept: OrderedDict[tuple[Any, ...], tuple[int, float, int]] = field(default_factory=OrderedDict)

    def get(self, key: tuple[Any, ...]) -> int | None:
        found = self.kept.get(key)
        if found is None:
            return None
        generation, until, total = found
        if generation != CATALOG_GENERATION.value or until <= time.monotonic():
            del self.kept[key]
            return None
        return total

    def put(self, key: tuple[Any, ...], total: int) -> None:
        self.kept[key] = (CATALOG_GENERATION.value, time.monotonic() + self.seconds, total)
        while len(self.kept) > self.max_entries:
            self.kept.popitem(last=False)


TOTALS = Totals()


@dataclass(frozen=True, slots=True)
class Found(Generic[T]):
    items: list[T]
    total: int


# What a page is made of, once its filter, order and paging are known: the ids
# alone (for the admin pages' ORM objects), or the whole rows in one statement.
# ``order`` gives the page's order by a search's rank (None: not a search).
_Order = Callable[[Any], list[Any]]
_Pick = Callable[[Session, Select[Any], _Order, Any, PageRequest], list[T]]


def find_movies(session: Session, query: MovieFilter, page: PageRequest) -> Found[dict[str, Any]]:
    """A page of the movies ``query`` finds, in the API's shape."""
    return _find(session, query, page, _rows)


def find_movie_ids(session: Session, query: MovieFilter, page: PageRequest) -> Found[uuid.UUID]:
    """The ids on a page of the movies ``query`` finds, in order."""
    return _find(session, query, page, _ids)


def _ids(
    session: Session, statement: Select[Any], order: _Order, rank: Any, page: PageRequest
) -> list[uuid.UUID]:
    paged = statement.order_by(*order(rank)).limit(page.page_size).offset(page.offset)
    return list(session.scalars(paged))


def _rows(
    session: Session, statement: Select[Any], order: _Order, rank: Any, page: PageRequest
) -> list[dict[str, Any]]:
    # The page's ids (the index covers them), joined to their rows in the same
    # statement and put in the same order again (20 rows: nothing to sort).
    columns = [Movie.id] if rank is None else [Movie.id, rank.label("rank")]
    ids = (
        statement.with_only_columns(*columns)
        .order_by(*order(rank))
        .limit(page.page_size)
        .offset(page.offset)
        .subquery("page")
    )
    again = order(None if rank is None else ids.c.rank)
    rows = _movie_rows().join(ids, ids.c.id == Movie.id).order_by(*again)
    return [_movie(row) for row in session.execute(rows)]


def _find(session: Session, query: MovieFilter, page: PageRequest, pick: _Pick[T]) -> Found[T]:
    """A page of what ``query`` finds; a search that finds nothing is tried again
    with each misspelt word replaced by the nearest title word."""
    query_words = words(query.search or "")
    found = _find_in(session, query, query_words, page, pick)
    if found.total or not query_words:
        return found
    corrected = search.correct_words(query_words, search.title_vocabulary(session))
    if corrected == query_words:
        return found
    return _find_in(session, query, corrected, page, pick)


def _find_in(
    session: Session,
    query: MovieFilter,
    query_words: Sequence[str],
    page: PageRequest,
    pick: _Pick[T],
) -> Found[T]:
    dialect = session.get_bind().dialect.name
    statement = select(Movie.id)
    if not query.include_unpublished:
        statement = statement.where(Movie.published.is_(True))
    if query.access_level is not None:
        statement = statement.where(Movie.access_level == query.access_level)
    if query.category:
        statement = statement.where(Movie.category_id == _category_id(query.category))
    rank = None
    if query_words:
        hits = search.matches(dialect, query_words)
        statement = statement.join(hits, hits.c.movie_id == Movie.id)
        rank = hits.c.rank
    key = (
        str(session.get_bind().engine.url),
        query.include_unpublished,
        query.access_level,
        query.category,
        tuple(query_words),
    )
    total = TOTALS.get(key)
    if total is None:
        counting = statement.with_only_columns(func.count(), maintain_column_froms=True)
        total = int(session.scalar(counting) or 0)
        TOTALS.put(key, total)
    order = functools.partial(_ordering, query.sort, published_only=not query.include_unpublished)
    return Found(pick(session, statement, order, rank, page), total)


def find_movie(
    session: Session, id_or_slug: str, *, include_unpublished: bool = False
) -> dict[str, Any] | None:
    """One movie by id or slug, in the API's shape; None when there is none (or it is
    unpublished and ``include_unpublished`` is not set)."""
    statement = _movie_rows().where(the_movie(id_or_slug, include_unpublished))
    row = session.execute(statement).first()
    return _movie(row) if row is not None else None
