from typing import Any


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
