"""Liveness and readiness probes for load balancers and orchestrators.

Readiness checks the database (and its replica, and Redis, when configured), that
its schema is at the head revision of the migrations this code ships with, and
whether a job worker is alive: one whose heartbeat was seen lately. When this
server runs its own worker (KF_WORKER_IN_SERVE, the default), a dead one makes
it not ready: uploads would never be transcoded nor emails sent, and its
supervisor is restarting it. When the workers run elsewhere, their absence is
reported in the checks but does not fail readiness: a load balancer would
otherwise take every web node out of service and the site down for viewers,
for a fault that web nodes cannot mend (alert on the check instead).
"""

import asyncio
import logging
from collections.abc import Awaitable
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
from kushfilms.migrations_state import PENDING, read_schema_state
from kushfilms.state import app_state
from kushfilms.worker import heartbeat

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
    summary="The database (and Redis, when configured) answer, its schema is at the head"
    " revision, and a job worker is alive (required when this server runs its own)",
)
async def ready(request: Request) -> JSONResponse:
    db = app_state(request).db
    checks = {
        "database": _check_database(db.primary),
        "schema": _check_schema(db.primary_reads),
        "worker": _check_worker(db),
    }
    if db.replica is not db.primary_reads:
        checks["database_replica"] = _check_database(db.replica)
    redis = app_state(request).redis
    if redis is not None:
        checks["redis"] = _check_redis(redis)
    results = dict(zip(checks, await asyncio.gather(*checks.values()), strict=True))
    settings = app_state(request).settings
    required = [name for name in results if name != "worker" or settings.worker_in_serve]
    failed = {name: results[name] for name in required if results[name] != "ok"}
    if not failed:
        return JSONResponse({"status": "ready", "checks": results})
    message = "; ".join(f"{name}: {outcome}" for name, outcome in failed.items())
    # The schema first: until it is migrated nothing else can come right.
    pending = failed.get("schema", "").startswith(PENDING)
    body: dict[str, Any] = {
        "status": "not ready",
        "checks": results,
        "error": {
            "code": "migrations_pending" if pending else "not_ready",
            "message": f"Not ready: {message}",
        },
    }
    return JSONResponse(body, status_code=503)


async def _check_database(engine: AsyncEngine) -> str:
    async def probe() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    return await _outcome(probe())


async def _check_schema(engine: AsyncEngine) -> str:
    async def probe() -> str | None:
        state = await read_schema_state(engine)
        return None if state.at_head else state.describe()

    return await _outcome(probe())


async def _check_worker(db: Database) -> str:
    async def probe() -> str:
        async with db.reader() as session:
            live = await heartbeat.live_workers(session, now=utcnow())
        if live:
            return "ok"
        seconds = heartbeat.LIVENESS_WINDOW.total_seconds()
        return f"no job worker seen in the last {seconds:g} s"

    return await _outcome(probe())


async def _check_redis(redis: Redis) -> str:
    async def probe() -> None:
        await redis.ping()

    return await _outcome(probe())


async def _outcome(probe: Awaitable[str | None]) -> str:
    """``ok``, or what went wrong: the probe's own word, a timeout or an error."""
    try:
        outcome = await asyncio.wait_for(probe, CHECK_TIMEOUT)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT:g} s"
    except Exception as error:
        log.warning("readiness check failed", exc_info=error)
        return f"error: {type(error).__name__}"
    return outcome or "ok"
