from typing import Any

import httpx
import pytest

from tests.catalog.conftest import add_category, add_movie, publish_movie


async def test_a_new_movie_is_unpublished_until_published(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    created = await client.post(
        "/api/admin/movies",
        json={
            "title": "The Third Man",
            "description": "Post-war Vienna, a dead friend, a zither.",
            "access_level": "BASIC",
            "release_year": 1949,
        },
        headers=admin["headers"],
    )
    movie = created.json()

    assert created.status_code == 201
    assert movie["slug"] == "the-third-man"
    assert movie["published"] is False
    assert movie["published_at"] is None
    assert movie["access_level"] == "BASIC"
    assert (await client.get("/api/movies/the-third-man")).status_code == 404
    assert (await client.get("/api/movies")).json()["total"] == 0

    without_video = await client.post(
        f"/api/admin/movies/{movie['id']}/publish", headers=admin["headers"]
    )
    assert without_video.status_code == 409
    assert without_video.json()["error"]["code"] == "video_not_ready"
    assert (await client.get("/api/movies/the-third-man")).status_code == 404

    await publish_movie(client, movie)

    public = await client.get("/api/movies/the-third-man")
    assert public.json()["published"] is True
    assert public.json()["published_at"] is not None
    assert public.status_code == 200
    assert public.json()["title"] == "The Third Man"
    assert (await client.get(f"/api/movies/{movie['id']}")).json()["slug"] == "the-third-man"

    await client.post(f"/api/admin/movies/{movie['id']}/unpublish", headers=admin["headers"])

    assert (await client.get("/api/movies/the-third-man")).status_code == 404
    assert (await client.get("/api/movies")).json()["total"] == 0


async def test_admins_see_unpublished_movies(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any]
) -> None:
    draft = await add_movie(client, admin, title="Draft", publish=False)
    await add_movie(client, admin, title="Out Now")

    as_admin = await client.get("/api/movies?include_unpublished=true", headers=admin["headers"])
    detail = await client.get(f"/api/movies/{draft['slug']}", headers=admin["headers"])
    admin_detail = await client.get(f"/api/admin/movies/{draft['id']}", headers=admin["headers"])
    as_viewer = await client.get("/api/movies?include_unpublished=true", headers=viewer["headers"])
    anonymous = await client.get("/api/movies?include_unpublished=true")

    assert sorted(m["title"] for m in as_admin.json()["items"]) == ["Draft", "Out Now"]
    assert detail.status_code == 200
    assert admin_detail.json()["published"] is False
    assert as_viewer.status_code == 403
    assert anonymous.status_code == 401


async def test_slugs_are_unique_and_readable(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    first = await add_movie(client, admin, title="Amélie", publish=False)
    second = await add_movie(client, admin, title="Amélie", publish=False)
    third = await add_movie(client, admin, title="AMÉLIE!", publish=False)
    symbols = await add_movie(client, admin, title="🎬🍿", publish=False)

    assert [first["slug"], second["slug"], third["slug"]] == ["amelie", "amelie-2", "amelie-3"]
    assert symbols["slug"] == "movie"


async def test_an_explicit_slug_must_be_free_and_well_formed(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    await add_movie(client, admin, title="Alien", slug="alien-1979", publish=False)

    taken = await client.post(
        "/api/admin/movies",
        json={"title": "Alien", "slug": "alien-1979"},
        headers=admin["headers"],
    )
    malformed = await client.post(
        "/api/admin/movies", json={"title": "Alien", "slug": "Alien 1979"}, headers=admin["headers"]
    )

    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "slug_taken"
    assert malformed.status_code == 422


async def test_update_changes_only_what_is_sent(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    drama = await add_category(client, admin, "Drama")
    movie = await add_movie(
        client,
        admin,
        title="Casablanca",
        description="Of all the gin joints.",
        category_id=drama["id"],
        release_year=1942,
    )

    renamed = await client.put(
        f"/api/admin/movies/{movie['id']}",
        json={"title": "Casablanca (Restored)", "access_level": "PREMIUM"},
        headers=admin["headers"],
    )
    cleared = await client.put(
        f"/api/admin/movies/{movie['id']}",
        json={"category_id": None, "release_year": None},
        headers=admin["headers"],
    )

    assert renamed.status_code == 200
    body = renamed.json()
    assert body["title"] == "Casablanca (Restored)"
    assert body["access_level"] == "PREMIUM"
    assert body["description"] == "Of all the gin joints."
    assert body["category"]["name"] == "Drama"
    assert body["slug"] == "casablanca"  # links keep working after a rename
    assert cleared.json()["category"] is None
    assert cleared.json()["release_year"] is None
    assert cleared.json()["title"] == "Casablanca (Restored)"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": None}, "title"),
        ({"title": ""}, "title"),
        ({"release_year": "1942"}, "release_year"),
        ({"release_year": 1492}, "release_year"),
        ({"access_level": "GOLD"}, "access_level"),
        ({"published": True}, "published"),
    ],
)
async def test_invalid_updates_are_refused_and_change_nothing(
    client: httpx.AsyncClient, admin: dict[str, Any], changes: dict[str, Any], field: str
) -> None:
    movie = await add_movie(client, admin, title="Vertigo", release_year=1958)

    response = await client.put(
        f"/api/admin/movies/{movie['id']}", json=changes, headers=admin["headers"]
    )

    assert response.status_code == 422
    assert field in response.json()["error"]["message"]
    after = await client.get(f"/api/admin/movies/{movie['id']}", headers=admin["headers"])
    assert after.json()["title"] == "Vertigo"
    assert after.json()["release_year"] == 1958


async def test_an_unknown_category_is_refused_and_nothing_is_created(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    response = await client.post(
        "/api/admin/movies",
        json={"title": "Orphan", "category_id": "00000000-0000-0000-0000-000000000001"},
        headers=admin["headers"],
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_category"
    listed = await client.get("/api/movies?include_unpublished=true", headers=admin["headers"])
    assert listed.json()["total"] == 0


async def test_deleting_a_movie(client: httpx.AsyncClient, admin: dict[str, Any]) -> None:
    movie = await add_movie(client, admin, title="Gone Girl")

    deleted = await client.delete(f"/api/admin/movies/{movie['id']}", headers=admin["headers"])
    again = await client.delete(f"/api/admin/movies/{movie['id']}", headers=admin["headers"])

    assert deleted.status_code == 204
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "movie_not_found"
    assert (await client.get(f"/api/movies/{movie['slug']}")).status_code == 404
    assert (await client.get("/api/movies?search=gone")).json()["total"] == 0


async def test_movie_administration_needs_an_admin(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any]
) -> None:
    movie = await add_movie(client, admin, title="Rear Window")
    calls = [
        ("POST", "/api/admin/movies", {"title": "X"}),
        ("GET", f"/api/admin/movies/{movie['id']}", None),
        ("PUT", f"/api/admin/movies/{movie['id']}", {"title": "Y"}),
        ("DELETE", f"/api/admin/movies/{movie['id']}", None),
        ("POST", f"/api/admin/movies/{movie['id']}/publish", None),
        ("POST", f"/api/admin/movies/{movie['id']}/unpublish", None),
        ("POST", "/api/admin/categories", {"name": "X"}),
    ]

    for method, path, body in calls:
        anonymous = await client.request(method, path, json=body)
        as_viewer = await client.request(method, path, json=body, headers=viewer["headers"])
        assert (anonymous.status_code, as_viewer.status_code) == (401, 403), path

    assert (await client.get(f"/api/movies/{movie['slug']}")).json()["title"] == "Rear Window"
