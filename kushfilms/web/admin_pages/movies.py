"""The films table: search, publish and unpublish, delete (after a confirmation)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.catalog import service as catalog
from kushfilms.catalog.service import MovieFilter
from kushfilms.deps import DbSession, JobQueue, ReadSession
from kushfilms.kit.pagination import PageRequest
from kushfilms.kit.text import SingleLine
from kushfilms.media import flows
from kushfilms.media import service as media
from kushfilms.models import User
from kushfilms.web.admin_pages import panels
from kushfilms.web.admin_pages.common import back_to, is_htmx, page_messages, video_state
from kushfilms.web.deps import CheckedForm, PageAdmin, Templates
from kushfilms.web.templating import Pages

router = APIRouter()
PAGE_SIZE = 20
Search = Annotated[SingleLine, Query(max_length=200)]
PageNumber = Annotated[int, Query(ge=1, le=100_000)]
Back = Annotated[SingleLine, Form(max_length=2000)]
Fragment = Annotated[SingleLine, Form(max_length=20)]


@router.get("/admin/movies", response_class=HTMLResponse)
async def movies(
    request: Request,
    admin: PageAdmin,
    session: ReadSession,
    pages: Templates,
    search: Search = "",
    page: PageNumber = 1,
) -> HTMLResponse:
    query = MovieFilter(search=search.strip() or None, include_unpublished=True)
    found = await catalog.list_movies(session, query, PageRequest(page=page, page_size=PAGE_SIZE))
    videos = await media.videos_of(session, [movie.id for movie in found.items])
    notice, problem = page_messages(request)
    partial = is_htmx(request) and request.headers.get("hx-target") == "movie-results"
    response = pages.render(
        request,
        "admin/_movie_results.html" if partial else "admin/movies.html",
        viewer=admin,
        found=found,
        rows=[(movie, video_state(videos.get(movie.id))) for movie in found.items],
        search=search,
        notice=notice,
        problem=problem,
        back=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
    )
    response.headers["Vary"] = "HX-Request, HX-Target"
    return response


async def _toggled(
    request: Request,
    admin: User,
    session: AsyncSession,
    pages: Pages,
    movie_id: uuid.UUID,
    *,
    notice: str,
    problem: str,
    fragment: str,
    back: str,
) -> Response:
    """The changed row or video panel for htmx, else back to the page it came from."""
    status_code = 409 if problem else 200
    if is_htmx(request) and fragment == "video":
        return await panels.video_panel(
            request, pages, session, admin, movie_id, problem=problem, status_code=status_code
        )
    if is_htmx(request):
        return await panels.movie_row(
            request,
            pages,
            session,
            admin,
            movie_id,
            problem=problem,
            back=back_to(back, "/admin/movies"),
            status_code=status_code,
        )
    params = {"problem": problem} if problem else {"notice": notice}
    return RedirectResponse(back_to(back, "/admin/movies", **params), status_code=303)


@router.post("/admin/movies/{movie_id}/publish", dependencies=[CheckedForm])
async def publish(
    request: Request,
    movie_id: uuid.UUID,
    admin: PageAdmin,
    session: DbSession,
    pages: Templates,
    fragment: Fragment = "",
    back: Back = "",
) -> Response:
    problem = ""
    try:
        await flows.publish_film(session, movie_id=movie_id)
    except media.VideoNotReady:
        problem = "video_not_ready"
    return await _toggled(
        request,
        admin,
        session,
        pages,
        movie_id,
        notice="published",
        problem=problem,
        fragment=fragment,
        back=back,
    )


@router.post("/admin/movies/{movie_id}/unpublish", dependencies=[CheckedForm])
async def unpublish(
    request: Request,
    movie_id: uuid.UUID,
    admin: PageAdmin,
    session: DbSession,
    pages: Templates,
    fragment: Fragment = "",
    back: Back = "",
) -> Response:
    await flows.unpublish_film(session, movie_id=movie_id)
    return await _toggled(
        request,
        admin,
        session,
        pages,
        movie_id,
        notice="unpublished",
        problem="",
        fragment=fragment,
        back=back,
    )


@router.get("/admin/movies/{movie_id}/delete", response_class=HTMLResponse)
async def confirm_delete(
    request: Request, movie_id: uuid.UUID, admin: PageAdmin, session: ReadSession, pages: Templates
) -> HTMLResponse:
    movie = await catalog.get_movie(session, movie_id, include_unpublished=True)
    video = await media.get_video(session, movie_id)
    return pages.render(
        request, "admin/movie_delete.html", viewer=admin, movie=movie, state=video_state(video)
    )


@router.post("/admin/movies/{movie_id}/delete", dependencies=[CheckedForm])
async def delete(
    request: Request, movie_id: uuid.UUID, _: PageAdmin, session: DbSession, jobs: JobQueue
) -> Response:
    await flows.delete_film(session, movie_id=movie_id, jobs=jobs)
    if is_htmx(request):
        return HTMLResponse("")  # the row swaps out
    return RedirectResponse("/admin/movies?notice=deleted", status_code=303)
