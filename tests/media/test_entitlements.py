from typing import Any

import httpx
import pytest

from tests.catalog.conftest import add_movie
from tests.conftest import Backend
from tests.films import add_video


@pytest.mark.parametrize("level", ["BASIC", "PREMIUM"])
async def test_paid_films_say_what_would_open_them(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any], level: str
) -> None:
    movie = await add_movie(client, admin, title="Members Only", access_level=level)

    anonymous = await client.get(f"/api/movies/{movie['slug']}/playback")
    signed_in = await client.get(f"/api/movies/{movie['slug']}/playback", headers=viewer["headers"])

    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "sign_in_required"
    assert anonymous.json()["error"]["required_plan"] == level
    assert signed_in.status_code == 403
    assert signed_in.json()["error"] == {
        "code": "subscription_required",
        "message": "Your plan does not include this film.",
        "required_plan": level,
        "current_plan": "FREE",
    }


async def test_a_film_without_a_processed_video_cannot_be_played(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    movie = await add_movie(client, admin, title="Coming Soon")

    response = await client.get(f"/api/movies/{movie['id']}/playback")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "video_not_ready"


async def test_unpublished_and_unknown_films_are_not_found(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    draft = await add_movie(client, admin, title="Secret", publish=False)

    assert (await client.get(f"/api/movies/{draft['id']}/playback")).status_code == 404
    assert (await client.get("/api/movies/nothing-here/playback")).status_code == 404


def server_timing(header: str) -> dict[str, float]:
    """The metrics of a Server-Timing header, by name, in order: ``{name: dur}``."""
    metrics = {}
    for metric in header.split(","):
        name, *params = (part.strip() for part in metric.split(";"))
        [duration] = [float(param.removeprefix("dur=")) for param in params if "dur=" in param]
        metrics[name] = duration
    return metrics


async def test_playback_says_how_long_its_entitlement_check_took(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any], env: Backend
) -> None:
    movie = await add_movie(client, admin, title="Timed", access_level="FREE")
    await add_video(env, movie)
    url = f"/api/movies/{movie['slug']}/playback"

    signed_in = await client.get(url, headers={**viewer["headers"], "X-Device-Id": "timed-tv-1"})
    anonymous = await client.get(url)

    assert signed_in.status_code == anonymous.status_code == 200
    timed = server_timing(signed_in.headers["Server-Timing"])
    assert list(timed) == ["entitlement", "streams", "total"]
    assert 0 < timed["entitlement"] < timed["total"] < 10_000
    assert 0 < timed["streams"] < timed["total"]
    assert timed["entitlement"] + timed["streams"] <= timed["total"]
    # Anonymous viewers of free films open no stream session.
    timed = server_timing(anonymous.headers["Server-Timing"])
    assert list(timed) == ["entitlement", "total"]
    assert 0 < timed["entitlement"] <= timed["total"]
