"""The console keeps up by itself: the dashboard sees new uploads, the poster box sees
the poster processing made, and nothing shows progress before there is any."""

import re
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from kushfilms.catalog import service as catalog
from kushfilms.db import transaction
from kushfilms.models import Video, VideoStatus
from tests.catalog.conftest import add_movie
from tests.conftest import Backend
from tests.films import add_video
from tests.web.test_admin_pages import HTMX, form_token, sign_in


@pytest.fixture
async def console(client: httpx.AsyncClient, admin: dict[str, Any]) -> str:
    """The client signed in to the pages as the administrator; returns the CSRF token."""
    await sign_in(client, admin["user"]["email"])
    return await form_token(client, "/admin")


def element(page: str, testid: str) -> str:
    """The opening tag of the element with this test id."""
    found = re.search(rf'<[^>]*data-testid="{testid}"[^>]*>', page, re.S)
    assert found, f"no {testid}"
    return found.group(0)


async def test_the_idle_dashboard_keeps_looking_for_new_uploads(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, console: str
) -> None:
    movie = await add_movie(client, admin, title="Fresh Upload", publish=False)

    idle = await client.get("/admin/live", headers=HTMX)
    page = await client.get("/admin")
    await add_video(env, movie["id"], VideoStatus.UPLOADED)
    busy = await client.get("/admin/live", headers=HTMX)

    for quiet in (idle.text, page.text):
        live = element(quiet, "dashboard-live")
        assert re.search(r'hx-trigger="every \d+s"', live), live
        assert "every 2s" not in live  # slower while nothing is processing
    assert 'data-testid="jobs-empty"' in idle.text
    assert 'hx-trigger="every 2s"' in element(busy.text, "dashboard-live")
    assert f'data-movie-id="{movie["id"]}"' in busy.text


async def test_the_poster_box_refreshes_itself_when_processing_ends(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, console: str
) -> None:
    movie = await add_movie(client, admin, title="Frame Grab", publish=False)
    await add_video(env, movie["id"], VideoStatus.PROCESSING, progress=40.0)

    edit = await client.get(f"/admin/movies/{movie['id']}/edit")
    processing = await client.get(f"/admin/movies/{movie['id']}/video", headers=HTMX)
    async with transaction(env.app.state.db.writer) as session:  # as the worker ends it
        await session.execute(
            update(Video)
            .where(Video.movie_id == uuid.UUID(movie["id"]))
            .values(status=VideoStatus.READY, progress=100.0)
        )
        await catalog.set_pictures(
            session, uuid.UUID(movie["id"]), poster_key="art/frame-grab.jpg", backdrop_key=None
        )
    ready = await client.get(f"/admin/movies/{movie['id']}/video", headers=HTMX)
    box = await client.get(f"/admin/movies/{movie['id']}/poster", headers=HTMX)

    poster_box = element(edit.text, "poster-box")
    assert f'hx-get="/admin/movies/{movie["id"]}/poster"' in poster_box
    assert 'hx-trigger="kf:video-settled from:body"' in poster_box
    assert 'data-testid="no-poster"' in edit.text
    assert "kf:video-settled" not in processing.headers.get("hx-trigger", "")
    assert ready.headers.get("hx-trigger") == "kf:video-settled"
    assert box.status_code == 200
    assert "<html" not in box.text
    assert 'data-testid="poster-box"' in box.text
    assert 'data-testid="current-poster"' in box.text
    assert 'data-testid="no-poster"' not in box.text
    assert 'action="/admin/movies/' in box.text  # the upload form comes with it


async def test_no_progress_bar_shows_before_there_is_progress(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, console: str
) -> None:
    fresh = await add_movie(client, admin, title="Nothing Yet", publish=False)
    queued = await add_movie(client, admin, title="In The Queue", publish=False)
    await add_video(env, queued["id"], VideoStatus.UPLOADED)

    empty = (await client.get(f"/admin/movies/{fresh['id']}/edit")).text
    waiting = (await client.get(f"/admin/movies/{queued['id']}/video", headers=HTMX)).text

    assert " hidden" in element(empty, "upload-progress-box")
    assert "0 %" not in empty
    assert "Waiting" in waiting
    assert "0 %" not in waiting
    assert 'value="0"' not in element(waiting, "video-progress")  # it says waiting, not 0


async def test_the_console_has_one_new_film_button_and_a_way_to_categories(
    client: httpx.AsyncClient, console: str
) -> None:
    for path in ("/admin", "/admin/movies", "/admin/users"):
        page = (await client.get(path)).text
        buttons = re.findall(r'<a[^>]*href="/admin/movies/new"[^>]*>\s*New film', page)
        assert len(buttons) == 1, (path, buttons)
        nav = re.search(r'<nav class="admin-nav".*?</nav>', page, re.S)
        assert nav
        assert re.search(r'<a href="/admin/categories"[^>]*>Categories</a>', nav.group(0)), path
