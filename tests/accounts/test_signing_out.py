"""Signing out ends a session's access tokens at once, not when they expire."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.conftest import PASSWORD, Backend, bearer, register


def assert_signed_out(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == {
        "code": "invalid_token",
        "message": "This session has been signed out.",
    }


async def sign_in(client: httpx.AsyncClient, email: str) -> dict[str, Any]:
    response = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_logout_ends_the_access_token_at_once(client: httpx.AsyncClient) -> None:
    phone = await register(client, email="adjoa@example.com")
    laptop = await sign_in(client, "adjoa@example.com")
    before = await client.get("/api/auth/me", headers=bearer(phone["access_token"]))

    await client.post("/api/auth/logout", json={"refresh_token": phone["refresh_token"]})

    assert before.status_code == 200
    assert_signed_out(await client.get("/api/auth/me", headers=bearer(phone["access_token"])))
    # Only that sign-in ended.
    other = await client.get("/api/auth/me", headers=bearer(laptop["access_token"]))
    assert other.status_code == 200


async def test_reuse_of_a_refresh_token_ends_the_sessions_access_tokens(
    client: httpx.AsyncClient,
) -> None:
    first = await register(client)
    second = (
        await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()

    replay = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})

    assert replay.json()["error"]["code"] == "refresh_token_reused"
    for token in (first["access_token"], second["access_token"]):
        assert_signed_out(await client.get("/api/auth/me", headers=bearer(token)))


async def test_a_role_change_ends_the_users_api_sessions(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any]
) -> None:
    user = viewer["user"]
    promoted = await client.put(
        f"/api/admin/users/{user['id']}", json={"role": "ADMIN"}, headers=admin["headers"]
    )
    old_token = await client.get("/api/auth/me", headers=viewer["headers"])
    refresh = await client.post(
        "/api/auth/refresh", json={"refresh_token": viewer["refresh_token"]}
    )
    again = await sign_in(client, user["email"])

    assert promoted.status_code == 200
    assert_signed_out(old_token)
    assert refresh.status_code == 401
    assert again["user"]["role"] == "ADMIN"
    # The administrator who made the change is still signed in.
    assert (await client.get("/api/auth/me", headers=admin["headers"])).status_code == 200


async def test_setting_the_same_role_ends_nothing(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any]
) -> None:
    unchanged = await client.put(
        f"/api/admin/users/{viewer['user']['id']}", json={"role": "USER"}, headers=admin["headers"]
    )

    assert unchanged.status_code == 200
    assert (await client.get("/api/auth/me", headers=viewer["headers"])).status_code == 200


@contextmanager
def statements_on(engine: Engine, *, tables: tuple[str, ...]) -> Iterator[list[str]]:
    """The statements run on ``engine`` meanwhile that name any of ``tables`` (the
    job queue's pollers share the engine)."""
    seen: list[str] = []

    def note(*args: Any) -> None:
        statement = str(args[2])
        if any(table in statement for table in tables):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


async def test_checking_the_session_costs_no_extra_query(
    client: httpx.AsyncClient, env: Backend, viewer: dict[str, Any]
) -> None:
    engine = env.app.state.db.primary_reads.sync_engine
    with statements_on(engine, tables=("users", "subscriptions", "refresh_tokens")) as statements:
        me = await client.get("/api/auth/me", headers=viewer["headers"])

    assert me.status_code == 200
    assert len(statements) == 1, statements
    assert "refresh_tokens" in statements[0]
