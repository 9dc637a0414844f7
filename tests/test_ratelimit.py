from typing import Any

import pytest
from limits import parse

from kushfilms.errors import RateLimited
from kushfilms.ratelimit import RateLimiter


async def test_the_general_api_limit_applies_per_client(client_of_app: Any) -> None:
    limited = await client_of_app(rate_limit_api="3/minute")
    elsewhere = await limited._transport.app.state.client_of("198.51.100.20")

    statuses = [(await limited.get("/api/categories")).status_code for _ in range(3)]
    refused = await limited.get("/api/movies")
    health = await limited.get("/health")

    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert health.status_code == 200  # probes are not API calls
    assert (await elsewhere.get("/api/movies")).status_code == 200


async def test_an_unreachable_limit_store_lets_requests_through(client_of_app: Any) -> None:
    limited = await client_of_app(redis_url="redis://127.0.0.1:1/0", rate_limit_api="1/minute")

    statuses = [(await limited.get("/api/categories")).status_code for _ in range(3)]

    assert statuses == [200, 200, 200]


async def test_check_refuses_only_once_counted_hits_spend_the_limit() -> None:
    limiter = RateLimiter()
    limit = parse("2/minute")

    for _ in range(3):
        await limiter.check(limit, "failures", "a", message="Slow down.")  # counts nothing
    await limiter.count(limit, "failures", "a")
    await limiter.check(limit, "failures", "a", message="Slow down.")
    await limiter.count(limit, "failures", "a")

    with pytest.raises(RateLimited) as refused:
        await limiter.check(limit, "failures", "a", message="Slow down.")
    assert refused.value.detail.startswith("Slow down. Try again in ")
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 60
    await limiter.check(limit, "failures", "b", message="Slow down.")
