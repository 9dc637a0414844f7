import asyncio
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kushfilms.kit.cache import Generation, PublicCacheMiddleware, ResponseCache


class Origin:
    """A tiny application that counts how often it is really asked."""

    def __init__(self) -> None:
        self.calls = 0
        self.status = 200
        self.delay = 0.0
        self.body: dict[str, Any] = {"version": 1}

    async def endpoint(self, request: Request) -> JSONResponse:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return JSONResponse({**self.body, "path": request.url.path}, status_code=self.status)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def origin() -> Origin:
    return Origin()


@pytest.fixture
def generation() -> Generation:
    return Generation()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def middleware(origin: Origin, generation: Generation, clock: Clock) -> PublicCacheMiddleware:
    app = Starlette(
        routes=[
            Route("/public/{name}", origin.endpoint, methods=["GET", "POST"]),
            Route("/private", origin.endpoint),
        ]
    )
    cache = ResponseCache(seconds=10, generation=generation, max_entries=3, max_body_bytes=200)
    wrapped = PublicCacheMiddleware(app, cache=cache, paths=[r"/public/[^/]+"])
    wrapped.clock = clock
    return wrapped


@pytest.fixture
async def http(middleware: PublicCacheMiddleware) -> Any:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=middleware), base_url="http://cache"
    ) as client:
        yield client


async def test_a_fresh_answer_is_reused(http: httpx.AsyncClient, origin: Origin) -> None:
    first = await http.get("/public/a")
    origin.body = {"version": 2}
    second = await http.get("/public/a")

    assert origin.calls == 1
    assert second.json() == first.json() == {"version": 1, "path": "/public/a"}
    assert second.headers["etag"] == first.headers["etag"]
    assert second.headers["content-length"] == str(len(second.content))


async def test_query_strings_are_part_of_the_key(http: httpx.AsyncClient, origin: Origin) -> None:
    await http.get("/public/a?page=1")
    await http.get("/public/a?page=2")

    assert origin.calls == 2


async def test_only_anonymous_gets_of_listed_paths_are_cached(
    http: httpx.AsyncClient, origin: Origin
) -> None:
    await http.get("/public/a")
    await http.get("/public/a", headers={"Authorization": "Bearer x"})
    await http.get("/private")
    await http.get("/private")
    await http.post("/public/a")

    assert origin.calls == 5


async def test_errors_are_not_cached(http: httpx.AsyncClient, origin: Origin) -> None:
    origin.status = 404
    await http.get("/public/a")
    await http.get("/public/a")

    assert origin.calls == 2


async def test_a_stale_answer_is_served_while_it_is_refreshed(
    http: httpx.AsyncClient, origin: Origin, clock: Clock, middleware: PublicCacheMiddleware
) -> None:
    await http.get("/public/a")
    origin.body = {"version": 2}
    clock.now += 11  # stale, but within the grace period

    stale = await http.get("/public/a")
    await asyncio.gather(*middleware.refreshing)
    refreshed = await http.get("/public/a")

    assert stale.json()["version"] == 1
    assert refreshed.json()["version"] == 2
    assert origin.calls == 2


async def test_a_long_expired_answer_is_not_served(
    http: httpx.AsyncClient, origin: Origin, clock: Clock
) -> None:
    await http.get("/public/a")
    origin.body = {"version": 2}
    clock.now += 21

    assert (await http.get("/public/a")).json()["version"] == 2


async def test_a_new_generation_drops_old_answers(
    http: httpx.AsyncClient, origin: Origin, generation: Generation
) -> None:
    await http.get("/public/a")
    origin.body = {"version": 2}
    generation.advance()

    assert (await http.get("/public/a")).json()["version"] == 2


async def test_an_answer_computed_across_a_change_is_not_kept(
    http: httpx.AsyncClient, origin: Origin, generation: Generation
) -> None:
    origin.delay = 0.05
    pending = asyncio.ensure_future(http.get("/public/a"))
    await asyncio.sleep(0.01)
    generation.advance()  # the data changed while the answer was being computed
    await pending
    origin.delay = 0

    await http.get("/public/a")

    assert origin.calls == 2


async def test_concurrent_misses_ask_once(http: httpx.AsyncClient, origin: Origin) -> None:
    origin.delay = 0.05

    answers = await asyncio.gather(*(http.get("/public/a") for _ in range(5)))

    assert origin.calls == 1
    assert {a.status_code for a in answers} == {200}


async def test_size_limits(http: httpx.AsyncClient, origin: Origin) -> None:
    for name in "abcd":
        await http.get(f"/public/{name}")
    await http.get("/public/a")  # evicted: only three entries are kept
    origin.body = {"version": "x" * 300}  # larger than an entry may be
    await http.get("/public/big")
    await http.get("/public/big")

    assert origin.calls == 7


async def test_conditional_requests(http: httpx.AsyncClient) -> None:
    etag = (await http.get("/public/a")).headers["etag"]

    not_modified = await http.get("/public/a", headers={"If-None-Match": etag})

    assert not_modified.status_code == 304
    assert not_modified.headers["etag"] == etag


async def test_requests_with_a_session_cookie_are_not_cached(
    origin: Origin, generation: Generation, clock: Clock
) -> None:
    app = Starlette(routes=[Route("/public/{name}", origin.endpoint)])
    cache = ResponseCache(seconds=10, generation=generation)
    wrapped = PublicCacheMiddleware(
        app, cache=cache, paths=[r"/public/[^/]+"], credential_cookies=["kf_session"]
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=wrapped), base_url="http://cache"
    ) as http:
        await http.get("/public/a", headers={"Cookie": "theme=dark"})
        await http.get("/public/a", headers={"Cookie": "theme=dark"})  # from the cache
        await http.get("/public/a", headers={"Cookie": "theme=dark; kf_session=abc"})
        await http.get("/public/a", headers={"Cookie": "kf_session=abc"})

    assert origin.calls == 3


async def test_credentials_it_is_told_to_share_with_are_served_from_the_cache(
    origin: Origin, generation: Generation
) -> None:
    app = Starlette(routes=[Route("/public/{name}", origin.endpoint)])
    cache = ResponseCache(seconds=10, generation=generation)
    wrapped = PublicCacheMiddleware(
        app,
        cache=cache,
        paths=[r"/public/[^/]+"],
        credential_cookies=["kf_session"],
        shares_public=lambda header: header == b"Bearer viewer",
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=wrapped), base_url="http://cache"
    ) as http:
        await http.get("/public/a", headers={"Authorization": "Bearer viewer"})
        anonymous = await http.get("/public/a")  # from the cache the viewer filled
        await http.get("/public/a", headers={"Authorization": "Bearer viewer"})  # cached
        await http.get("/public/a", headers={"Authorization": "Bearer admin"})
        await http.get(
            "/public/a", headers={"Authorization": "Bearer viewer", "Cookie": "kf_session=x"}
        )

    assert origin.calls == 3
    assert anonymous.headers["cache-control"] == "public, max-age=10"


async def test_an_outage_is_answered_with_the_kept_copy(
    http: httpx.AsyncClient, origin: Origin, clock: Clock
) -> None:
    await http.get("/public/a")
    clock.now += 300  # long expired, but kept for outages (600 s)
    origin.status = 503
    origin.body = {"error": "down"}

    during = await http.get("/public/a")
    never_cached = await http.get("/public/b")

    assert during.status_code == 200
    assert during.json() == {"version": 1, "path": "/public/a"}
    assert never_cached.status_code == 503


async def test_the_outage_copy_is_kept_for_a_while_only(
    http: httpx.AsyncClient, origin: Origin, clock: Clock
) -> None:
    await http.get("/public/a")
    clock.now += 601
    origin.status = 503

    assert (await http.get("/public/a")).status_code == 503


async def test_a_change_drops_the_outage_copy(
    http: httpx.AsyncClient, origin: Origin, generation: Generation
) -> None:
    await http.get("/public/a")
    generation.advance()
    origin.status = 503

    assert (await http.get("/public/a")).status_code == 503
