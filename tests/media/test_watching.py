import uuid
from typing import Any

import httpx

from kushfilms.catalog import service as catalog
from kushfilms.db import transaction
from tests.catalog.conftest import add_movie
from tests.conftest import Backend


async def film(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, title: str, **fields: Any
) -> dict[str, Any]:
    movie = await add_movie(client, admin, title=title, **fields)
    async with transaction(env.app.state.db.writer) as session:
        await catalog.set_duration(session, uuid.UUID(movie["id"]), 100)
    return movie


async def test_progress_is_remembered_and_listed_newest_first(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any], env: Backend
) -> None:
    first = await film(client, admin, env, "First")
    second = await film(client, admin, env, "Second")

    await client.post(
        "/api/watch/progress",
        json={"movie_id": first["id"], "progress": 30},
        headers=viewer["headers"],
    )
    saved = await client.post(
        "/api/watch/progress",
        json={"movie_id": second["id"], "progress": 95},
        headers=viewer["headers"],
    )
    again = await client.post(
        "/api/watch/progress",
        json={"movie_id": first["id"], "progress": 42},
        headers=viewer["headers"],
    )
    history = (await client.get("/api/user/history", headers=viewer["headers"])).json()

    assert saved.json()["completed"] is True  # past 90 % of 100 s
    assert again.json()["progress"] == 42
    assert again.json()["completed"] is False
    assert history["total"] == 2
    assert [(i["movie"]["title"], i["progress"]) for i in history["items"]] == [
        ("First", 42),
        ("Second", 95),
    ]


async def test_progress_beyond_the_end_is_clamped(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any], env: Backend
) -> None:
    movie = await film(client, admin, env, "Short")

    response = await client.post(
        "/api/watch/progress",
        json={"movie_id": movie["id"], "progress": 5000},
        headers=viewer["headers"],
    )

    assert response.json()["progress"] == 100
    assert response.json()["completed"] is True


async def test_history_is_personal_and_needs_a_sign_in(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any], env: Backend
) -> None:
    movie = await film(client, admin, env, "Mine")
    await client.post(
        "/api/watch/progress",
        json={"movie_id": movie["id"], "progress": 10},
        headers=viewer["headers"],
    )

    anonymous = await client.post(
        "/api/watch/progress", json={"movie_id": movie["id"], "progress": 10}
    )
    admins_own = (await client.get("/api/user/history", headers=admin["headers"])).json()

    assert anonymous.status_code == 401
    assert admins_own["total"] == 0
    assert (await client.get("/api/user/history")).status_code == 401


async def test_bad_progress_reports_are_refused(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any], env: Backend
) -> None:
    movie = await film(client, admin, env, "Checked")
    draft = await add_movie(client, admin, title="Draft", publish=False)

    for body, status in (
        ({"movie_id": movie["id"], "progress": -1}, 422),
        ({"movie_id": movie["id"], "progress": "10"}, 422),
        ({"movie_id": str(uuid.uuid4()), "progress": 1}, 404),
        ({"movie_id": draft["id"], "progress": 1}, 404),
    ):
        response = await client.post("/api/watch/progress", json=body, headers=viewer["headers"])
        assert response.status_code == status, body


async def test_unpublished_films_drop_out_of_history(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any], env: Backend
) -> None:
    movie = await film(client, admin, env, "Withdrawn")
    await client.post(
        "/api/watch/progress",
        json={"movie_id": movie["id"], "progress": 10},
        headers=viewer["headers"],
    )

    await client.post(f"/api/admin/movies/{movie['id']}/unpublish", headers=admin["headers"])

    history = (await client.get("/api/user/history", headers=viewer["headers"])).json()
    assert history == {"items": [], "total": 0, "page": 1, "page_size": 20}
