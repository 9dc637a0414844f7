"""Administrators check a film before publishing it: a preview plays a ready film,
published or not, through the playback API and from the film's admin page; it counts
no view, takes no stream place and keeps no progress. Everyone else gets 404 for a film
that is not out."""

import re
import uuid
from typing import Any

import httpx

from kushfilms.catalog import service as catalog
from kushfilms.db import transaction
from tests.conftest import Backend, app_of, bearer, register
from tests.media.test_playback_urls import ready_film, rungs, segment_urls
from tests.web.test_admin_pages import sign_in
from tests.web.test_viewer_pages import attribute


async def unpublished_film(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, access_level: str = "FREE"
) -> dict[str, Any]:
    """A film whose video is ready (a 360p, 720p and 1080p ladder), not published."""
    movie = await ready_film(client, admin, env, access_level)
    async with transaction(env.app.state.db.writer) as session:
        await catalog.set_published(session, uuid.UUID(movie["id"]), False)
    return movie


async def views_of(client: httpx.AsyncClient, admin: dict[str, Any], movie: dict[str, Any]) -> int:
    """The film's view count, with every play counted so far written."""
    env_app = app_of(client)
    await env_app.state.views.flush(env_app.state.db)
    response = await client.get(f"/api/admin/movies/{movie['id']}", headers=admin["headers"])
    assert response.status_code == 200, response.text
    return int(response.json()["view_count"])


async def test_an_administrator_previews_an_unpublished_film_through_the_api(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    movie = await unpublished_film(client, admin, env, "PREMIUM")
    url = f"/api/movies/{movie['id']}/playback?preview=true"

    preview = await client.get(url, headers={**admin["headers"], "X-Device-Id": "ops-laptop"})
    manifest = preview.json()["manifest_url"]
    offered = await rungs(client, manifest)
    segments = [await client.get(each) for each in await segment_urls(client, manifest, 1080)]
    streams = await client.get("/api/user/streams", headers=admin["headers"])
    history = await client.get("/api/user/history", headers=admin["headers"])
    by_slug = await client.get(
        f"/api/movies/{movie['slug']}/playback?preview=true", headers=admin["headers"]
    )

    assert preview.status_code == 200, preview.text
    assert preview.json()["preview"] is True
    assert preview.json()["device_id"] is None  # no stream session for any device
    assert preview.json()["resume_position"] == 0
    assert offered == [360, 720, 1080]  # the signed URLs open the unpublished film
    assert [response.status_code for response in segments] == [200, 200, 200]
    assert segments[1].content == b"segment-1080-0"
    assert streams.json()["total"] == 0
    assert history.json()["total"] == 0
    assert by_slug.status_code == 200
    assert await views_of(client, admin, movie) == 0


async def test_a_preview_of_a_published_film_counts_no_view_either(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    movie = await ready_film(client, admin, env, "FREE")
    base = f"/api/movies/{movie['id']}/playback"

    previewed = await client.get(f"{base}?preview=true", headers=admin["headers"])
    counted = await views_of(client, admin, movie)
    watched = await client.get(base, headers=admin["headers"])

    assert previewed.status_code == watched.status_code == 200
    assert (previewed.json()["preview"], watched.json()["preview"]) == (True, False)
    assert counted == 0
    assert await views_of(client, admin, movie) == 1  # watching it as anyone does is a view


async def test_only_administrators_may_preview_and_a_film_not_out_is_404_to_others(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any], env: Backend
) -> None:
    movie = await unpublished_film(client, admin, env)
    base = f"/api/movies/{movie['id']}/playback"

    viewers = await client.get(base, headers=viewer["headers"])
    viewers_preview = await client.get(f"{base}?preview=true", headers=viewer["headers"])
    anonymous = await client.get(base)
    anonymous_preview = await client.get(f"{base}?preview=true")
    admins_plain = await client.get(base, headers=admin["headers"])

    assert viewers.status_code == anonymous.status_code == admins_plain.status_code == 404
    assert viewers_preview.status_code == 403
    assert viewers_preview.json()["error"]["code"] == "preview_for_admins_only"
    assert anonymous_preview.status_code == 401
    assert await views_of(client, admin, movie) == 0


async def test_a_previews_urls_open_nothing_to_anyone_but_administrators(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, client_of_app: Any
) -> None:
    checked = await client_of_app(playback_check_seconds=0)
    movie = await unpublished_film(client, admin, env)
    body = await register(client)
    preview = await checked.get(
        f"/api/movies/{movie['id']}/playback?preview=true", headers=admin["headers"]
    )
    manifest = preview.json()["manifest_url"]

    # The same film's URL made out to a viewer (as if one had been handed out before the
    # film was unpublished) no longer plays: only administrators' grants open it.
    async with transaction(env.app.state.db.writer) as session:
        await catalog.set_published(session, uuid.UUID(movie["id"]), True)
    handed_out = await checked.get(
        f"/api/movies/{movie['id']}/playback", headers=bearer(body["access_token"])
    )
    async with transaction(env.app.state.db.writer) as session:
        await catalog.set_published(session, uuid.UUID(movie["id"]), False)
    viewers_playlist = await checked.get(handed_out.json()["manifest_url"])
    admins_playlist = await checked.get(manifest)

    assert viewers_playlist.status_code == 403
    assert viewers_playlist.json()["error"]["code"] == "film_unavailable"
    assert admins_playlist.status_code == 200


async def test_the_admin_page_of_a_ready_film_offers_a_preview_that_plays_it(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, client_from: Any
) -> None:
    movie = await unpublished_film(client, admin, env)
    await sign_in(client, admin["user"]["email"])

    editor = await client.get(f"/admin/movies/{movie['id']}/edit")
    page = await client.get(f"/admin/movies/{movie['id']}/preview")
    playlist = await client.get(attribute(page.text, "data-manifest"))
    streams = await client.get("/api/user/streams", headers=admin["headers"])
    kept = env.app.state.kept_data.entries
    public = await client.get(f"/watch/{movie['slug']}")

    assert re.search(
        rf'href="/admin/movies/{movie["id"]}/preview"[^>]*data-testid="preview-link"', editor.text
    )
    assert page.status_code == 200
    assert 'data-testid="player"' in page.text
    assert 'data-testid="preview-notice"' in page.text
    assert "Not published: viewers cannot find or watch this film yet." in page.text
    assert "data-report-progress" not in page.text  # no progress kept
    assert "data-stream-url" not in page.text  # no stream to give back
    assert playlist.status_code == 200
    assert "1080p/index.m3u8" in playlist.text
    assert streams.json()["total"] == 0
    assert await views_of(client, admin, movie) == 0
    assert not [key for key in kept if movie["slug"] in key]  # nothing an outage could show
    assert public.status_code == 404  # the public page waits for publishing, admins too


async def test_viewers_cannot_open_the_preview_page(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, client_from: Any
) -> None:
    movie = await unpublished_film(client, admin, env)
    body = await register(client)
    await sign_in(client, body["user"]["email"])

    page = await client.get(f"/admin/movies/{movie['id']}/preview")
    anonymous = await client_from("198.51.100.7").get(f"/admin/movies/{movie['id']}/preview")

    assert page.status_code == 403
    assert 'data-testid="player"' not in page.text
    assert anonymous.status_code == 303  # to sign in
    assert anonymous.headers["location"].startswith("/login")


async def test_a_film_still_processing_previews_as_being_prepared(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    movie = await film_without_video(client, admin)
    await sign_in(client, admin["user"]["email"])

    page = await client.get(f"/admin/movies/{movie['id']}/preview")
    api = await client.get(
        f"/api/movies/{movie['id']}/playback?preview=true", headers=admin["headers"]
    )

    assert page.status_code == 200
    assert attribute(page.text, "data-state") == "unavailable"
    assert api.status_code == 409
    assert api.json()["error"]["code"] == "video_not_ready"


async def film_without_video(client: httpx.AsyncClient, admin: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(
        "/api/admin/movies", json={"title": "Rough Cut"}, headers=admin["headers"]
    )
    assert response.status_code == 201, response.text
    movie: dict[str, Any] = response.json()
    return movie
