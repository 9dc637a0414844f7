"""The application's state: what ``create_app`` sets up once and every request shares.

One typed value, so that code holding a request reads ``app_state(request).limiter``
with its type rather than an untyped attribute of Starlette's ``app.state``. Its
fields are also set on ``app.state`` under the same names, for middleware and
tests that hold only the app.
"""

from dataclasses import dataclass, fields

from fastapi import FastAPI, Request
from redis.asyncio import Redis

from kushfilms.accounts.passwords import PasswordHasher
from kushfilms.accounts.tokens import TokenConfig
from kushfilms.billing.stripe_provider import StripeProvider
from kushfilms.catalog.view_counter import ViewCounter
from kushfilms.config import Settings
from kushfilms.db import Database
from kushfilms.kit.cache import ResponseCache
from kushfilms.media.delivery.access import AccessChecks
from kushfilms.media.storage import Storage
from kushfilms.ratelimit import RateLimiter
from kushfilms.worker.outbox import OutboxRelay
from kushfilms.worker.queue import Jobs

_KEY = "kushfilms"


@dataclass(frozen=True, slots=True)
class AppState:
    settings: Settings
    db: Database
    limiter: RateLimiter
    redis: Redis | None  # None without KF_REDIS_URL
    tokens: TokenConfig
    password_hasher: PasswordHasher
    views: ViewCounter  # plays counted in memory, written in batches
    playback_checks: AccessChecks
    storage: Storage
    jobs: Jobs
    relay: OutboxRelay  # sends the jobs that committed transactions queued
    stripe: StripeProvider | None  # None: the local checkout sells the plans
    cache: ResponseCache  # anonymous callers' answers


def install_state(app: FastAPI, state: AppState) -> None:
    setattr(app.state, _KEY, state)
    for field in fields(state):
        setattr(app.state, field.name, getattr(state, field.name))


def app_state(request: Request) -> AppState:
    state: AppState = getattr(request.app.state, _KEY)
    return state
