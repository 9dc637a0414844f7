"""Rate limits on the ``limits`` library: in memory by default, in Redis at scale."""

import logging
import math
import time
from typing import Any

from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import (
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.aio.strategies import (
    RateLimiter as Strategy,
)
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from kushfilms.errors import RateLimited, error_json

log = logging.getLogger(__name__)


class RateLimiter:
    def __init__(self, redis_url: str = "", *, key_prefix: str = "kf-limits") -> None:
        self.storage: Storage
        if redis_url:
            self.storage = RedisStorage(
                f"async+{redis_url}", implementation="redispy", key_prefix=key_prefix
            )
        else:
            self.storage = MemoryStorage()
        # Exact windows for the small limits on sign-in; a constant-cost
        # approximation for the general limit that every request pays.
        self._exact = MovingWindowRateLimiter(self.storage)
        self._approximate = SlidingWindowCounterRateLimiter(self.storage)

    async def retry_after(
        self, limit: RateLimitItem, *identifiers: str, exact: bool = True
    ) -> int | None:
        """Count one hit; None when allowed, else the seconds until one is allowed.

        When the store cannot be reached the request is let through: losing
        the limits for a while is better than refusing every viewer.
        """
        strategy: Strategy = self._exact if exact else self._approximate
        try:
            if await strategy.hit(limit, *identifiers):
                return None
            return await self._wait(strategy, limit, identifiers)
        except Exception:
            log.exception("rate limit store unavailable; letting the request through")
            return None

    async def enforce(self, limit: RateLimitItem, *identifiers: str, message: str) -> None:
        wait = await self.retry_after(limit, *identifiers)
        if wait is not None:
            raise RateLimited(f"{message} Try again in {wait} seconds.", retry_after=wait)

    async def check(self, limit: RateLimitItem, *identifiers: str, message: str) -> None:
        """Refuse when ``limit`` is spent, without counting a hit: with ``count``, for
        limits on some outcomes only (failed sign-ins, say), counted once known."""
        try:
            if await self._exact.test(limit, *identifiers):
                return
            wait = await self._wait(self._exact, limit, identifiers)
        except Exception:
            log.exception("rate limit store unavailable; letting the request through")
            return
        raise RateLimited(f"{message} Try again in {wait} seconds.", retry_after=wait)

    async def count(self, limit: RateLimitItem, *identifiers: str) -> None:
        """Count one hit against ``limit`` (see ``check``)."""
        try:
            await self._exact.hit(limit, *identifiers)
        except Exception:
            log.exception("rate limit store unavailable; a hit goes uncounted")

    @staticmethod
    async def _wait(strategy: Strategy, limit: RateLimitItem, identifiers: tuple[str, ...]) -> int:
        """The seconds until ``limit`` allows a hit again."""
        stats = await strategy.get_window_stats(limit, *identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def reset(self) -> None:
        await self.storage.reset()

    async def close(self) -> None:
        if isinstance(self.storage, RedisStorage):
            # limits has no public close; the redis-py client it holds does.
            client: Any = self.storage.bridge.storage  # type: ignore[attr-defined]
            await client.aclose()


def client_ip(request: Request) -> str:
    # uvicorn has already replaced this with the forwarded address when the
    # peer is a trusted proxy (KF_FORWARDED_ALLOW_IPS).
    return request.client.host if request.client else "unknown"


class ApiRateLimitMiddleware:
    """The general per-client limit on every ``/api/`` request but the ``exempt`` ones.

    Resumable uploads are exempt: an administrator's film arrives in thousands
    of chunks, each one an API request.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RateLimiter,
        limit: RateLimitItem,
        exempt: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.limit = limit
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/") or path.startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        wait = await self.limiter.retry_after(
            self.limit, "api", client[0] if client else "unknown", exact=False
        )
        if wait is None:
            await self.app(scope, receive, send)
            return
        response = error_json(
            429, "rate_limited", f"Too many requests. Try again in {wait} seconds."
        )
        response.headers["Retry-After"] = str(wait)
        await response(scope, receive, send)
