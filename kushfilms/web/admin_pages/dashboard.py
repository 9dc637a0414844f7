"""The console's front page: counts, and the videos being processed right now."""

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.accounts import service as accounts
from kushfilms.catalog import service as catalog
from kushfilms.deps import ReadSession
from kushfilms.media import service as media
from kushfilms.models import Movie
from kushfilms.web.admin_pages.common import VideoState, video_state
from kushfilms.web.deps import PageAdmin, Templates

router = APIRouter()


@dataclass(frozen=True, slots=True)
class Job:
    movie: Movie
    state: VideoState


@dataclass(frozen=True, slots=True)
class Overview:
    films: int
    published: int
    processing: int
    users: int
    jobs: list[Job]
    failures: list[Job]

    @property
    def polling(self) -> bool:
        return bool(self.jobs)


async def _overview(session: AsyncSession) -> Overview:
    in_progress = await media.videos_in_progress(session)
    failed = await media.recent_failures(session)
    movies = await catalog.movies_by_id(
        session, [video.movie_id for video in (*in_progress, *failed)]
    )
    return Overview(
        films=await catalog.count_movies(session),
        published=await catalog.count_movies(session, published=True),
        processing=await media.count_in_progress(session),
        users=await accounts.count_users(session),
        jobs=[Job(movies[v.movie_id], video_state(v)) for v in in_progress if v.movie_id in movies],
        failures=[Job(movies[v.movie_id], video_state(v)) for v in failed if v.movie_id in movies],
    )


@router.get("/admin", response_class=HTMLResponse)
async def dashboard(
    request: Request, admin: PageAdmin, session: ReadSession, pages: Templates
) -> HTMLResponse:
    return pages.render(
        request, "admin/dashboard.html", viewer=admin, overview=await _overview(session)
    )


@router.get("/admin/live", response_class=HTMLResponse)
async def live(
    request: Request, admin: PageAdmin, session: ReadSession, pages: Templates
) -> HTMLResponse:
    """The counts and jobs of the dashboard, which it polls while anything is processing."""
    return pages.render(
        request, "admin/_live.html", viewer=admin, overview=await _overview(session)
    )
