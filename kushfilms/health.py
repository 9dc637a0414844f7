"""Liveness and readiness probes for load balancers and orchestrators."""

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kushfilms.db import Database
from kushfilms.errors import error_responses
from kushfilms.kit.clock import utcnow

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])
CHECK_TIMEOUT = 3.0


class Liveness(BaseModel):
    status: str
    timestamp: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@router.get("/health", summary="The process is up")
async def health() -> Liveness:
    return Liveness(status="ok", timestamp=utcnow().isoformat())


@router.get(
    "/health/ready",
    response_model=Readiness,
    responses=error_responses(503),
    summary="The database (and Redis, when configured) answer",
)
async def ready(request: Request) -> JSONResponse:
    db: Database = request.app.state.db
    checks = {"database": _check_database(db.primary)}
    if db.replica is not db.primary_reads:
        checks["database_replica"] = _check_database(db.replica)
    redis: Redis | None = request.app.state.redis
    if redis is not None:
        checks["redis"] = _check_redis(redis)
    results = dict(zip(checks, await asyncio.gather(*checks.values()), strict=True))
    failed = {name: outcome for name, outcome in results.items() if outcome != "ok"}
    if not failed:
        return JSONResponse({"status": "ready", "checks": results})
    message = "; ".join(f"{name}: {outcome}" for name, outcome in failed.items())
    body: dict[str, Any] = {
        "status": "not ready",
        "checks": results,
        "error": {"code": "not_ready", "message": f"Not ready: {message}"},
    }
    return JSONResponse(body, status_code=503)


async def _check_database(engine: AsyncEngine) -> str:
    async def probe() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    return await _outcome(probe())


async def _check_redis(redis: Redis) -> str:
    async def probe() -> None:
        await redis.ping()

    return await _outcome(probe())


async def _outcome(probe: Any) -> str:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT:g} s"
    except Exception as error:
        log.warning("readiness check failed", exc_info=error)
        return f"error: {type(error).__name__}"
    return "ok"
