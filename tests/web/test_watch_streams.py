"""The watch page's stream place: handed back when the page is hidden or closed (the
player's beacon), taken again when the page is shown; never another viewer's, and
never the place a newer page of the same browser holds."""

from typing import Any, NamedTuple

import httpx

from tests.conftest import Backend, bearer, register
from tests.films import add_video, film
from tests.web.test_auth_pages import sign_in
from tests.web.test_viewer_pages import attribute

TV = {"X-Device-Id": "living-room-tv"}


class Watching(NamedTuple):
    movie: dict[str, Any]
    browser: httpx.AsyncClient  # signed in to the pages, on the watch page
    token: str  # the page's CSRF token
    started: str  # the page's stream, as the player was given it
    tv: httpx.AsyncClient  # the same viewer's television, over the API
    tv_headers: dict[str, str]


async def watching(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, client_from: Any
) -> Watching:
    """A Free viewer (one place) on a film's watch page in this browser, and their
    television, refused while the browser holds the place."""
    movie = await film(client, admin, env, "Night Train")
    await add_video(env, movie)
    body = await register(client)
    assert (await sign_in(client, body["user"]["email"])).status_code == 303
    page = await client.get(f"/watch/{movie['slug']}")
    assert 'data-testid="player"' in page.text
    token = attribute(page.text, 'name="csrf-token" content')
    tv = client_from("198.51.100.20")
    tv_headers = {**bearer(body["access_token"]), **TV}
    return Watching(
        movie, client, token, attribute(page.text, "data-stream-started"), tv, tv_headers
    )


async def play_on_tv(watch: Watching) -> httpx.Response:
    return await watch.tv.get(
        f"/api/movies/{watch.movie['slug']}/playback", headers=watch.tv_headers
    )


async def leave(watch: Watching, *, started: str, **fields: str) -> httpx.Response:
    """The beacon a hidden or closing player sends: form fields, the page's cookies."""
    data = {"csrf_token": watch.token, "started": started, **fields}
    return await watch.browser.post(f"/watch/{watch.movie['slug']}/stream/end", data=data)


async def devices_of(watch: Watching) -> list[str]:
    listed = await watch.tv.get("/api/user/streams", headers=watch.tv_headers)
    return [item["device_id"] for item in listed.json()["items"]]


async def test_closing_the_watch_page_frees_its_place_for_another_device_at_once(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, client_from: Any
) -> None:
    watch = await watching(client, admin, env, client_from)
    page = await client.get(f"/watch/{watch.movie['slug']}")

    refused = await play_on_tv(watch)
    left = await leave(watch, started=attribute(page.text, "data-stream-started"), position="42")
    playing = await play_on_tv(watch)
    history = await watch.tv.get("/api/user/history", headers=watch.tv_headers)

    assert attribute(page.text, "data-stream-url") == f"/watch/{watch.movie['slug']}/stream"
    assert refused.status_code == 409
    assert left.status_code == 204
    assert playing.status_code == 200  # the television has the place now
    assert await devices_of(watch) == ["living-room-tv"]
    assert history.json()["items"][0]["progress"] == 42  # the position came with the beacon


async def test_a_closing_page_cannot_end_another_viewers_stream(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, client_from: Any
) -> None:
    watch = await watching(client, admin, env, client_from)
    device = client.cookies["kf_device"]
    # Another viewer, whose browser claims the first viewer's device id and start.
    other = client_from("198.51.100.99")
    body = await register(other)
    assert (await sign_in(other, body["user"]["email"])).status_code == 303
    other.cookies.set("kf_device", device)
    other_page = await other.get(f"/watch/{watch.movie['slug']}")
    other_token = attribute(other_page.text, 'name="csrf-token" content')
    url = f"/watch/{watch.movie['slug']}/stream/end"

    theirs = await other.post(url, data={"csrf_token": other_token, "started": watch.started})
    forged = await other.post(url, data={"csrf_token": watch.token, "started": watch.started})
    anonymous = await client_from("198.51.100.98").post(url, data={"started": watch.started})

    assert theirs.status_code == 204  # it ended their own stream at most
    assert forged.status_code == 403  # another browser's CSRF token
    assert forged.json()["error"]["code"] == "csrf_failed"
    assert anonymous.status_code == 403  # no CSRF token, no session: refused either way
    assert await devices_of(watch) == [device]  # the first viewer's browser still holds it
    assert (await play_on_tv(watch)).status_code == 409


async def test_a_beacon_needs_the_pages_csrf_token_and_says_which_stream(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, client_from: Any
) -> None:
    watch = await watching(client, admin, env, client_from)
    url = f"/watch/{watch.movie['slug']}/stream/end"

    without_token = await client.post(url, data={"started": watch.started})
    without_start = await client.post(url, data={"csrf_token": watch.token})
    naive = await leave(watch, started="2026-01-01T10:00:00")

    assert without_token.status_code == 403
    assert without_token.json()["error"]["code"] == "csrf_failed"
    assert without_start.status_code == 422
    assert naive.status_code == 422
    assert without_start.json()["error"]["code"] == "validation_error"
    assert await devices_of(watch) == [client.cookies["kf_device"]]


async def test_the_old_page_of_a_reload_leaves_the_new_page_its_place(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, client_from: Any
) -> None:
    watch = await watching(client, admin, env, client_from)
    reloaded = await client.get(f"/watch/{watch.movie['slug']}")  # before the old page's beacon
    newer = attribute(reloaded.text, "data-stream-started")

    old_left = await leave(watch, started=watch.started)
    kept = await devices_of(watch)
    new_left = await leave(watch, started=newer)

    assert newer > watch.started
    assert old_left.status_code == new_left.status_code == 204
    assert kept == [client.cookies["kf_device"]]
    assert await devices_of(watch) == []
    assert (await play_on_tv(watch)).status_code == 200


async def test_a_page_shown_again_takes_its_place_again_while_one_is_free(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, client_from: Any
) -> None:
    watch = await watching(client, admin, env, client_from)
    url = f"/watch/{watch.movie['slug']}/stream"

    await leave(watch, started=watch.started)  # hidden
    shown = await client.post(url, data={"csrf_token": watch.token})
    tv_refused = await play_on_tv(watch)
    await leave(watch, started=shown.json()["started_at"])  # hidden again, with the new start
    tv_playing = await play_on_tv(watch)
    taken = await client.post(url, data={"csrf_token": watch.token})
    forged = await client.post(url, data={"csrf_token": "forged"})

    assert shown.status_code == 200
    assert shown.json()["started_at"] > watch.started
    assert tv_refused.status_code == 409
    assert tv_playing.status_code == 200
    assert taken.status_code == 409  # the television took the place meanwhile
    assert taken.json()["error"]["code"] == "too_many_streams"
    assert [d["device_id"] for d in taken.json()["error"]["active_devices"]] == ["living-room-tv"]
    assert forged.status_code == 403


async def test_an_anonymous_players_page_has_no_stream_to_give_up(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    movie = await film(client, admin, env, "Open Air")
    await add_video(env, movie)

    page = await client.get(f"/watch/{movie['slug']}")

    assert 'data-testid="player"' in page.text
    assert "data-stream-url" not in page.text
    assert "data-stream-started" not in page.text
