import asyncio
import uuid
from typing import Any

import httpx

from kushfilms.accounts import admins
from kushfilms.db import transaction
from tests.conftest import PASSWORD, Backend, bearer, register


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


async def test_a_promoted_user_is_an_admin_once_signed_in_again(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any]
) -> None:
    response = await client.put(
        f"/api/admin/users/{viewer['user']['id']}",
        json={"role": "ADMIN"},
        headers=admin["headers"],
    )
    with_old_token = await client.get("/api/admin/users", headers=viewer["headers"])
    signed_in = await client.post(
        "/api/auth/login", json={"email": viewer["user"]["email"], "password": PASSWORD}
    )
    with_new_token = await client.get(
        "/api/admin/users", headers=bearer(signed_in.json()["access_token"])
    )

    assert response.status_code == 200
    assert response.json()["role"] == "ADMIN"
    assert with_old_token.status_code == 401
    assert with_new_token.status_code == 200


async def test_a_demoted_admin_loses_access_at_once(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any]
) -> None:
    await client.put(
        f"/api/admin/users/{viewer['user']['id']}", json={"role": "ADMIN"}, headers=admin["headers"]
    )
    promoted = await client.post(
        "/api/auth/login", json={"email": viewer["user"]["email"], "password": PASSWORD}
    )

    demote = await client.put(
        f"/api/admin/users/{admin['user']['id']}",
        json={"role": "USER"},
        headers=bearer(promoted.json()["access_token"]),
    )
    after = await client.get("/api/admin/users", headers=admin["headers"])

    assert demote.status_code == 200
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "invalid_token"


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


async def test_two_administrators_demoting_each_other_at_once_leave_one(
    client: httpx.AsyncClient, client_from: Any, env: Backend
) -> None:
    """Each checks that another administrator remains; on PostgreSQL both checks ran
    before either demotion committed until the administrators' rows were locked."""
    first, second = [await _another_admin(client, env, name) for name in ("Ann", "Bob")]
    racers = [client_from("198.51.100.1"), client_from("198.51.100.2")]

    responses = await asyncio.gather(
        racers[0].put(
            f"/api/admin/users/{second['user']['id']}", json={"role": "USER"}, **first["kw"]
        ),
        racers[1].put(
            f"/api/admin/users/{first['user']['id']}", json={"role": "USER"}, **second["kw"]
        ),
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses[0] == 200, [r.text for r in responses]
    assert statuses[1] in (401, 409)  # signed out by the demotion, or the last admin
    async with transaction(env.app.state.db.writer) as session:
        assert await admins.count_admins(session) == 1


async def _another_admin(client: httpx.AsyncClient, env: Backend, name: str) -> dict[str, Any]:
    email = f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.com"
    async with transaction(env.app.state.db.writer) as session:
        await admins.ensure_admin(
            session,
            email=email,
            password=PASSWORD,
            name=name,
            hasher=env.app.state.password_hasher,
        )
    response = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return {**body, "kw": {"headers": bearer(body["access_token"])}}
