"""The film flows answer alike wherever they are called from: the API and the pages."""

import uuid
from typing import Any

import httpx

from kushfilms.media import flows, watching
from tests.catalog.conftest import add_movie
from tests.conftest import Backend, bearer, register
from tests.films import add_video, film
from tests.web.test_auth_pages import form_token, sign_in
from tests.web.test_viewer_pages import attribute, report


async def test_an_oversized_poster_is_refused_alike_by_the_api_and_the_page(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    movie = await add_movie(client, admin, title="Huge Poster", publish=False)
    too_large = {"file": ("poster.jpg", b"\xff" * (flows.MAX_POSTER_BYTES + 1), "image/jpeg")}

    api = await client.post(
        f"/api/admin/movies/{movie['id']}/thumbnail", files=too_large, headers=admin["headers"]
    )
    await sign_in(client, admin["user"]["email"])
    token = await form_token(client, "/admin")
    page = await client.post(
        f"/admin/movies/{movie['id']}/poster", data={"csrf_token": token}, files=too_large
    )
    after = await client.get(f"/api/admin/movies/{movie['id']}", headers=admin["headers"])

    assert (api.status_code, page.status_code) == (413, 413)
    assert api.json()["error"] == {
        "code": "payload_too_large",
        "message": "The image is larger than 15 MiB.",
    }
    assert 'id="error-poster"' in page.text
    assert "The image is larger than 15 MiB." in page.text
    assert after.json()["thumbnail_url"] is None


async def test_the_api_and_the_player_accept_the_same_positions(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    movie = await film(client, admin, env, "Endless", duration=100)
    body = await register(client)
    await sign_in(client, body["user"]["email"])
    token = await form_token(client, "/account")
    api_progress = "/api/watch/progress"
    headers = bearer(body["access_token"])
    longest = watching.MAX_POSITION  # a week

    api_longest = await client.post(
        api_progress, json={"movie_id": movie["id"], "progress": longest}, headers=headers
    )
    page_longest = await report(client, movie["slug"], longest, token)
    api_beyond = await client.post(
        api_progress, json={"movie_id": movie["id"], "progress": longest + 1}, headers=headers
    )
    page_beyond = await report(client, movie["slug"], longest + 1, token)

    assert (api_longest.status_code, page_longest.status_code) == (200, 204)
    assert api_longest.json()["progress"] == 100  # kept within the film
    assert (api_beyond.status_code, page_beyond.status_code) == (422, 422)


async def test_the_watch_page_starts_where_the_playback_answer_says(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    """The server alone says when a film starts over (90 % watched); the player starts
    at the page's ``data-resume``, even in the film's last 15 s."""
    movie = await film(client, admin, env, "Almost Over", duration=100)
    await add_video(env, movie)
    body = await register(client)
    await sign_in(client, body["user"]["email"])
    token = await form_token(client, "/account")
    headers = bearer(body["access_token"])

    async def starts() -> tuple[int, str]:
        page = await client.get(f"/watch/{movie['slug']}")  # its device cookie: one stream
        answer = await client.get(f"/api/movies/{movie['slug']}/playback", headers=headers)
        return answer.json()["resume_position"], attribute(page.text, "data-resume")

    await report(client, movie["slug"], 88, token)  # 12 s before the end, short of 90 %
    near_the_end = await starts()
    await report(client, movie["slug"], 90, token)
    watched = await starts()

    assert near_the_end == (88, "88")
    assert watched == (0, "0")


async def test_a_film_deleted_from_the_page_is_gone_from_the_api(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    movie = await film(client, admin, env, "Short Lived")
    await add_video(env, movie)
    await sign_in(client, admin["user"]["email"])
    token = await form_token(client, "/admin/movies")

    deleted = await client.post(f"/admin/movies/{movie['id']}/delete", data={"csrf_token": token})
    again = await client.delete(f"/api/admin/movies/{movie['id']}", headers=admin["headers"])

    assert deleted.status_code == 303
    assert again.status_code == 404
    assert (await client.get(f"/api/movies/{uuid.UUID(movie['id'])}")).status_code == 404
