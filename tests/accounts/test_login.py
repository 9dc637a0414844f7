from typing import Any

import httpx
import pytest
from pwdlib.hashers.argon2 import Argon2Hasher

from tests.conftest import PASSWORD, bearer, register


async def test_login_returns_the_same_shape_as_register(client: httpx.AsyncClient) -> None:
    registered = await register(client, email="lin@example.com", name="Lin")

    response = await client.post(
        "/api/auth/login", json={"email": "LIN@example.com", "password": PASSWORD}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["user"] == registered["user"]
    assert body["token_type"] == "bearer"
    assert body["refresh_token"] != registered["refresh_token"]
    me = await client.get("/api/auth/me", headers=bearer(body["access_token"]))
    assert me.json()["email"] == "lin@example.com"


async def test_wrong_password_and_unknown_email_look_the_same(client: httpx.AsyncClient) -> None:
    await register(client, email="sam@example.com")

    wrong_password = await client.post(
        "/api/auth/login", json={"email": "sam@example.com", "password": "not-the-password"}
    )
    unknown_email = await client.post(
        "/api/auth/login", json={"email": "nobody@example.com", "password": "not-the-password"}
    )

    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.json() == unknown_email.json()
    assert wrong_password.json()["error"]["code"] == "invalid_credentials"
    assert wrong_password.headers["www-authenticate"] == "Bearer"


async def test_unknown_email_costs_one_password_verification_too(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Equal work on both paths is what makes their timing equal: one verification
    each, by the app's one hasher, against hashes of the same cost."""
    await register(client, email="kim@example.com")
    verified: list[tuple[Argon2Hasher, str]] = []
    real_verify = Argon2Hasher.verify

    def recording_verify(self: Argon2Hasher, password: str | bytes, hash: str | bytes) -> bool:
        verified.append((self, str(hash).split("$")[3]))  # m=…,t=…,p=…
        return real_verify(self, password, hash)

    monkeypatch.setattr(Argon2Hasher, "verify", recording_verify)

    await client.post("/api/auth/login", json={"email": "kim@example.com", "password": "nope-nope"})
    after_wrong_password = len(verified)
    await client.post("/api/auth/login", json={"email": "who@example.com", "password": "nope-nope"})

    assert after_wrong_password == 1
    [(known_by, known_cost), (unknown_by, unknown_cost)] = verified
    assert unknown_by is known_by
    assert unknown_cost == known_cost


async def test_login_is_limited_per_address_and_email(
    client: httpx.AsyncClient, client_from: Any
) -> None:
    await register(client, email="eve@example.com")
    attempt = {"email": "eve@example.com", "password": "guess-guess"}

    statuses = [(await client.post("/api/auth/login", json=attempt)).status_code for _ in range(5)]
    refused = await client.post("/api/auth/login", json=attempt)

    assert statuses == [401] * 5
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # The right password does not get through either while the limit holds.
    blocked = await client.post(
        "/api/auth/login", json={"email": "eve@example.com", "password": PASSWORD}
    )
    assert blocked.status_code == 429
    # Another email from the same address, and the same email from elsewhere, may try.
    other_email = await client.post(
        "/api/auth/login", json={"email": "zoe@example.com", "password": "guess-guess"}
    )
    assert other_email.status_code == 401
    elsewhere = await client_from("198.51.100.7").post(
        "/api/auth/login", json={"email": "eve@example.com", "password": PASSWORD}
    )
    assert elsewhere.status_code == 200


async def test_failed_sign_ins_are_limited_per_address_across_emails(
    client: httpx.AsyncClient, client_from: Any
) -> None:
    """Password spraying: one common password tried on many accounts from one address."""
    await register(client, email="real@example.com")

    statuses = [
        (
            await client.post(
                "/api/auth/login",
                json={"email": f"target-{n}@example.com", "password": "Summer2026!"},
            )
        ).status_code
        for n in range(30)
    ]
    right_password = await client.post(
        "/api/auth/login", json={"email": "real@example.com", "password": PASSWORD}
    )
    elsewhere = await client_from("198.51.100.7").post(
        "/api/auth/login", json={"email": "real@example.com", "password": PASSWORD}
    )

    assert statuses == [401] * 20 + [429] * 10
    assert right_password.status_code == 429
    assert right_password.json()["error"]["code"] == "rate_limited"
    assert "failed sign-ins from this address" in right_password.json()["error"]["message"]
    assert 1 <= int(right_password.headers["retry-after"]) <= 600
    assert elsewhere.status_code == 200


async def test_successful_sign_ins_do_not_count_as_failures(client_of_app: Any) -> None:
    limited = await client_of_app(rate_limit_login_failures_per_address="2/hour")
    await register(limited, email="often@example.com")
    right = {"email": "often@example.com", "password": PASSWORD}

    successes = [(await limited.post("/api/auth/login", json=right)).status_code for _ in range(4)]
    failures = [
        (
            await limited.post(
                "/api/auth/login", json={"email": f"who-{n}@example.com", "password": "nope-nope"}
            )
        ).status_code
        for n in range(3)
    ]

    assert successes == [200] * 4
    assert failures == [401, 401, 429]


async def test_registration_is_limited_per_address(client_of_app: Any) -> None:
    limited = await client_of_app(rate_limit_register="2/hour")
    for _ in range(2):
        await register(limited)

    response = await limited.post(
        "/api/auth/register",
        json={"email": "third@example.com", "password": PASSWORD, "name": "Third"},
    )

    assert response.status_code == 429
    assert "retry-after" in response.headers


async def test_me_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/auth/me")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
