import uuid
from typing import Any

import httpx

from kushfilms.catalog import service
from kushfilms.db import transaction
from tests.conftest import app_of


async def add_movie(
    client: httpx.AsyncClient, admin: dict[str, Any], *, publish: bool = True, **fields: Any
) -> dict[str, Any]:
    """A movie made over the API; ``publish`` puts it out as the publish step would.

    (Publishing over the API needs a processed video; the media tests do that.
    Catalogue behaviour only needs the movie to be out.)
    """
    fields.setdefault("title", "Untitled")
    response = await client.post("/api/admin/movies", json=fields, headers=admin["headers"])
    assert response.status_code == 201, response.text
    movie: dict[str, Any] = response.json()
    if publish:
        await publish_movie(client, movie)
        published = await client.get(f"/api/movies/{movie['id']}", headers=admin["headers"])
        movie = published.json()
    return movie


async def publish_movie(client: httpx.AsyncClient, movie: dict[str, Any]) -> None:
    async with transaction(app_of(client).state.db.writer) as session:
        await service.set_published(session, uuid.UUID(movie["id"]), True)


async def add_category(
    client: httpx.AsyncClient, admin: dict[str, Any], name: str, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/admin/categories", json={"name": name, **fields}, headers=admin["headers"]
    )
    assert response.status_code == 201, response.text
    category: dict[str, Any] = response.json()
    return category


async def titles(client: httpx.AsyncClient, query: str, **kwargs: Any) -> list[str]:
    response = await client.get(f"/api/movies?{query}", **kwargs)
    assert response.status_code == 200, response.text
    return [movie["title"] for movie in response.json()["items"]]
