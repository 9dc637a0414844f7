"""The admin console through its pages, as an operator's browser uses it."""

import asyncio
import base64
import io
import re
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from kushfilms.media.ffmpeg import ffmpeg_executable
from kushfilms.media.synthetic import render_clip
from kushfilms.models import VideoStatus
from tests.catalog.conftest import add_category, add_movie
from tests.conftest import PASSWORD, Backend, register
from tests.films import add_video

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HTMX = {"HX-Request": "true"}


async def form_token(client: httpx.AsyncClient, path: str = "/login") -> str:
    page = await client.get(path)
    found = CSRF.search(page.text)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, email: str) -> None:
    token = await form_token(client, "/login")
    response = await client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 303, response.text


@pytest.fixture
async def console(client: httpx.AsyncClient, admin: dict[str, Any]) -> str:
    """The client signed in to the pages as the administrator; yields the CSRF token."""
    await sign_in(client, admin["user"]["email"])
    return await form_token(client, "/admin")


async def post_form(
    client: httpx.AsyncClient, path: str, token: str, **fields: str
) -> httpx.Response:
    return await client.post(path, data={"csrf_token": token, **fields})


async def movie_of(client: httpx.AsyncClient, admin: dict[str, Any], movie_id: str) -> Any:
    response = await client.get(f"/api/admin/movies/{movie_id}", headers=admin["headers"])
    return response.json() if response.status_code == 200 else None


def png(width: int = 60, height: int = 90) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(out, format="PNG")
    return out.getvalue()


# Who may come in


@pytest.mark.parametrize(
    "path", ["/admin", "/admin/movies?search=night", "/admin/movies/new", "/admin/users"]
)
async def test_anonymous_visitors_are_sent_to_sign_in_and_back(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)

    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path == "/login"
    assert location.query == "next=" + path.replace("?", "%3F").replace("=", "%3D")


async def test_viewers_are_refused_every_admin_page(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any]
) -> None:
    movie = await add_movie(client, admin, title="Kept", publish=False)
    await sign_in(client, viewer["user"]["email"])
    token = await form_token(client, "/account")

    pages = [
        await client.get(path)
        for path in (
            "/admin",
            "/admin/live",
            "/admin/movies",
            f"/admin/movies/{movie['id']}/edit",
            f"/admin/movies/{movie['id']}/delete",
            "/admin/users",
        )
    ]
    deleting = await post_form(client, f"/admin/movies/{movie['id']}/delete", token)

    for page in pages:
        assert page.status_code == 403
        assert page.headers["content-type"].startswith("text/html")
        assert "This page is for administrators." in page.text
        assert 'href="/login"' not in page.text  # still signed in, and shown so
        assert ">Sign out</button>" in page.text
    assert deleting.status_code == 403
    assert await movie_of(client, admin, movie["id"]) is not None
    assert 'href="/admin"' not in (await client.get("/account")).text


async def test_forged_posts_without_the_token_change_nothing(
    client: httpx.AsyncClient,
    client_from: Any,
    admin: dict[str, Any],
    viewer: dict[str, Any],
    console: str,
) -> None:
    movie = await add_movie(client, admin, title="Untouchable", publish=False)
    other_browser = client_from("198.51.100.7")
    foreign_token = await form_token(other_browser, "/login")

    forged = [
        await client.post(f"/admin/movies/{movie['id']}/delete"),
        await client.post(
            f"/admin/movies/{movie['id']}/delete", data={"csrf_token": foreign_token}
        ),
        await client.post("/admin/movies/new", data={"title": "Sneaky"}),
        await client.post(f"/admin/movies/{movie['id']}/edit", data={"title": "Renamed"}),
        await client.post(
            f"/admin/users/{viewer['user']['id']}/role", data={"role": "ADMIN"}, headers=HTMX
        ),
    ]

    for response in forged:
        assert response.status_code == 403
        assert "CSRF" in response.text
    kept = await movie_of(client, admin, movie["id"])
    assert kept["title"] == "Untouchable"
    listed = await client.get("/api/admin/users?search=viewer", headers=admin["headers"])
    assert [user["role"] for user in listed.json()["items"]] == ["USER"]
    assert (await client.get("/admin/movies?search=sneaky")).text.count(
        'data-testid="movie-row"'
    ) == 0


# The dashboard


async def test_the_dashboard_counts_and_follows_processing(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, console: str
) -> None:
    await register(client)
    busy = await add_movie(client, admin, title="Busy <b>Bee</b>", publish=False)
    queued = await add_movie(client, admin, title="Queued", publish=False)
    broken = await add_movie(client, admin, title="Broken", publish=False)
    await add_movie(client, admin, title="Out Already")
    await add_video(env, busy["id"], VideoStatus.PROCESSING, progress=42.4, eta_seconds=75)
    await add_video(env, queued["id"], VideoStatus.UPLOADED)
    await add_video(
        env, broken["id"], VideoStatus.FAILED, error="Transcoding failed 3 times: no frames"
    )

    page = await client.get("/admin")
    live = await client.get("/admin/live", headers=HTMX)

    assert page.status_code == 200
    for name, value in (("films", 4), ("published", 1), ("processing", 2), ("users", 2)):
        assert re.search(rf'data-testid="count-{name}">.*?<dd>{value}</dd>', page.text), name
    assert "Busy &lt;b&gt;Bee&lt;/b&gt;" in page.text
    assert "Processing 42 %" in page.text
    assert "about 1 min left" in page.text
    assert "Waiting to process" in page.text
    assert "Transcoding failed 3 times: no frames" in page.text
    assert live.status_code == 200
    assert "<html" not in live.text
    assert 'hx-trigger="every 2s"' in live.text
    assert live.text.count('data-testid="job"') == 2


async def test_the_dashboard_stops_polling_when_nothing_is_processing(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, console: str
) -> None:
    done = await add_movie(client, admin, title="Done", publish=False)
    await add_video(env, done["id"], VideoStatus.READY, progress=100.0)

    live = await client.get("/admin/live", headers=HTMX)

    assert 'data-polling="false"' in live.text
    assert "every 2s" not in live.text
    assert 'data-testid="jobs-empty"' in live.text


# Making and editing films


async def test_creating_a_film_shows_errors_next_to_fields_and_keeps_the_input(
    client: httpx.AsyncClient, admin: dict[str, Any], console: str
) -> None:
    drama = await add_category(client, admin, "Drama")
    form = await client.get("/admin/movies/new")

    refused = await post_form(
        client,
        "/admin/movies/new",
        console,
        title="   ",
        description="Two <friends> & a boat",
        category_id=drama["id"],
        access_level="PREMIUM",
        release_year="19x9",
    )
    created = await post_form(
        client,
        "/admin/movies/new",
        console,
        title="River Crossing",
        description="Two friends and a boat.",
        category_id=drama["id"],
        access_level="BASIC",
        release_year="1999",
    )

    assert form.status_code == 200
    assert f'<option value="{drama["id"]}">Drama</option>' in form.text
    assert refused.status_code == 422
    assert 'id="error-title"' in refused.text
    assert "Give the film a title." in refused.text
    assert 'id="error-release_year"' in refused.text
    assert 'id="error-description"' not in refused.text
    assert "Two &lt;friends&gt; &amp; a boat</textarea>" in refused.text
    assert f'<option value="{drama["id"]}" selected>Drama</option>' in refused.text
    assert '<option value="PREMIUM" selected>' in refused.text
    assert 'value="19x9"' in refused.text
    assert created.status_code == 303
    location = created.headers["location"]
    assert re.fullmatch(r"/admin/movies/[0-9a-f-]{36}/edit\?notice=created", location)
    edit = await client.get(location)
    assert "Film created. Now upload its video." in edit.text
    assert 'data-testid="video-upload"' in edit.text
    movie = await movie_of(client, admin, location.split("/")[3])
    assert movie["title"] == "River Crossing"
    assert movie["category"]["name"] == "Drama"
    assert movie["access_level"] == "BASIC"
    assert movie["release_year"] == 1999
    assert movie["published"] is False


async def test_unknown_category_is_refused_next_to_the_field(
    client: httpx.AsyncClient, console: str
) -> None:
    response = await post_form(
        client,
        "/admin/movies/new",
        console,
        title="Lost",
        category_id=str(uuid.uuid4()),
        access_level="FREE",
    )

    assert response.status_code == 422
    assert 'id="error-category_id"' in response.text
    assert 'value="Lost"' in response.text


async def test_editing_a_film(
    client: httpx.AsyncClient, admin: dict[str, Any], console: str
) -> None:
    await add_movie(client, admin, title="Taken", publish=False)
    movie = await add_movie(client, admin, title="Old Title", release_year=2001, publish=False)
    path = f"/admin/movies/{movie['id']}/edit"
    fields = {"description": "", "category_id": "", "access_level": "FREE", "release_year": ""}

    page = await client.get(path)
    clash = await post_form(client, path, console, title="New Title", slug="taken", **fields)
    bad_slug = await post_form(client, path, console, title="New Title", slug="Not OK", **fields)
    saved = await post_form(client, path, console, title="New Title", slug="new-title", **fields)

    assert 'value="Old Title"' in page.text
    assert 'value="old-title"' in page.text
    assert clash.status_code == 422
    assert 'id="error-slug"' in clash.text
    assert "Another item already uses this slug." in clash.text
    assert 'value="New Title"' in clash.text
    assert bad_slug.status_code == 422
    assert "lower-case letters" in bad_slug.text
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{path}?notice=saved"
    assert "Changes saved." in (await client.get(saved.headers["location"])).text
    changed = await movie_of(client, admin, movie["id"])
    assert (changed["title"], changed["slug"], changed["release_year"]) == (
        "New Title",
        "new-title",
        None,
    )


async def test_a_poster_is_uploaded_through_the_page_and_a_non_image_is_refused(
    client: httpx.AsyncClient, admin: dict[str, Any], console: str
) -> None:
    movie = await add_movie(client, admin, title="Poster Child", publish=False)
    path = f"/admin/movies/{movie['id']}/poster"

    text = await client.post(
        path,
        data={"csrf_token": console},
        files={"file": ("notes.png", b"just some words", "image/png")},
    )
    empty = await client.post(
        path, data={"csrf_token": console}, files={"file": ("", b"", "application/octet-stream")}
    )
    image = await client.post(
        path, data={"csrf_token": console}, files={"file": ("poster.png", png(), "image/png")}
    )

    assert text.status_code == 415
    assert 'id="error-poster"' in text.text
    assert "The file is not a readable JPEG, PNG or WebP image." in text.text
    assert empty.status_code == 422
    assert "Choose an image file to upload." in empty.text
    assert image.status_code == 303
    edit = await client.get(image.headers["location"])
    assert "Poster updated." in edit.text
    poster = re.search(r'src="(/media/art/[^"]+)"[^>]*data-testid="current-poster"', edit.text)
    assert poster
    assert (await client.get(poster.group(1))).headers["content-type"] == "image/jpeg"


# The films table


async def test_the_films_table_searches_and_pages(
    client: httpx.AsyncClient, admin: dict[str, Any], console: str
) -> None:
    for number in range(21):
        await add_movie(client, admin, title=f"Film {number:02d}", publish=number % 2 == 0)
    await add_movie(client, admin, title="Zebra <Crossing>", publish=False)

    first = await client.get("/admin/movies")
    second = await client.get("/admin/movies?page=2")
    found = await client.get(
        "/admin/movies?search=zebra", headers={**HTMX, "HX-Target": "movie-results"}
    )

    assert first.text.count('data-testid="movie-row"') == 20
    assert "Page 1 of 2" in first.text
    assert "Zebra &lt;Crossing&gt;" in first.text  # newest first, escaped
    assert second.text.count('data-testid="movie-row"') == 2
    assert "<html" not in found.text
    assert found.text.count('data-testid="movie-row"') == 1
    assert "Zebra &lt;Crossing&gt;" in found.text
    assert 'data-published="false"' in found.text
    assert 'data-state="none"' in found.text
    assert "Upload a video first." in found.text


async def test_publishing_is_refused_until_the_video_is_ready(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, console: str
) -> None:
    bare = await add_movie(client, admin, title="No Video Yet", publish=False)
    busy = await add_movie(client, admin, title="Still Cooking", publish=False)
    await add_video(env, busy["id"], VideoStatus.PROCESSING, progress=10.0)

    listing = await client.get("/admin/movies")
    plain = await post_form(
        client, f"/admin/movies/{bare['id']}/publish", console, back="/admin/movies?page=1"
    )
    shown = await client.get(plain.headers["location"])
    htmx = await client.post(
        f"/admin/movies/{busy['id']}/publish", data={"csrf_token": console}, headers=HTMX
    )
    panel = await client.post(
        f"/admin/movies/{busy['id']}/publish",
        data={"csrf_token": console, "fragment": "video"},
        headers=HTMX,
    )

    assert "Upload a video first." in listing.text
    assert "The video is still processing." in listing.text
    assert plain.status_code == 303
    assert plain.headers["location"] == "/admin/movies?page=1&problem=video_not_ready"
    assert "A film can be published only once its video is ready." in shown.text
    assert htmx.status_code == 409
    assert htmx.text.lstrip().startswith("<tr")
    assert 'data-testid="row-problem"' in htmx.text
    assert panel.status_code == 409
    assert 'data-testid="panel-problem"' in panel.text
    for movie in (bare, busy):
        assert (await movie_of(client, admin, movie["id"]))["published"] is False


async def test_publishing_and_unpublishing_a_ready_film(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, console: str
) -> None:
    movie = await add_movie(client, admin, title="All Set", publish=False)
    await add_video(env, movie["id"], VideoStatus.READY, progress=100.0)

    published = await client.post(
        f"/admin/movies/{movie['id']}/publish",
        data={"csrf_token": console, "back": "/admin/movies"},
        headers=HTMX,
    )
    public = await client.get("/api/movies")
    unpublished = await post_form(
        client, f"/admin/movies/{movie['id']}/unpublish", console, back="//evil.example/"
    )

    assert published.status_code == 200
    assert 'data-action="unpublish"' in published.text
    assert [m["title"] for m in public.json()["items"]] == ["All Set"]
    assert unpublished.status_code == 303
    assert unpublished.headers["location"] == "/admin/movies?notice=unpublished"
    assert (await movie_of(client, admin, movie["id"]))["published"] is False


async def test_deleting_asks_first_and_then_removes_the_film(
    client: httpx.AsyncClient, admin: dict[str, Any], console: str
) -> None:
    movie = await add_movie(client, admin, title="Goodbye <World>", publish=True)
    other = await add_movie(client, admin, title="Swiped Away", publish=False)

    listing = await client.get("/admin/movies")
    confirm = await client.get(f"/admin/movies/{movie['id']}/delete")
    still_there = await movie_of(client, admin, movie["id"])
    deleted = await post_form(client, f"/admin/movies/{movie['id']}/delete", console)
    after = await client.get(deleted.headers["location"])
    swiped = await client.post(
        f"/admin/movies/{other['id']}/delete", data={"csrf_token": console}, headers=HTMX
    )

    assert 'hx-confirm="Delete “Goodbye &lt;World&gt;” and its video?' in listing.text
    assert f'href="/admin/movies/{movie["id"]}/delete"' in listing.text
    assert confirm.status_code == 200
    assert "Delete “Goodbye &lt;World&gt;”?" in confirm.text
    assert "it is published now" in confirm.text
    assert still_there is not None  # asking deletes nothing
    assert deleted.status_code == 303
    assert "The film is deleted." in after.text
    assert "Goodbye" not in after.text.split('id="movie-results"')[1]
    assert await movie_of(client, admin, movie["id"]) is None
    assert swiped.status_code == 200
    assert swiped.text == ""
    assert await movie_of(client, admin, other["id"]) is None


# Users


async def test_users_are_searched_and_their_roles_changed(
    client: httpx.AsyncClient, admin: dict[str, Any], console: str
) -> None:
    kofi = await register(client, email="kofi@example.com", name="Kofi <Mensah>")
    await register(client, email="ama@example.com", name="Ama")

    page = await client.get("/admin/users")
    searched = await client.get(
        "/admin/users?search=KOF", headers={**HTMX, "HX-Target": "user-results"}
    )
    promoted = await post_form(
        client,
        f"/admin/users/{kofi['user']['id']}/role",
        console,
        role="ADMIN",
        back="/admin/users?search=kof",
    )
    listed = await client.get(promoted.headers["location"])

    assert page.text.count('data-testid="user-row"') == 3
    assert "argon2" not in page.text
    assert "<html" not in searched.text
    assert searched.text.count('data-testid="user-row"') == 1
    assert "Kofi &lt;Mensah&gt;" in searched.text
    assert promoted.headers["location"] == "/admin/users?search=kof&notice=role"
    assert "Role changed." in listed.text
    assert 'data-email="kofi@example.com" data-role="ADMIN"' in listed.text


async def test_the_last_administrator_cannot_be_demoted(
    client: httpx.AsyncClient, admin: dict[str, Any], console: str
) -> None:
    me = admin["user"]["id"]

    plain = await post_form(client, f"/admin/users/{me}/role", console, role="USER")
    shown = await client.get(plain.headers["location"])
    htmx = await client.post(
        f"/admin/users/{me}/role", data={"csrf_token": console, "role": "USER"}, headers=HTMX
    )
    nonsense = await post_form(client, f"/admin/users/{me}/role", console, role="OWNER")

    assert plain.headers["location"] == "/admin/users?problem=last_admin"
    assert "The last administrator cannot be demoted." in shown.text
    assert htmx.status_code == 409
    assert "The last administrator cannot be demoted." in htmx.text
    assert 'data-role="ADMIN"' in htmx.text
    assert nonsense.status_code == 422
    assert (await client.get("/admin")).status_code == 200


# The whole journey, with a real worker


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("admin-clips") / "short.mp4"
    return render_clip(ffmpeg_executable(""), path, seconds=1.5, width=480, height=270)


async def tus_upload_as_the_page(
    client: httpx.AsyncClient, token: str, clip: Path, chunk: int = 64 * 1024
) -> str:
    """What Uppy does from the page: the session cookie and the CSRF header, in chunks."""
    data = clip.read_bytes()
    tus = {"Tus-Resumable": "1.0.0", "X-CSRF-Token": token}
    created = await client.post(
        "/api/admin/uploads",
        headers={
            **tus,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": "filename " + base64.b64encode(clip.name.encode()).decode(),
        },
    )
    assert created.status_code == 201, created.text
    url = urlsplit(created.headers["location"]).path
    for offset in range(0, len(data), chunk):
        sent = await client.patch(
            url,
            content=data[offset : offset + chunk],
            headers={
                **tus,
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
            },
        )
        assert sent.status_code == 204, sent.text
    return url.rsplit("/", 1)[1]


@pytest.mark.usefixtures("job_worker")
async def test_an_upload_from_the_edit_page_is_processed_and_published(
    client: httpx.AsyncClient, console: str, short_clip: Path
) -> None:
    created = await post_form(
        client, "/admin/movies/new", console, title="Made Here", access_level="FREE"
    )
    edit_path = created.headers["location"].split("?")[0]
    movie_id = edit_path.split("/")[3]
    edit = await client.get(edit_path)
    widget = re.search(r'<div id="video-upload"[^>]*>', edit.text)

    upload_id = await tus_upload_as_the_page(client, console, short_clip)
    attached = await client.post(
        f"/api/admin/movies/{movie_id}/video",
        json={"upload_id": upload_id},
        headers={"X-CSRF-Token": console},
    )
    states = []
    deadline = time.monotonic() + 120
    while True:
        panel = await client.get(f"/admin/movies/{movie_id}/video", headers=HTMX)
        state = re.search(r'data-status="(\w+)"', panel.text).group(1)  # type: ignore[union-attr]
        states.append(state)
        if state in ("ready", "failed"):
            break
        assert "every 2s" in panel.text  # the panel keeps polling while it works
        assert time.monotonic() < deadline, f"still {state}"
        await asyncio.sleep(0.2)
    published = await client.post(
        f"/admin/movies/{movie_id}/publish",
        data={"csrf_token": console, "fragment": "video"},
        headers=HTMX,
    )
    public = await client.get("/api/movies?search=made")

    assert widget
    assert 'data-endpoint="/api/admin/uploads"' in widget.group(0)
    assert f'data-attach-url="/api/admin/movies/{movie_id}/video"' in widget.group(0)
    assert "/static/vendor/uppy.min.mjs?v=" in widget.group(0)
    assert attached.status_code == 202, attached.text
    assert states[-1] == "ready", panel.text
    assert "every 2s" not in panel.text
    assert 'data-testid="publish-button"' in panel.text
    assert published.status_code == 200
    assert 'data-testid="unpublish-button"' in published.text
    assert 'href="/watch/made-here"' in published.text
    assert [movie["title"] for movie in public.json()["items"]] == ["Made Here"]
    replace = await client.get(edit_path)
    assert "A new upload replaces the current video" in replace.text
