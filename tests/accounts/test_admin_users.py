from typing import Any

import httpx

from tests.conftest import register


async def test_user_administration_needs_an_admin(
    client: httpx.AsyncClient, viewer: dict[str, Any]
) -> None:
    anonymous = await client.get("/api/admin/users")
    as_viewer = await client.get("/api/admin/users", headers=viewer["headers"])
    promote_self = await client.put(
        f"/api/admin/users/{viewer['user']['id']}",
        json={"role": "ADMIN"},
        headers=viewer["headers"],
    )

    assert anonymous.status_code == 401
    assert as_viewer.status_code == 403
    assert as_viewer.json()["error"]["code"] == "forbidden"
    assert promote_self.status_code == 403


async def test_admins_list_and_search_users(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    await register(client, email="ana.silva@example.com", name="Ana Silva")
    await register(client, email="bo@example.com", name="Bo Andersson")
    await register(client, email="cy@example.com", name="Cy")

    everyone = await client.get("/api/admin/users", headers=admin["headers"])
    by_name = await client.get("/api/admin/users?search=ANDERS", headers=admin["headers"])
    by_email = await client.get("/api/admin/users?search=silva@", headers=admin["headers"])
    page = await client.get("/api/admin/users?page=2&page_size=2", headers=admin["headers"])
    wildcard = await client.get("/api/admin/users?search=%25", headers=admin["headers"])

    assert everyone.json()["total"] == 4
    assert [u["email"] for u in by_name.json()["items"]] == ["bo@example.com"]
    assert [u["email"] for u in by_email.json()["items"]] == ["ana.silva@example.com"]
    assert page.json()["page"] == 2
    assert len(page.json()["items"]) == 2
    assert wildcard.json()["total"] == 0  # "%" is a character to look for, not a wildcard
    assert "password_hash" not in everyone.text


async def test_a_promoted_user_is_an_admin_at_once(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any]
) -> None:
    response = await client.put(
        f"/api/admin/users/{viewer['user']['id']}",
        json={"role": "ADMIN"},
        headers=admin["headers"],
    )
    with_old_token = await client.get("/api/admin/users", headers=viewer["headers"])

    assert response.status_code == 200
    assert response.json()["role"] == "ADMIN"
    assert with_old_token.status_code == 200


async def test_a_demoted_admin_loses_access_at_once(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any]
) -> None:
    await client.put(
        f"/api/admin/users/{viewer['user']['id']}", json={"role": "ADMIN"}, headers=admin["headers"]
    )

    demote = await client.put(
        f"/api/admin/users/{admin['user']['id']}", json={"role": "USER"}, headers=viewer["headers"]
    )
    after = await client.get("/api/admin/users", headers=admin["headers"])

    assert demote.status_code == 200
    assert after.status_code == 403


async def test_the_last_admin_cannot_be_demoted(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    response = await client.put(
        f"/api/admin/users/{admin['user']['id']}", json={"role": "USER"}, headers=admin["headers"]
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "last_admin"


async def test_role_changes_are_validated(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any]
) -> None:
    unknown_user = await client.put(
        "/api/admin/users/00000000-0000-0000-0000-000000000000",
        json={"role": "ADMIN"},
        headers=admin["headers"],
    )
    bad_role = await client.put(
        f"/api/admin/users/{viewer['user']['id']}", json={"role": "GOD"}, headers=admin["headers"]
    )
    bad_id = await client.put(
        "/api/admin/users/not-a-uuid", json={"role": "ADMIN"}, headers=admin["headers"]
    )

    assert unknown_user.status_code == 404
    assert unknown_user.json()["error"]["code"] == "user_not_found"
    assert bad_role.status_code == 422
    assert bad_id.status_code == 422
