"""One refresh token, many hands at once: exactly one rotation wins."""

import asyncio
from typing import Any

import httpx

from tests.conftest import bearer, register

RACERS = 10


async def test_simultaneous_refreshes_of_one_token_fork_no_session(
    client: httpx.AsyncClient, client_from: Any
) -> None:
    """Ten clients present the same refresh token at the same moment. One rotation
    may win; every other is a reuse, which signs the whole session out, so the
    winner's new tokens end too and no parallel session survives.

    Fails on PostgreSQL without an atomic claim: each request read the token as
    unused before any had marked it. SQLite's single writer serialises them."""
    session = await register(client)
    racers = [client_from(f"198.51.100.{n}") for n in range(1, RACERS + 1)]

    responses = await asyncio.gather(
        *(
            racer.post("/api/auth/refresh", json={"refresh_token": session["refresh_token"]})
            for racer in racers
        )
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [401] * (RACERS - 1), [r.text for r in responses]
    refused = [r.json()["error"]["code"] for r in responses if r.status_code == 401]
    assert refused == ["refresh_token_reused"] * (RACERS - 1)
    (winner,) = [r.json() for r in responses if r.status_code == 200]
    after = await client.post("/api/auth/refresh", json={"refresh_token": winner["refresh_token"]})
    assert after.status_code == 401
    signed_out = await client.get("/api/auth/me", headers=bearer(winner["access_token"]))
    assert signed_out.status_code == 401


async def test_a_sign_out_racing_a_refresh_leaves_no_session(
    client: httpx.AsyncClient, client_from: Any
) -> None:
    """Each of ten sessions is refreshed and signed out at the same moment. Whichever
    comes first, the session ends: a refresh that wins hands out tokens that the
    sign-out then ends too.

    Fails on PostgreSQL when the sign-out's revocation cannot see the token that
    a refresh in flight is adding. SQLite's single writer serialises them."""
    sessions = [await register(client) for _ in range(RACERS)]
    phone, laptop = client_from("198.51.100.1"), client_from("198.51.100.2")

    async def race(session: dict[str, Any]) -> httpx.Response:
        token = {"refresh_token": session["refresh_token"]}
        refreshed, _ = await asyncio.gather(
            phone.post("/api/auth/refresh", json=token),
            laptop.post("/api/auth/logout", json=token),
        )
        return refreshed

    refreshes = await asyncio.gather(*(race(session) for session in sessions))

    for refreshed in refreshes:
        if refreshed.status_code != 200:
            continue
        new = refreshed.json()
        me = await client.get("/api/auth/me", headers=bearer(new["access_token"]))
        again = await client.post("/api/auth/refresh", json={"refresh_token": new["refresh_token"]})
        assert (me.status_code, again.status_code) == (401, 401)
