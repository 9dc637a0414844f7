import uuid
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import TypeAdapter

from kushfilms.accounts.deps import AdminUser, CallerOf
from kushfilms.catalog import reads, service
from kushfilms.catalog.schemas import (
    CategoryCreate,
    CategoryOut,
    CategoryUpdate,
    MovieCreate,
    MovieOut,
    MovieUpdate,
)
from kushfilms.catalog.service import CATALOG_GENERATION, MovieFilter, Sort
from kushfilms.deps import DbSession, PageQuery, ReplicaSession
from kushfilms.errors import COMMON_ERRORS, Forbidden, Unauthorized, error_responses
from kushfilms.kit.pagination import Page, to_page
from kushfilms.kit.responses import json_answer
from kushfilms.kit.text import SingleLine
from kushfilms.models import AccessLevel, Category
from kushfilms.state import app_state

# Anonymous reads of these are the same for everyone and may be served from
# the public response cache (see kushfilms.kit.cache).
PUBLIC_PATHS = (r"/api/movies", r"/api/movies/[^/]+", r"/api/categories")
__all__ = ["CATALOG_GENERATION", "PUBLIC_PATHS", "admin_router", "router"]
# The hot reads answer with JSON made straight from rows of the API's shape.
_MOVIE_PAGE = TypeAdapter(Page[MovieOut])
_MOVIE = TypeAdapter(MovieOut)

router = APIRouter(prefix="/api", tags=["catalogue"], responses=error_responses(*COMMON_ERRORS))
admin_router = APIRouter(
    prefix="/api/admin",
    tags=["admin: catalogue"],
    responses=error_responses(*COMMON_ERRORS, 401, 403),
)


def _category_out(row: tuple[Category, int]) -> CategoryOut:
    category, movie_count = row
    return CategoryOut(
        id=category.id,
        name=category.name,
        slug=category.slug,
        description=category.description,
        movie_count=movie_count,
    )


@router.get(
    "/movies",
    response_model=Page[MovieOut],
    responses=error_responses(401, 403),
    summary="List, filter and search published movies",
)
async def list_movies(
    request: Request,
    caller: CallerOf,
    page: PageQuery,
    search: Annotated[
        SingleLine | None,
        Query(max_length=200, description="Words from the title or description; prefixes match"),
    ] = None,
    category: Annotated[
        SingleLine | None, Query(max_length=100, description="Category slug or id")
    ] = None,
    access_level: AccessLevel | None = None,
    sort: Annotated[
        Sort | None, Query(description="Default: relevance when searching, else newest")
    ] = None,
    include_unpublished: Annotated[bool, Query(description="Administrators only")] = False,
) -> Response:
    if include_unpublished:
        if not caller.signed_in:
            raise Unauthorized("Sign in as an administrator to see unpublished movies.")
        if not await caller.is_admin():
            raise Forbidden("Only administrators see unpublished movies.")
    query = MovieFilter(
        search=search,
        category=category,
        access_level=access_level,
        sort=sort,
        include_unpublished=include_unpublished,
    )
    found = await app_state(request).db.run_read(
        partial(reads.find_movies, query=query, page=page), brief=query.served_by_an_index
    )
    answer = {
        "items": found.items,
        "total": found.total,
        "page": page.page,
        "page_size": page.page_size,
    }
    return json_answer(_MOVIE_PAGE, answer)


@router.get(
    "/movies/{id_or_slug}",
    response_model=MovieOut,
    responses=error_responses(404),
    summary="One movie, by id or slug",
)
async def get_movie(
    id_or_slug: Annotated[SingleLine, Path(max_length=220)],
    request: Request,
    caller: CallerOf,
) -> Response:
    db = app_state(request).db
    movie = await db.run_read(partial(reads.find_movie, id_or_slug=id_or_slug), brief=True)
    if movie is None and await caller.is_admin():
        movie = await db.run_read(
            partial(reads.find_movie, id_or_slug=id_or_slug, include_unpublished=True)
        )
    if movie is None:
        raise service.MovieNotFound()
    return json_answer(_MOVIE, movie)


@router.get("/categories", summary="List categories with their published movie counts")
async def list_categories(session: ReplicaSession, page: PageQuery) -> Page[CategoryOut]:
    return to_page(await service.list_categories(session, page), _category_out)


@admin_router.post(
    "/movies",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409),
    summary="Create a movie (unpublished)",
)
async def create_movie(body: MovieCreate, _: AdminUser, session: DbSession) -> MovieOut:
    movie = await service.create_movie(session, body.model_dump())
    return MovieOut.model_validate(movie)


@admin_router.put(
    "/movies/{movie_id}",
    responses=error_responses(404, 409),
    summary="Change some of a movie's fields",
)
async def update_movie(
    movie_id: uuid.UUID, body: MovieUpdate, _: AdminUser, session: DbSession
) -> MovieOut:
    movie = await service.update_movie(session, movie_id, body.changes())
    return MovieOut.model_validate(movie)


@admin_router.post(
    "/categories",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409),
    summary="Create a category",
)
async def create_category(body: CategoryCreate, _: AdminUser, session: DbSession) -> CategoryOut:
    category = await service.create_category(
        session, name=body.name, description=body.description, slug=body.slug
    )
    return _category_out((category, 0))


@admin_router.put(
    "/categories/{category_id}",
    responses=error_responses(404, 409),
    summary="Rename or describe a category",
)
async def update_category(
    category_id: uuid.UUID, body: CategoryUpdate, _: AdminUser, session: DbSession
) -> CategoryOut:
    category = await service.update_category(session, category_id, body.changes())
    return _category_out((category, await service.count_published(session, category.id)))


@admin_router.delete(
    "/categories/{category_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(404),
    summary="Delete a category (its movies stay, uncategorised)",
)
async def delete_category(category_id: uuid.UUID, _: AdminUser, session: DbSession) -> Response:
    await service.delete_category(session, category_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
