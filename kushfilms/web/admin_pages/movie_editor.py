"""Making and editing a film: its details, its pictures, and the state of its video."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.catalog import service as catalog
from kushfilms.deps import DbSession, MediaStorage, ReadSession
from kushfilms.errors import KushError
from kushfilms.media import flows
from kushfilms.media import service as media
from kushfilms.media.pictures import Kind, UnsupportedImage
from kushfilms.models import User
from kushfilms.state import app_state
from kushfilms.web.admin_pages import panels
from kushfilms.web.admin_pages.common import page_messages, picture_slots, video_state
from kushfilms.web.admin_pages.movie_form import ACCESS_LEVELS, MovieForm, check_movie_form
from kushfilms.web.deps import CheckedForm, PageAdmin, Templates
from kushfilms.web.templating import Pages

router = APIRouter()
# Plain text, checked by check_movie_form: it says what is too long or not text
# (control characters), next to the field.
Text = Annotated[str, Form(max_length=20_000)]
MAX_POSTER_MIB = flows.MAX_POSTER_BYTES // (1024 * 1024)


async def _categories(session: AsyncSession) -> list[tuple[str, str]]:
    """(id, name) of every category, by name: the options of the category select."""
    by_name = await catalog.category_ids_by_name(session)
    return [(str(by_name[name]), name) for name in sorted(by_name, key=str.lower)]


def _typed(
    title: str, description: str, category_id: str, access_level: str, release_year: str, slug: str
) -> MovieForm:
    return MovieForm(
        title=title,
        description=description,
        category_id=category_id,
        access_level=access_level,
        release_year=release_year,
        slug=slug,
    )


async def _new_page(
    request: Request,
    pages: Pages,
    session: AsyncSession,
    admin: User,
    *,
    form: MovieForm,
    errors: dict[str, str],
    status_code: int = 200,
) -> HTMLResponse:
    return pages.render(
        request,
        "admin/movie_new.html",
        viewer=admin,
        form=form.values(),
        errors=errors,
        categories=await _categories(session),
        access_levels=ACCESS_LEVELS,
        status_code=status_code,
    )


@router.get("/admin/movies/new", response_class=HTMLResponse)
async def new_movie(
    request: Request, admin: PageAdmin, session: ReadSession, pages: Templates
) -> HTMLResponse:
    return await _new_page(request, pages, session, admin, form=MovieForm(), errors={})


@router.post("/admin/movies/new", dependencies=[CheckedForm])
async def create_movie(
    request: Request,
    admin: PageAdmin,
    session: DbSession,
    pages: Templates,
    title: Text = "",
    description: Text = "",
    category_id: Text = "",
    access_level: Text = "",
    release_year: Text = "",
) -> Response:
    form = _typed(title, description, category_id, access_level, release_year, "")
    fields, errors = check_movie_form(form, with_slug=False)
    if not errors:
        try:
            movie = await catalog.create_movie(session, fields)
        except KushError as error:
            errors[error.extra.get("field", "form")] = error.detail
        else:
            return RedirectResponse(f"/admin/movies/{movie.id}/edit?notice=created", 303)
    return await _new_page(
        request, pages, session, admin, form=form, errors=errors, status_code=422
    )


async def _edit_page(
    request: Request,
    pages: Pages,
    session: AsyncSession,
    admin: User,
    movie_id: uuid.UUID,
    *,
    form: MovieForm | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    movie = await catalog.get_movie(session, movie_id, include_unpublished=True)
    video = await media.get_video(session, movie_id)
    notice, problem = page_messages(request)
    context: dict[str, Any] = {
        "movie": movie,
        "video": video,
        "state": video_state(video),
        "form": (form or MovieForm.of(movie)).values(),
        "errors": errors or {},
        "categories": await _categories(session),
        "access_levels": ACCESS_LEVELS,
        "notice": notice,
        "problem": problem,
        "max_poster_mib": MAX_POSTER_MIB,
        "pictures": picture_slots(movie),
    }
    return pages.render(
        request, "admin/movie_edit.html", viewer=admin, status_code=status_code, **context
    )


@router.get("/admin/movies/{movie_id}/edit", response_class=HTMLResponse)
async def edit_movie(
    request: Request, movie_id: uuid.UUID, admin: PageAdmin, session: ReadSession, pages: Templates
) -> HTMLResponse:
    return await _edit_page(request, pages, session, admin, movie_id)


@router.post("/admin/movies/{movie_id}/edit", dependencies=[CheckedForm])
async def save_movie(
    request: Request,
    movie_id: uuid.UUID,
    admin: PageAdmin,
    session: DbSession,
    pages: Templates,
    title: Text = "",
    description: Text = "",
    category_id: Text = "",
    access_level: Text = "",
    release_year: Text = "",
    slug: Text = "",
) -> Response:
    form = _typed(title, description, category_id, access_level, release_year, slug)
    changes, errors = check_movie_form(form, with_slug=True)
    if not errors:
        try:
            await catalog.update_movie(session, movie_id, changes)
        except KushError as error:
            if error.status == 404:
                raise
            errors[error.extra.get("field", "form")] = error.detail
        else:
            return RedirectResponse(f"/admin/movies/{movie_id}/edit?notice=saved", 303)
    return await _edit_page(
        request, pages, session, admin, movie_id, form=form, errors=errors, status_code=422
    )


@router.post("/admin/movies/{movie_id}/poster", dependencies=[CheckedForm])
async def upload_poster(
    request: Request,
    movie_id: uuid.UUID,
    admin: PageAdmin,
    session: ReadSession,
    pages: Templates,
    storage: MediaStorage,
    file: UploadFile | None = None,
) -> Response:
    return await _upload_picture(request, movie_id, "poster", admin, session, pages, storage, file)


@router.post("/admin/movies/{movie_id}/backdrop", dependencies=[CheckedForm])
async def upload_backdrop(
    request: Request,
    movie_id: uuid.UUID,
    admin: PageAdmin,
    session: ReadSession,
    pages: Templates,
    storage: MediaStorage,
    file: UploadFile | None = None,
) -> Response:
    return await _upload_picture(
        request, movie_id, "backdrop", admin, session, pages, storage, file
    )


async def _upload_picture(
    request: Request,
    movie_id: uuid.UUID,
    kind: Kind,
    admin: User,
    session: AsyncSession,
    pages: Pages,
    storage: MediaStorage,
    file: UploadFile | None,
) -> Response:
    problem, status = "Choose an image file to upload.", 422
    if file is not None and file.size:
        await session.close()  # no transaction stays open across the image work
        db = app_state(request).db
        try:
            await flows.set_picture(db, movie_id=movie_id, kind=kind, image=file, storage=storage)
        except (flows.PosterTooLarge, UnsupportedImage) as error:
            problem, status = error.detail, error.status
        else:
            return RedirectResponse(f"/admin/movies/{movie_id}/edit?notice={kind}", 303)
    return await _edit_page(
        request, pages, session, admin, movie_id, errors={kind: problem}, status_code=status
    )


@router.get("/admin/movies/{movie_id}/video", response_class=HTMLResponse)
async def video_status(
    request: Request, movie_id: uuid.UUID, admin: PageAdmin, session: ReadSession, pages: Templates
) -> HTMLResponse:
    """The video panel, which polls itself while the video is processing; once it is
    done, the answer tells the page (kf:video-settled), whose poster box looks again."""
    return await panels.video_panel(request, pages, session, admin, movie_id, announce_settled=True)


@router.get("/admin/movies/{movie_id}/poster", response_class=HTMLResponse)
async def poster_box(
    request: Request, movie_id: uuid.UUID, admin: PageAdmin, session: ReadSession, pages: Templates
) -> HTMLResponse:
    """The poster box alone, for the edit page to swap in."""
    movie = await catalog.get_movie(session, movie_id, include_unpublished=True)
    return pages.render(
        request,
        "admin/_poster_box.html",
        viewer=admin,
        movie=movie,
        pictures=picture_slots(movie),
        errors={},
        max_poster_mib=MAX_POSTER_MIB,
    )
