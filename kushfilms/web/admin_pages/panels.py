"""Fragments that htmx swaps in place: a film's row, a film's video panel."""

import uuid

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.catalog import service as catalog
from kushfilms.media import service as media
from kushfilms.models import User
from kushfilms.web.admin_pages.common import PROBLEMS, video_state
from kushfilms.web.templating import Pages

VIDEO_SETTLED = "kf:video-settled"  # the event the edit page's poster box waits for


async def movie_row(
    request: Request,
    pages: Pages,
    session: AsyncSession,
    admin: User,
    movie_id: uuid.UUID,
    *,
    problem: str = "",
    back: str = "/admin/movies",
    status_code: int = 200,
) -> HTMLResponse:
    movie = await catalog.get_movie(session, movie_id, include_unpublished=True)
    video = await media.get_video(session, movie_id)
    return pages.render(
        request,
        "admin/_movie_row.html",
        viewer=admin,
        movie=movie,
        state=video_state(video),
        row_problem=PROBLEMS.get(problem, problem),
        back=back,
        status_code=status_code,
    )


async def video_panel(
    request: Request,
    pages: Pages,
    session: AsyncSession,
    admin: User,
    movie_id: uuid.UUID,
    *,
    problem: str = "",
    status_code: int = 200,
    announce_settled: bool = False,
) -> HTMLResponse:
    """The video panel; with ``announce_settled``, an answer for a video that is no
    longer processing also fires kf:video-settled on the page (its poster box listens)."""
    movie = await catalog.get_movie(session, movie_id, include_unpublished=True)
    video = await media.get_video(session, movie_id)
    state = video_state(video)
    response = pages.render(
        request,
        "admin/_video_status.html",
        viewer=admin,
        movie=movie,
        video=video,
        state=state,
        panel_problem=PROBLEMS.get(problem, problem),
        status_code=status_code,
    )
    if announce_settled and not state.busy:
        response.headers["HX-Trigger"] = VIDEO_SETTLED
    return response
