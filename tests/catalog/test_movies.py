import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.catalog import service
from kushfilms.models import Movie
from tests.catalog.conftest import add_category, add_movie, titles
from tests.conftest import Backend


async def test_pages_hold_every_published_movie_once(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    for number in range(23):
        await add_movie(client, admin, title=f"Reel {number:02d}")

    pages = [
        (await client.get(f"/api/movies?page={page}&page_size=10")).json() for page in (1, 2, 3, 4)
    ]

    assert [len(p["items"]) for p in pages] == [10, 10, 3, 0]
    assert {p["total"] for p in pages} == {23}
    assert [p["page"] for p in pages] == [1, 2, 3, 4]
    seen = [m["title"] for p in pages for m in p["items"]]
    assert sorted(seen) == [f"Reel {n:02d}" for n in range(23)]
    # Newest first by default.
    assert seen[0] == "Reel 22"


@pytest.mark.parametrize("query", ["page=0", "page_size=0", "page_size=101", "page=abc"])
async def test_bad_paging_is_refused(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/api/movies?{query}")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def test_filters_by_category_and_access_level(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    noir = await add_category(client, admin, "Film Noir")
    western = await add_category(client, admin, "Western")
    await add_movie(client, admin, title="Detour", category_id=noir["id"])
    await add_movie(
        client, admin, title="The Big Sleep", category_id=noir["id"], access_level="PREMIUM"
    )
    await add_movie(client, admin, title="Stagecoach", category_id=western["id"])
    await add_movie(client, admin, title="Uncategorised")

    assert sorted(await titles(client, "category=film-noir")) == ["Detour", "The Big Sleep"]
    assert await titles(client, f"category={western['id']}") == ["Stagecoach"]
    assert await titles(client, "category=film-noir&access_level=PREMIUM") == ["The Big Sleep"]
    assert await titles(client, "category=no-such-thing") == []
    assert (await client.get("/api/movies?access_level=GOLD")).status_code == 422


async def test_sorting(
    client: httpx.AsyncClient, admin: dict[str, Any], db_session: AsyncSession
) -> None:
    banana = await add_movie(client, admin, title="banana split")
    await add_movie(client, admin, title="Apple Pie")
    cherry = await add_movie(client, admin, title="Cherry Blossom")
    await service.add_views(db_session, {uuid.UUID(cherry["id"]): 3, uuid.UUID(banana["id"]): 1})
    await db_session.commit()

    assert await titles(client, "sort=title") == ["Apple Pie", "banana split", "Cherry Blossom"]
    assert await titles(client, "sort=newest") == ["Cherry Blossom", "Apple Pie", "banana split"]
    assert await titles(client, "sort=popular") == ["Cherry Blossom", "banana split", "Apple Pie"]
    assert (await client.get("/api/movies?sort=random")).status_code == 422


async def test_a_movie_shows_its_category(client: httpx.AsyncClient, admin: dict[str, Any]) -> None:
    horror = await add_category(client, admin, "Horror")
    movie = await add_movie(client, admin, title="Nosferatu", category_id=horror["id"])

    body = (await client.get(f"/api/movies/{movie['slug']}")).json()

    assert body["category"] == {"id": horror["id"], "name": "Horror", "slug": "horror"}
    assert (await client.get("/api/movies/no-such-film")).json()["error"]["code"] == (
        "movie_not_found"
    )


async def test_anonymous_reads_are_cached_but_changes_show_at_once(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    movie = await add_movie(client, admin, title="Metropolis")
    first = await client.get("/api/movies")
    # A change made behind the platform's back (as by another server
    # process) is not seen while the cached answer is fresh...
    async with env.app.state.db.writer() as session:
        await session.execute(update(Movie).values(description="changed elsewhere"))
        await session.commit()
    cached = await client.get("/api/movies")
    # ...but one made through the platform is seen at once.
    await client.put(
        f"/api/admin/movies/{movie['id']}",
        json={"title": "Metropolis (1927)"},
        headers=admin["headers"],
    )
    fresh = await client.get("/api/movies")

    assert first.headers["cache-control"] == "public, max-age=10"
    assert cached.json() == first.json()
    assert fresh.json()["items"][0]["title"] == "Metropolis (1927)"
    assert fresh.json()["items"][0]["description"] == "changed elsewhere"


async def test_administrators_reads_are_never_served_from_the_cache(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    await add_movie(client, admin, title="Sunrise")
    await client.get("/api/movies")
    async with env.app.state.db.writer() as session:
        await session.execute(update(Movie).values(title="Sunset"))
        await session.commit()

    signed_in = await client.get("/api/movies", headers=admin["headers"])

    assert signed_in.json()["items"][0]["title"] == "Sunset"
    assert "cache-control" not in signed_in.headers


async def test_signed_in_viewers_share_the_anonymous_cache(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any], env: Backend
) -> None:
    movie = await add_movie(client, admin, title="Sunrise")
    draft = await add_movie(client, admin, title="Work in progress", publish=False)
    first = await client.get("/api/movies", headers=viewer["headers"])
    async with env.app.state.db.writer() as session:  # as another process would
        await session.execute(update(Movie).values(title="Sunset"))
        await session.commit()

    anonymous = await client.get("/api/movies")
    signed_in = await client.get("/api/movies", headers=viewer["headers"])
    detail = await client.get(f"/api/movies/{movie['slug']}", headers=viewer["headers"])
    hidden = await client.get(f"/api/movies/{draft['slug']}", headers=viewer["headers"])

    assert first.headers["cache-control"] == "public, max-age=10"
    assert anonymous.json() == signed_in.json() == first.json()
    assert signed_in.json()["items"][0]["title"] == "Sunrise"  # still the cached answer
    assert detail.json()["title"] == "Sunset"
    assert hidden.status_code == 404


async def test_a_bad_token_is_refused_even_where_the_answer_is_cached(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any]
) -> None:
    await add_movie(client, admin, title="Sunrise")
    await client.get("/api/movies")
    forged = viewer["access_token"][:-4] + "AAAA"

    refused = await client.get("/api/movies", headers={"Authorization": f"Bearer {forged}"})

    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_token"


async def test_unchanged_answers_are_not_sent_again(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    await add_movie(client, admin, title="Pandora's Box")
    first = await client.get("/api/movies")

    again = await client.get("/api/movies", headers={"If-None-Match": first.headers["etag"]})
    other = await client.get("/api/movies", headers={"If-None-Match": '"something-else"'})

    assert again.status_code == 304
    assert again.content == b""
    assert other.status_code == 200
    assert other.json() == first.json()
