"""Simultaneous streams: each plan's devices at once, lapsing, heartbeats, ending one.

Every test runs on SQLite (streams kept in the database) and, when the test
servers are configured, on PostgreSQL with Redis (streams kept in Redis).
"""

import asyncio
import itertools
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.accounts.devices import Device, derived_device_id
from kushfilms.billing.streams import DatabaseStreams, RedisStreams, stream_registry
from kushfilms.db import transaction
from kushfilms.kit.clock import utcnow
from kushfilms.models import Plan, StreamSession, Subscription, SubscriptionStatus, User
from tests.conftest import Backend, bearer, register
from tests.films import add_video, film

LAPSE = 1  # seconds of silence after which a stream lapses, in the tests that wait
TV, PHONE, LAPTOP = "living-room-tv", "phone-of-ada", "laptop-0001"


def on(device: str, viewer: dict[str, Any]) -> dict[str, str]:
    return {**viewer["headers"], "X-Device-Id": device}


async def play(
    client: httpx.AsyncClient, movie: dict[str, Any], viewer: dict[str, Any], device: str
) -> httpx.Response:
    return await client.get(f"/api/movies/{movie['slug']}/playback", headers=on(device, viewer))


async def beat(
    client: httpx.AsyncClient, movie: dict[str, Any], viewer: dict[str, Any], device: str
) -> httpx.Response:
    """A progress report: the device's heartbeat."""
    return await client.post(
        "/api/watch/progress",
        json={"movie_id": movie["id"], "progress": 5},
        headers=on(device, viewer),
    )


async def watching(
    client: httpx.AsyncClient, viewer: dict[str, Any], device: str = TV
) -> dict[str, Any]:
    response = await client.get("/api/user/streams", headers=on(device, viewer))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def ready_film(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, title: str = "Open Water"
) -> dict[str, Any]:
    movie = await film(client, admin, env, title)
    await add_video(env, movie)
    return movie


async def subscribe(env: Backend, viewer: dict[str, Any], plan: Plan) -> None:
    now = utcnow()
    async with transaction(env.app.state.db.writer) as session:
        session.add(
            Subscription(
                user_id=uuid.UUID(viewer["user"]["id"]),
                plan=plan,
                status=SubscriptionStatus.ACTIVE,
                provider_subscription_id=f"sub_{uuid.uuid4().hex}",
                current_period_start=now - timedelta(days=3),
                current_period_end=now + timedelta(days=27),
                started_at=now - timedelta(days=3),
                provider_created_at=now - timedelta(days=3),
            )
        )


async def test_a_free_viewer_watches_on_one_device_at_a_time(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any], env: Backend
) -> None:
    movie = await ready_film(client, admin, env)
    other = await ready_film(client, admin, env, "Second Feature")

    first = await play(client, movie, viewer, TV)
    refused = await play(client, movie, viewer, PHONE)
    again = await play(client, movie, viewer, TV)
    switched = await play(client, other, viewer, TV)
    listed = await watching(client, viewer)

    assert first.status_code == again.status_code == switched.status_code == 200
    assert first.json()["device_id"] == TV
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "too_many_streams"
    assert error["message"].startswith("You are watching on 1 device, the most your plan allows.")
    assert error["limit"] == 1
    [device] = error["active_devices"]
    assert device["device_id"] == TV
    assert device["label"] == "python-httpx/" + httpx.__version__
    assert device["movie"] == {"id": movie["id"], "title": "Open Water", "slug": movie["slug"]}
    assert device["started_at"] <= device["last_seen_at"]
    # The same device opening another film keeps its one place, its stream started again.
    assert listed["limit"] == 1
    assert listed["total"] == 1
    [stream] = listed["items"]
    assert stream["device_id"] == TV
    assert stream["current"] is True
    assert stream["movie"]["title"] == "Second Feature"
    assert stream["started_at"] > device["started_at"]


async def test_a_device_that_stops_reporting_gives_its_place_up(
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    viewer: dict[str, Any],
    env: Backend,
    client_of_app: Any,
) -> None:
    movie = await ready_film(client, admin, env)
    quick = await client_of_app(stream_idle_seconds=LAPSE)
    assert (await play(quick, movie, viewer, TV)).status_code == 200
    assert (await play(quick, movie, viewer, PHONE)).status_code == 409

    await asyncio.sleep(LAPSE + 0.2)
    phone = await play(quick, movie, viewer, PHONE)
    tv_again = await play(quick, movie, viewer, TV)
    tv_beat = await beat(quick, movie, viewer, TV)

    assert phone.status_code == 200
    assert tv_again.status_code == tv_beat.status_code == 409
    assert [d["device_id"] for d in tv_beat.json()["error"]["active_devices"]] == [PHONE]


async def test_heartbeats_keep_a_device_watching_past_the_idle_time(
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    viewer: dict[str, Any],
    env: Backend,
    client_of_app: Any,
) -> None:
    movie = await ready_film(client, admin, env)
    idle = 2
    quick = await client_of_app(stream_idle_seconds=idle)
    assert (await play(quick, movie, viewer, TV)).status_code == 200
    [opened] = (await watching(quick, viewer))["items"]

    started = time.monotonic()
    while time.monotonic() - started < idle + 0.5:
        await asyncio.sleep(0.4)
        assert (await beat(quick, movie, viewer, TV)).status_code == 200
    phone = await play(quick, movie, viewer, PHONE)

    assert phone.status_code == 409
    [tv] = phone.json()["error"]["active_devices"]
    assert tv["device_id"] == TV
    assert tv["started_at"] == opened["started_at"]  # the same stream, never lapsed
    assert tv["last_seen_at"] > opened["last_seen_at"]


async def test_a_lapsed_device_comes_back_with_its_heartbeat_while_a_place_is_free(
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    viewer: dict[str, Any],
    env: Backend,
    client_of_app: Any,
) -> None:
    movie = await ready_film(client, admin, env)
    quick = await client_of_app(stream_idle_seconds=LAPSE)
    assert (await play(quick, movie, viewer, TV)).status_code == 200
    [first] = (await watching(quick, viewer))["items"]
    await asyncio.sleep(LAPSE + 0.2)
    assert (await watching(quick, viewer))["total"] == 0

    back = await beat(quick, movie, viewer, TV)
    listed = await watching(quick, viewer)

    assert back.status_code == 200
    [stream] = listed["items"]
    assert stream["device_id"] == TV
    assert stream["started_at"] > first["started_at"]  # a stream of its own again


async def test_ending_a_device_frees_its_place(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any], env: Backend
) -> None:
    movie = await ready_film(client, admin, env)
    assert (await play(client, movie, viewer, TV)).status_code == 200

    ended = await client.delete(f"/api/user/streams/{TV}", headers=on(PHONE, viewer))
    phone = await play(client, movie, viewer, PHONE)
    ended_again = await client.delete(f"/api/user/streams/{TV}", headers=viewer["headers"])
    tv_beat = await beat(client, movie, viewer, TV)  # the ended device plays on: refused

    assert ended.status_code == 204
    assert ended.content == b""
    assert phone.status_code == 200
    assert ended_again.status_code == 404
    assert ended_again.json()["error"]["code"] == "stream_not_found"
    assert tv_beat.status_code == 409
    assert [s["device_id"] for s in (await watching(client, viewer, PHONE))["items"]] == [PHONE]


async def test_viewers_only_see_and_end_their_own_devices(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any], env: Backend
) -> None:
    movie = await ready_film(client, admin, env)
    body = await register(client)
    someone = {**body, "headers": bearer(body["access_token"])}
    assert (await play(client, movie, viewer, TV)).status_code == 200
    assert (await play(client, movie, someone, TV)).status_code == 200  # ids are per viewer

    theirs = await watching(client, someone)
    ended = await client.delete(f"/api/user/streams/{PHONE}", headers=someone["headers"])
    anonymous = await client.get("/api/user/streams")

    assert [s["device_id"] for s in theirs["items"]] == [TV]
    assert ended.status_code == 404
    assert anonymous.status_code == 401
    assert (await play(client, movie, viewer, PHONE)).status_code == 409


@pytest.mark.parametrize(("plan", "devices"), [(Plan.BASIC, 2), (Plan.PREMIUM, 4)])
async def test_subscribers_watch_on_as_many_devices_as_their_plan_allows(
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    viewer: dict[str, Any],
    env: Backend,
    plan: Plan,
    devices: int,
) -> None:
    movie = await ready_film(client, admin, env)
    await subscribe(env, viewer, plan)
    names = [f"device-{number:04d}" for number in range(devices + 1)]

    answers = [await play(client, movie, viewer, name) for name in names]

    assert [answer.status_code for answer in answers] == [200] * devices + [409]
    error = answers[-1].json()["error"]
    assert error["limit"] == devices
    assert f"watching on {devices} devices, the most" in error["message"]
    assert [d["device_id"] for d in error["active_devices"]] == names[:devices]  # oldest first
    listed = await watching(client, viewer, names[0])
    assert (listed["limit"], listed["total"]) == (devices, devices)


async def test_administrators_are_not_limited(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    movie = await ready_film(client, admin, env)

    answers = [await play(client, movie, admin, f"device-{number:04d}") for number in range(6)]

    assert {answer.status_code for answer in answers} == {200}


@pytest.mark.parametrize(("plan", "devices", "starting"), [(None, 1, 2), (Plan.BASIC, 2, 3)])
async def test_devices_starting_at_the_same_moment_cannot_pass_the_limit_together(
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    viewer: dict[str, Any],
    env: Backend,
    client_of_app: Any,
    plan: Plan | None,
    devices: int,
    starting: int,
) -> None:
    movie = await ready_film(client, admin, env)
    if plan is not None:
        await subscribe(env, viewer, plan)
    # With Redis, the database registry is raced on PostgreSQL too, by an app without it.
    apps = [client] + ([await client_of_app(redis_url="")] if env.settings.redis_url else [])

    for app, attempt in itertools.product(apps, range(3)):
        names = [f"race-{attempt}-{number:03d}" for number in range(starting)]
        answers = await asyncio.gather(*(play(app, movie, viewer, name) for name in names))
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [200] * devices + [409] * (starting - devices), attempt
        listed = await watching(app, viewer, names[0])
        assert listed["total"] == devices
        for stream in listed["items"]:  # a clean start for the next round
            ended = f"/api/user/streams/{stream['device_id']}"
            assert (await app.delete(ended, headers=viewer["headers"])).status_code == 204


@pytest.mark.parametrize(
    "device", ["short", "has spaces in it", "semi;colon-0001", "x" * 65, "ünïcode-device"]
)
async def test_a_device_id_must_be_8_to_64_letters_digits_dashes_or_underscores(
    client: httpx.AsyncClient, viewer: dict[str, Any], device: str
) -> None:
    headers = _encodable({**viewer["headers"], "X-Device-Id": device})

    playback = await client.get("/api/movies/any-film/playback", headers=headers)
    progress = await client.post(
        "/api/watch/progress", json={"movie_id": str(uuid.uuid4()), "progress": 5}, headers=headers
    )
    streams = await client.get("/api/user/streams", headers=headers)

    for response in (playback, progress, streams):
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert error["details"][0]["field"] == "header.X-Device-Id"


def _encodable(headers: dict[str, str]) -> dict[str, bytes]:
    return {name: value.encode() for name, value in headers.items()}


async def test_a_device_id_in_the_path_is_checked_too(
    client: httpx.AsyncClient, viewer: dict[str, Any]
) -> None:
    response = await client.delete("/api/user/streams/bad!id", headers=viewer["headers"])

    assert response.status_code == 422


async def test_without_a_device_id_the_user_agent_names_the_device(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any], env: Backend
) -> None:
    movie = await ready_film(client, admin, env)
    app = {**viewer["headers"], "User-Agent": "KushTV/2.1 (Linux; Android 13)"}
    other_app = {**viewer["headers"], "User-Agent": "KushDesktop/1.0"}

    first = await client.get(f"/api/movies/{movie['slug']}/playback", headers=app)
    again = await client.get(f"/api/movies/{movie['slug']}/playback", headers=app)
    reported = await client.post(
        "/api/watch/progress", json={"movie_id": movie["id"], "progress": 9}, headers=app
    )
    refused = await client.get(f"/api/movies/{movie['slug']}/playback", headers=other_app)

    assert first.status_code == again.status_code == reported.status_code == 200
    assert first.json()["device_id"] == derived_device_id("KushTV/2.1 (Linux; Android 13)")
    assert refused.status_code == 409
    [device] = refused.json()["error"]["active_devices"]
    assert device["label"] == "KushTV on Android"


async def test_anonymous_viewers_of_free_films_are_not_counted(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    movie = await ready_film(client, admin, env)

    answers = [
        await client.get(
            f"/api/movies/{movie['slug']}/playback", headers={"X-Device-Id": f"anon-{n:05d}"}
        )
        for n in range(3)
    ]

    assert {answer.status_code for answer in answers} == {200}
    assert {answer.json()["device_id"] for answer in answers} == {None}


async def test_streams_are_kept_in_redis_when_configured_else_in_the_database(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any], env: Backend
) -> None:
    movie = await ready_film(client, admin, env)
    assert (await play(client, movie, viewer, TV)).status_code == 200

    async with transaction(env.app.state.db.writer) as session:
        rows = await session.scalar(select(func.count()).select_from(StreamSession))
    redis: Redis | None = env.app.state.redis

    if env.settings.redis_url:
        assert redis is not None
        assert rows == 0
        assert await redis.zscore(f"kf-streams:{{{viewer['user']['id']}}}", TV) is not None
    else:
        assert redis is None
        assert rows == 1


async def test_playback_goes_on_when_redis_cannot_be_reached(
    env: Backend, db_session: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:9/0", retry=Retry(NoBackoff(), 0))
    registry = stream_registry(db_session, redis=unreachable, idle_seconds=60)
    user = User(id=uuid.uuid4(), email="x@example.com", name="X", password_hash="-")
    movie_id = uuid.uuid4()
    try:
        stream = await registry.open(user, Device(TV, "TV"), movie_id=movie_id, limit=1)
    finally:
        await unreachable.aclose()

    assert isinstance(registry, RedisStreams)
    assert (stream.device_id, stream.movie_id) == (TV, movie_id)
    assert "stream registry unavailable" in caplog.text


async def test_without_redis_the_database_keeps_the_streams(
    env: Backend, db_session: AsyncSession
) -> None:
    registry = stream_registry(db_session, redis=None, idle_seconds=60)

    assert isinstance(registry, DatabaseStreams)


async def test_browsers_on_other_sites_may_send_the_device_id(client_of_app: Any) -> None:
    app = await client_of_app(cors_origins=["https://tv.example"])

    preflight = await app.options(
        "/api/movies/any-film/playback",
        headers={
            "Origin": "https://tv.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization, x-device-id",
        },
    )

    assert preflight.status_code == 200
    assert "x-device-id" in preflight.headers["access-control-allow-headers"].lower()
