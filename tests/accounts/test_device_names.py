"""Telling devices apart: the name a viewer gives each, shown beside the name read from
its User-Agent with what it watches and since when, in the API and on /account."""

import re
import uuid
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.accounts.devices import Device
from kushfilms.billing.devices import devices_of
from kushfilms.billing.streams import stream_registry
from kushfilms.models import User
from tests.conftest import Backend, register
from tests.films import add_video, film
from tests.web.test_auth_pages import CSRF, sign_in

TV, PHONE, LAPTOP = "living-room-tv", "phone-of-ada", "laptop-0001"


def on(device: str, viewer: dict[str, Any]) -> dict[str, str]:
    return {**viewer["headers"], "X-Device-Id": device}


async def name(
    client: httpx.AsyncClient, viewer: dict[str, Any], device: str, value: Any, *, sender: str
) -> httpx.Response:
    return await client.put(
        f"/api/user/devices/{device}/name", json={"name": value}, headers=on(sender, viewer)
    )


async def playing(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, viewer: dict[str, Any]
) -> dict[str, Any]:
    """A film the viewer's television is playing."""
    movie = await film(client, admin, env, "Open Water")
    await add_video(env, movie)
    started = await client.get(f"/api/movies/{movie['slug']}/playback", headers=on(TV, viewer))
    assert started.status_code == 200, started.text
    return movie


async def test_a_named_device_is_told_apart_in_the_list_of_devices(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any], env: Backend
) -> None:
    movie = await playing(client, admin, env, viewer)

    named = await name(client, viewer, TV, "  Living-room TV ", sender=PHONE)
    listed = await client.get("/api/user/streams", headers=on(PHONE, viewer))
    refused = await client.get(f"/api/movies/{movie['slug']}/playback", headers=on(PHONE, viewer))
    renamed = await name(client, viewer, TV, "Den TV", sender=TV)
    again = await client.get("/api/user/streams", headers=on(TV, viewer))

    assert named.status_code == 200
    assert named.json() == {"device_id": TV, "name": "Living-room TV"}
    [stream] = listed.json()["items"]
    assert stream["name"] == "Living-room TV"
    assert stream["label"] == "python-httpx/" + httpx.__version__
    assert stream["movie"]["title"] == "Open Water"
    assert stream["started_at"]
    [device] = refused.json()["error"]["active_devices"]  # the Free plan's one place is taken
    assert (device["name"], device["device_id"]) == ("Living-room TV", TV)
    assert renamed.json()["name"] == "Den TV"
    assert again.json()["items"][0]["name"] == "Den TV"


async def test_the_device_in_hand_may_be_named_before_it_watches(
    client: httpx.AsyncClient, viewer: dict[str, Any]
) -> None:
    named = await name(client, viewer, LAPTOP, "Work laptop", sender=LAPTOP)

    assert named.status_code == 200
    assert named.json()["name"] == "Work laptop"


async def test_only_the_viewers_own_devices_can_be_named(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any], env: Backend
) -> None:
    await playing(client, admin, env, viewer)
    body = await register(client)
    other = {**body, "headers": {"Authorization": f"Bearer {body['access_token']}"}}

    someone_elses = await name(client, other, TV, "Mine now", sender=PHONE)
    unknown = await name(client, viewer, "never-seen-0001", "Ghost", sender=PHONE)
    anonymous = await client.put(f"/api/user/devices/{TV}/name", json={"name": "TV"})
    listed = await client.get("/api/user/streams", headers=on(PHONE, viewer))

    assert someone_elses.status_code == unknown.status_code == 404
    assert someone_elses.json()["error"]["code"] == "device_not_found"
    assert anonymous.status_code == 401
    assert listed.json()["items"][0]["name"] is None  # the owner's device is untouched


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "Give the device a name."),
        ("   ", "Give the device a name."),
        ("x" * 61, "Use at most 60 characters."),
        ("Living\nroom", "must not contain a line break"),
        ("Tab\there", "must not contain a control character"),
        ("\u202eVT moor-gniviL", "must not contain a text-direction control"),
    ],
)
async def test_a_name_must_be_one_line_of_1_to_60_characters(
    client: httpx.AsyncClient, viewer: dict[str, Any], value: str, why: str
) -> None:
    refused = await name(client, viewer, LAPTOP, value, sender=LAPTOP)

    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "invalid_device_name"
    assert error["field"] == "name"
    assert why in error["message"]


async def test_a_name_of_60_characters_is_kept_whole(
    client: httpx.AsyncClient, viewer: dict[str, Any]
) -> None:
    long_name = "Grandma's living-room television, the big one by the windows"

    named = await name(client, viewer, LAPTOP, long_name, sender=LAPTOP)

    assert len(long_name) == 60
    assert named.json()["name"] == long_name


def devices_section(html: str) -> str:
    found = re.search(r'data-testid="account-devices".*?</section>', html, re.S)
    assert found, "no devices on the account page"
    return found.group(0)


async def test_the_account_page_lists_devices_to_name_and_end(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, client_from: Any
) -> None:
    movie = await film(client, admin, env, "Night Train")
    await add_video(env, movie)
    body = await register(client)
    assert (await sign_in(client, body["user"]["email"])).status_code == 303
    await client.get(f"/watch/{movie['slug']}")  # this browser watches
    device = client.cookies["kf_device"]
    page = await client.get("/account")
    token = CSRF.search(page.text)
    assert token
    url = f"/account/devices/{device}/name"

    forged = await client.post(url, data={"name": "Laptop", "csrf_token": "forged"})
    saved = await client.post(url, data={"name": "Ada's laptop", "csrf_token": token.group(1)})
    after = await client.get(saved.headers["location"])
    refused = await client.post(url, data={"name": "x" * 61, "csrf_token": token.group(1)})
    ended = await client.post(f"/account/devices/{device}/end", data={"csrf_token": token.group(1)})
    tv = await client_from("198.51.100.20").get(
        f"/api/movies/{movie['slug']}/playback",
        headers={"Authorization": f"Bearer {body['access_token']}", "X-Device-Id": TV},
    )
    last = devices_section((await client.get(ended.headers["location"])).text)

    listed = devices_section(page.text)
    assert "This browser" in listed
    assert f'<a href="/watch/{movie["slug"]}">Night Train</a>' in listed
    assert re.search(r'started <time datetime="[^"]+"[^>]*>(a moment|\d+ s) ago</time>', listed)
    assert "Your plan lets 1 device watch at once." in listed
    assert forged.status_code == 403
    assert saved.status_code == 303
    assert saved.headers["location"] == "/account?saved=device#devices"
    assert "The device&#39;s name is saved." in after.text
    assert f"Ada&#39;s laptop · python-httpx/{httpx.__version__}" in devices_section(after.text)
    assert refused.status_code == 422
    assert "Use at most 60 characters." in devices_section(refused.text)
    assert 'value="' + "x" * 61 + '"' in devices_section(refused.text)  # what was typed stays
    assert ended.status_code == 303
    assert tv.status_code == 200  # the place this browser held is free
    assert "Ada&#39;s laptop" in last  # this browser keeps its name while it does not watch
    assert "not watching now" in last
    assert "living-room-tv" in last  # the television watching, with an End button


async def test_the_list_of_devices_still_shows_while_redis_cannot_be_reached(
    env: Backend, db_session: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:9/0", retry=Retry(NoBackoff(), 0))
    registry = stream_registry(db_session, redis=unreachable, idle_seconds=60)
    user = User(id=uuid.uuid4(), email="x@example.com", name="X", password_hash="-")
    try:
        listed = await devices_of(
            db_session, registry, viewer=user, current=Device(LAPTOP, "Chrome on Linux")
        )
    finally:
        await unreachable.aclose()

    assert [(d.device_id, d.title, d.current, d.stream) for d in listed] == [
        (LAPTOP, "Chrome on Linux", True, None)
    ]
    assert "stream registry unavailable" in caplog.text
