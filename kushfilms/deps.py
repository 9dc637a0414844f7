"""Typed dependencies shared by the API routes and the pages: the settings and the
collaborators that ``create_app`` sets up once (:class:`kushfilms.state.AppState`).

A domain with dependencies of its own keeps them in its ``deps.py``; pages take
theirs from here or from there, never from an API route module.
"""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Query, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.config import Settings
from kushfilms.db import transaction
from kushfilms.kit.pagination import MAX_PAGE_SIZE, PageRequest
from kushfilms.media.storage import Storage
from kushfilms.ratelimit import RateLimiter
from kushfilms.state import app_state
from kushfilms.worker.queue import Jobs


def settings_of(request: Request) -> Settings:
    """The application's settings, for code that holds the request."""
    return app_state(request).settings


# Dependencies are coroutines: FastAPI runs plain functions in a thread pool.
async def _settings(request: Request) -> Settings:
    return app_state(request).settings


async def _storage(request: Request) -> Storage:
    return app_state(request).storage


async def _jobs(request: Request) -> Jobs:
    return app_state(request).jobs


async def _limiter(request: Request) -> RateLimiter:
    return app_state(request).limiter


async def _redis(request: Request) -> Redis | None:
    return app_state(request).redis


AppSettings = Annotated[Settings, Depends(_settings)]
MediaStorage = Annotated[Storage, Depends(_storage)]
JobQueue = Annotated[Jobs, Depends(_jobs)]
Limiter = Annotated[RateLimiter, Depends(_limiter)]
RedisClient = Annotated[Redis | None, Depends(_redis)]  # None without KF_REDIS_URL


async def _write_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with transaction(app_state(request).db.writer) as session:
        yield session


async def _read_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with app_state(request).db.reader() as session:
        yield session


async def _replica_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with app_state(request).db.replica_reader() as session:
        yield session


# scope="function": the transaction ends before the response is sent, so a
# failed commit becomes an error response rather than a silent loss.
DbSession = Annotated[AsyncSession, Depends(_write_session, scope="function")]
ReadSession = Annotated[AsyncSession, Depends(_read_session, scope="function")]
ReplicaSession = Annotated[AsyncSession, Depends(_replica_session, scope="function")]


async def _page_request(
    page: Annotated[int, Query(ge=1, le=100_000, description="1-based page number")] = 1,
    page_size: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page (at most 100)")
    ] = 20,
) -> PageRequest:
    return PageRequest(page=page, page_size=page_size)


PageQuery = Annotated[PageRequest, Depends(_page_request)]
