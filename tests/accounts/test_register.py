from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD, Backend, bearer, register


async def test_register_returns_the_user_and_a_working_token_pair(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/auth/register",
        json={"email": "Ada@Example.COM", "password": PASSWORD, "name": "Ada"},
    )

    assert response.status_code == 201
    body = response.json()
    assert body["user"]["email"] == "ada@example.com"
    assert body["user"]["name"] == "Ada"
    assert body["user"]["role"] == "USER"
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    me = await client.get("/api/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["id"] == body["user"]["id"]


async def test_email_is_unique_whatever_its_case(client: httpx.AsyncClient) -> None:
    await register(client, email="grace@example.com")

    response = await client.post(
        "/api/auth/register",
        json={"email": "GRACE@example.com", "password": PASSWORD, "name": "Grace"},
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "email_taken"


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1!", "at least 8 characters"),
        ("password1", "too easy to guess"),
        ("12345678", "too easy to guess"),
        ("qwertyuiop", "too easy to guess"),
    ],
)
async def test_weak_passwords_are_refused_with_the_reason(
    client: httpx.AsyncClient, password: str, reason: str
) -> None:
    response = await client.post(
        "/api/auth/register",
        json={"email": "weak@example.com", "password": password, "name": "Weak"},
    )

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "weak_password"
    assert reason in error["message"]
    assert error["field"] == "password"
    # Nothing was written: the email is still free.
    retry = await client.post(
        "/api/auth/register",
        json={"email": "weak@example.com", "password": PASSWORD, "name": "Weak"},
    )
    assert retry.status_code == 201


async def test_a_password_made_of_the_users_own_name_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/register",
        json={"email": "mariaelena@example.com", "password": "mariaelena", "name": "Maria Elena"},
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "weak_password"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD, "name": "X"}, "email"),
        ({"email": "x@example.com", "password": PASSWORD}, "name"),
        ({"email": "x@example.com", "password": PASSWORD, "name": ""}, "name"),
        ({"email": "x@example.com", "password": 12345678, "name": "X"}, "password"),
        ({"email": "x@example.com", "password": PASSWORD, "name": "X", "role": "ADMIN"}, "role"),
    ],
)
async def test_invalid_registrations_name_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/api/auth/register", json=body)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in [detail["field"] for detail in error["details"]]


async def test_no_transaction_is_open_while_the_password_is_hashed(
    client: httpx.AsyncClient, env: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """argon2 takes tens of milliseconds; on SQLite an open write transaction would
    stop every other writer meanwhile."""
    hasher = env.app.state.password_hasher
    hash_password = hasher.hash
    writes_open: list[int] = []

    async def watched(password: str) -> str:
        writes_open.append(env.app.state.db.primary.pool.checkedout())
        return str(await hash_password(password))

    monkeypatch.setattr(hasher, "hash", watched)

    response = await client.post(
        "/api/auth/register",
        json={"email": "hashed@example.com", "password": PASSWORD, "name": "Hal"},
    )

    assert response.status_code == 201, response.text
    assert writes_open == [0]
