import base64
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import update

from kushfilms.accounts.deps import viewer_credentials
from kushfilms.accounts.tokens import (
    AccessClaims,
    TokenConfig,
    TokenError,
    issue_access_token,
    read_access_token,
)
from kushfilms.kit.clock import utcnow
from kushfilms.models import RefreshToken
from tests.conftest import Backend, bearer, register


def config_of(env: Backend) -> TokenConfig:
    return TokenConfig.from_settings(env.settings)


async def test_refresh_gives_a_new_pair_that_works(client: httpx.AsyncClient) -> None:
    session = await register(client)

    response = await client.post(
        "/api/auth/refresh", json={"refresh_token": session["refresh_token"]}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["refresh_token"] != session["refresh_token"]
    assert body["user"]["id"] == session["user"]["id"]
    me = await client.get("/api/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200


async def test_reusing_a_spent_refresh_token_signs_out_the_whole_session(
    client: httpx.AsyncClient,
) -> None:
    session = await register(client)
    first = session["refresh_token"]
    second = (await client.post("/api/auth/refresh", json={"refresh_token": first})).json()

    replay = await client.post("/api/auth/refresh", json={"refresh_token": first})

    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "refresh_token_reused"
    # The thief's replay revoked the legitimate successor too.
    successor = await client.post(
        "/api/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert successor.status_code == 401


async def test_reuse_does_not_touch_other_sessions(client: httpx.AsyncClient) -> None:
    phone = await register(client, email="two-devices@example.com")
    laptop = (
        await client.post(
            "/api/auth/login",
            json={"email": "two-devices@example.com", "password": "correct-horse-battery-staple"},
        )
    ).json()
    await client.post("/api/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    await client.post("/api/auth/refresh", json={"refresh_token": phone["refresh_token"]})

    response = await client.post(
        "/api/auth/refresh", json={"refresh_token": laptop["refresh_token"]}
    )

    assert response.status_code == 200


async def test_logout_revokes_the_refresh_token(client: httpx.AsyncClient) -> None:
    session = await register(client)

    logout = await client.post("/api/auth/logout", json={"refresh_token": session["refresh_token"]})
    refresh = await client.post(
        "/api/auth/refresh", json={"refresh_token": session["refresh_token"]}
    )

    assert logout.status_code == 204
    assert refresh.status_code == 401
    assert refresh.json()["error"]["code"] == "invalid_token"


async def test_logout_with_an_unknown_token_is_harmless(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/logout", json={"refresh_token": "never-issued"})

    assert response.status_code == 204


async def test_an_expired_refresh_token_is_refused(client: httpx.AsyncClient, env: Backend) -> None:
    session = await register(client)
    async with env.app.state.db.writer() as db:
        await db.execute(update(RefreshToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        await db.commit()

    response = await client.post(
        "/api/auth/refresh", json={"refresh_token": session["refresh_token"]}
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"


async def test_an_expired_access_token_is_refused(client: httpx.AsyncClient, env: Backend) -> None:
    session = await register(client)
    current = read_access_token(config_of(env), session["access_token"])
    stale = issue_access_token(
        config_of(env),
        current.user_id,
        session_id=current.session_id,
        now=utcnow() - timedelta(minutes=16),
    )

    response = await client.get("/api/auth/me", headers=bearer(stale))

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"


def _forge(claims: dict[str, Any], header: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        raw = base64.urlsafe_b64encode(json.dumps(data).encode()).decode()
        return raw.rstrip("=")

    return f"{part(header)}.{part(claims)}."


@pytest.mark.parametrize("forgery", ["tampered", "alg_none", "wrong_key", "not_a_jwt", "refresh"])
async def test_forged_access_tokens_are_refused(
    client: httpx.AsyncClient, env: Backend, forgery: str
) -> None:
    session = await register(client)
    token = session["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    if forgery == "tampered":
        header, _, signature = token.split(".")
        claims["sub"] = str(uuid.uuid4())
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        token = f"{header}.{body}.{signature}"
    elif forgery == "alg_none":
        token = _forge(claims, {"alg": "none", "typ": "JWT"})
    elif forgery == "wrong_key":
        token = jwt.encode(claims, "some-other-key-of-sufficient-length!!", algorithm="HS256")
    elif forgery == "not_a_jwt":
        token = "garbage"
    else:
        token = session["refresh_token"]

    response = await client.get("/api/auth/me", headers=bearer(token))

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


async def test_a_token_outlives_no_deleted_account(client: httpx.AsyncClient, env: Backend) -> None:
    token = issue_access_token(config_of(env), uuid.uuid4(), session_id=uuid.uuid4(), now=utcnow())

    response = await client.get("/api/auth/me", headers=bearer(token))

    assert response.status_code == 401
    assert "no longer exists" in response.json()["error"]["message"]


def test_tokens_from_another_purpose_or_issuer_are_refused() -> None:
    config = TokenConfig(b"k" * 32, timedelta(minutes=15), timedelta(days=30))
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    now = utcnow()
    good = issue_access_token(config, user_id, session_id=session_id, now=now)
    claims = jwt.decode(good, config.key, algorithms=["HS256"], issuer="kushfilms")
    assert read_access_token(config, good) == AccessClaims(
        user_id, session_id, expires_at=claims["exp"]
    )

    for changed in (
        {"typ": "refresh"},
        {"iss": "someone-else"},
        {"sub": "not-a-uuid"},
        {"sid": "not-a-uuid"},
        {"sid": 7},
    ):
        token = jwt.encode({**claims, **changed}, config.key, algorithm="HS256")
        with pytest.raises(TokenError):
            read_access_token(config, token)
    for missing in ("exp", "sid"):
        without = {k: v for k, v in claims.items() if k != missing}
        with pytest.raises(TokenError):
            read_access_token(config, jwt.encode(without, config.key, algorithm="HS256"))


def test_the_cache_shares_with_a_valid_viewers_token_only() -> None:
    config = TokenConfig(
        key=b"k" * 40, access_ttl=timedelta(minutes=15), refresh_ttl=timedelta(days=1)
    )
    now = utcnow()
    user, session = uuid.uuid4(), uuid.uuid4()
    viewer = issue_access_token(config, user, session_id=session, now=now, role="USER")
    admin = issue_access_token(config, user, session_id=session, now=now, role="ADMIN")
    unmarked = issue_access_token(config, user, session_id=session, now=now)
    long_ago = now - timedelta(minutes=16)
    expired = issue_access_token(config, user, session_id=session, now=long_ago, role="USER")
    shares = viewer_credentials(config)

    assert shares(f"Bearer {viewer}".encode())
    assert shares(f"Bearer {viewer}".encode())  # remembered
    assert not shares(f"Bearer {admin}".encode())
    assert not shares(f"Bearer {unmarked}".encode())  # made before roles were carried
    assert not shares(f"Bearer {viewer[:-3]}xyz".encode())
    assert not shares(f"Basic {viewer}".encode())
    assert not shares(f"Bearer {expired}".encode())
