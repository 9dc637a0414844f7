from typing import Any

import httpx

from tests.catalog.conftest import add_category, add_movie


async def test_categories_are_listed_by_name_with_published_counts(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    sci_fi = await add_category(client, admin, "Science Fiction", description="Rockets.")
    comedy = await add_category(client, admin, "comedy")
    await add_movie(client, admin, title="Alphaville", category_id=sci_fi["id"])
    await add_movie(client, admin, title="Solaris", category_id=sci_fi["id"])
    await add_movie(client, admin, title="Draft", category_id=sci_fi["id"], publish=False)

    body = (await client.get("/api/categories")).json()

    assert body["total"] == 2
    assert [(c["name"], c["movie_count"]) for c in body["items"]] == [
        ("comedy", 0),
        ("Science Fiction", 2),
    ]
    assert body["items"][1]["slug"] == "science-fiction"
    assert body["items"][1]["description"] == "Rockets."
    assert comedy["movie_count"] == 0


async def test_category_names_are_unique_whatever_their_case(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    await add_category(client, admin, "Drama")
    documentary = await add_category(client, admin, "Documentary")

    duplicate = await client.post(
        "/api/admin/categories", json={"name": "DRAMA"}, headers=admin["headers"]
    )
    rename_clash = await client.put(
        f"/api/admin/categories/{documentary['id']}",
        json={"name": "drama"},
        headers=admin["headers"],
    )

    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "category_name_taken"
    assert rename_clash.status_code == 409


async def test_renaming_a_category(client: httpx.AsyncClient, admin: dict[str, Any]) -> None:
    category = await add_category(client, admin, "Docs")
    await add_movie(client, admin, title="Nanook", category_id=category["id"])

    renamed = await client.put(
        f"/api/admin/categories/{category['id']}",
        json={"name": "Documentary", "slug": "documentary"},
        headers=admin["headers"],
    )
    recased = await client.put(
        f"/api/admin/categories/{category['id']}",
        json={"name": "DOCUMENTARY"},
        headers=admin["headers"],
    )

    assert renamed.status_code == 200
    assert renamed.json()["slug"] == "documentary"
    assert renamed.json()["movie_count"] == 1
    assert recased.json()["name"] == "DOCUMENTARY"
    movie = (await client.get("/api/movies?category=documentary")).json()["items"][0]
    assert movie["category"]["name"] == "DOCUMENTARY"


async def test_deleting_a_category_keeps_its_movies(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    category = await add_category(client, admin, "Silent")
    movie = await add_movie(client, admin, title="The Kid", category_id=category["id"])

    deleted = await client.delete(
        f"/api/admin/categories/{category['id']}", headers=admin["headers"]
    )
    again = await client.delete(f"/api/admin/categories/{category['id']}", headers=admin["headers"])

    assert deleted.status_code == 204
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "category_not_found"
    kept = (await client.get(f"/api/movies/{movie['slug']}")).json()
    assert kept["category"] is None
    assert (await client.get("/api/categories")).json()["total"] == 0


async def test_category_changes_are_validated(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    category = await add_category(client, admin, "Noir")

    empty_name = await client.post(
        "/api/admin/categories", json={"name": "  "}, headers=admin["headers"]
    )
    null_name = await client.put(
        f"/api/admin/categories/{category['id']}", json={"name": None}, headers=admin["headers"]
    )
    missing = await client.put(
        "/api/admin/categories/00000000-0000-0000-0000-000000000000",
        json={"name": "X"},
        headers=admin["headers"],
    )

    assert empty_name.status_code == 422
    assert null_name.status_code == 422
    assert missing.status_code == 404
