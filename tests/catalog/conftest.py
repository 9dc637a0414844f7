from typing import Any

import httpx


async def add_movie(
    client: httpx.AsyncClient, admin: dict[str, Any], *, publish: bool = True, **fields: Any
) -> dict[str, Any]:
    fields.setdefault("title", "Untitled")
    response = await client.post("/api/admin/movies", json=fields, headers=admin["headers"])
    assert response.status_code == 201, response.text
    movie: dict[str, Any] = response.json()
    if publish:
        published = await client.post(
            f"/api/admin/movies/{movie['id']}/publish", headers=admin["headers"]
        )
        assert published.status_code == 200, published.text
        movie = published.json()
    return movie


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
