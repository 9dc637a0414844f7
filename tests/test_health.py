from typing import Any

import httpx

from tests.conftest import Backend


async def test_liveness(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_readiness_checks_what_is_configured(client: httpx.AsyncClient, env: Backend) -> None:
    response = await client.get("/health/ready")

    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    assert ("redis" in checks) == bool(env.settings.redis_url)


async def test_readiness_names_a_failed_redis(client_of_app: Any) -> None:
    broken = await client_of_app(redis_url="redis://127.0.0.1:1/0")

    response = await broken.get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")
    assert body["error"]["code"] == "not_ready"
    assert "redis" in body["error"]["message"]


async def test_readiness_names_a_failed_database(client_of_app: Any, tmp_path: Any) -> None:
    broken = await client_of_app(database_url=f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/x.db")

    response = await broken.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("error")
    assert "database" in response.json()["error"]["message"]


async def test_readiness_checks_the_replica_too(client_of_app: Any, tmp_path: Any) -> None:
    broken = await client_of_app(
        database_read_url=f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/replica.db"
    )

    response = await broken.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "ok"
    assert response.json()["checks"]["database_replica"].startswith("error")
