"""A short-lived cache of public GET responses, in front of the application.

Anonymous catalogue reads are the same for every viewer, so one answer serves
them all for a while, as a CDN would:

- An entry is fresh for ``seconds``; after that it is served stale for as long
  again while a background request refreshes it (stale-while-revalidate), so
  no viewer waits for the database because an entry aged. Only a couple of
  refreshes run at once, so an aging cache never floods the database.
- An entry is dropped at once when this process changes the data it came from
  (its :class:`Generation` moves on). Changes made by other processes show
  once the entry ages out.
- While the application answers 503 (its database is down), the last copy of
  an answer is served instead, for up to ``outage_seconds`` after it was made
  (stale-if-error): anonymous viewers keep browsing through an outage.
- Concurrent misses for one URL make one request to the application.
- Requests that carry credentials (an Authorization header, or a session
  cookie), and every method but GET, pass straight by; except that a caller
  whose credentials ``shares_public`` accepts is served from the cache too: the
  application must then answer them exactly as it answers anyone (a viewer's
  bearer token, where only administrators see more), since what their request
  fills the cache with is served to everyone.
"""

import asyncio
import hashlib
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)


class Generation:
    """A counter that moves on whenever the data behind cached responses changes."""

    def __init__(self) -> None:
        self.value = 0

    def advance(self) -> None:
        self.value += 1


@dataclass(frozen=True, slots=True)
class Entry:
    generation: int
    fresh_until: float
    stale_until: float
    kept_until: float  # served in place of a 503 until then
    headers: list[tuple[bytes, bytes]]
    body: bytes
    etag: bytes


@dataclass
class ResponseCache:
    seconds: float
    generation: Generation
    max_entries: int = 4096
    max_body_bytes: int = 512 * 1024
    # Background refreshes at once; more would compete with viewers for the
    # database. A stale entry not refreshed now is refreshed by a later hit.
    max_refreshes: int = 2
    # How long an answer stays to stand in for the application while it is down.
    outage_seconds: float = 600.0
    entries: OrderedDict[bytes, Entry] = field(default_factory=OrderedDict)

    def get(self, key: bytes, now: float) -> Entry | None:
        """A servable entry (fresh or stale), or None."""
        entry = self._kept(key, now)
        if entry is None or entry.stale_until <= now:
            return None
        self.entries.move_to_end(key)
        return entry

    def fallback(self, key: bytes, now: float) -> Entry | None:
        """The entry to serve when the application is unavailable, however stale."""
        return self._kept(key, now)

    def _kept(self, key: bytes, now: float) -> Entry | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if entry.kept_until <= now or entry.generation != self.generation.value:
            del self.entries[key]
            return None
        return entry

    def put(self, key: bytes, entry: Entry) -> None:
        if len(entry.body) > self.max_body_bytes or entry.generation != self.generation.value:
            return
        self.entries[key] = entry
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)

    def clear(self) -> None:
        self.entries.clear()


# Headers that belong to one response, not to the cached document.
_PER_RESPONSE = {b"content-length", b"date", b"set-cookie", b"etag", b"cache-control"}


class PublicCacheMiddleware:
    """Serve anonymous GETs of the given path patterns from a :class:`ResponseCache`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        cache: ResponseCache,
        paths: Iterable[str],
        credential_cookies: Iterable[str] = (),
        shares_public: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.app = app
        self.cache = cache
        self.shares_public = shares_public
        self.credential_cookies = tuple(f"{name}=".encode() for name in credential_cookies)
        self.pattern = re.compile("|".join(f"(?:{path})" for path in paths))
        self.clock: Callable[[], float] = time.monotonic
        self.inflight: dict[bytes, asyncio.Future[Entry | None]] = {}
        self.refreshing: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._cacheable(scope):
            await self.app(scope, receive, send)
            return
        key = scope["path"].encode() + b"?" + scope["query_string"]
        now = self.clock()
        entry = self.cache.get(key, now)
        if entry is None and key in self.inflight:
            entry = await asyncio.shield(self.inflight[key])
        if entry is None:
            await self._fill(key, dict(scope), receive, send)
            return
        if (
            entry.fresh_until <= now
            and key not in self.inflight
            and len(self.refreshing) < self.cache.max_refreshes
        ):
            self._refresh_later(key, dict(scope))
        await self._send(entry, _if_none_match(scope), send)

    def _cacheable(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "GET" or self.cache.seconds <= 0:
            return False
        if not self.pattern.fullmatch(scope["path"]):
            return False
        for name, value in scope["headers"]:
            if name == b"authorization" and (
                self.shares_public is None or not self.shares_public(value)
            ):
                return False
            if name == b"cookie" and any(c in value for c in self.credential_cookies):
                return False
        return True

    async def _fill(self, key: bytes, scope: Scope, receive: Receive, send: Send) -> Entry | None:
        """Ask the application, answer the client, and keep a 200 answer; answer a 503
        with the copy kept for outages, when there is one."""
        waiting: asyncio.Future[Entry | None] = asyncio.get_running_loop().create_future()
        self.inflight[key] = waiting
        generation = self.cache.generation.value
        held: Message | None = None
        chunks: list[bytes] = []
        entry = None
        replaced = False

        async def capture(message: Message) -> None:
            nonlocal held, entry, replaced
            if message["type"] == "http.response.start" and message["status"] == 200:
                held = message  # sent once the whole body is known, with its ETag
                return
            if message["type"] == "http.response.start" and message["status"] == 503:
                entry = self.cache.fallback(key, self.clock())
                if entry is not None:
                    replaced = True
                    log.info(
                        "the application is unavailable; served the kept %s",
                        key.decode(errors="replace"),
                    )
                    await self._send(entry, _if_none_match(scope), send)
                    return
            if replaced:
                return  # the rest of the 503, answered by the kept copy
            if held is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            entry = self._entry(generation, held, b"".join(chunks))
            self.cache.put(key, entry)
            await self._send(entry, _if_none_match(scope), send)

        try:
            await self.app(scope, receive, capture)
        finally:
            if self.inflight.get(key) is waiting:
                del self.inflight[key]
            waiting.set_result(entry)
        return entry

    def _refresh_later(self, key: bytes, scope: Scope) -> None:
        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def discard(_: Message) -> None:
            return None

        async def refresh() -> None:
            try:
                await self._fill(key, scope, receive, discard)
            except Exception:
                log.exception("refreshing the cached %s failed", key.decode(errors="replace"))

        task = asyncio.get_running_loop().create_task(refresh())
        self.refreshing.add(task)
        task.add_done_callback(self.refreshing.discard)

    def _entry(self, generation: int, start: Message, body: bytes) -> Entry:
        now = self.clock()
        return Entry(
            generation=generation,
            fresh_until=now + self.cache.seconds,
            stale_until=now + 2 * self.cache.seconds,
            kept_until=now + max(2 * self.cache.seconds, self.cache.outage_seconds),
            headers=[
                (name, value)
                for name, value in start.get("headers", [])
                if name.lower() not in _PER_RESPONSE
            ],
            body=body,
            etag=b'"' + hashlib.blake2b(body, digest_size=12).hexdigest().encode() + b'"',
        )

    async def _send(self, entry: Entry, if_none_match: bytes | None, send: Send) -> None:
        headers = [
            *entry.headers,
            (b"etag", entry.etag),
            (b"cache-control", f"public, max-age={int(self.cache.seconds)}".encode()),
        ]
        if if_none_match == entry.etag:
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers.append((b"content-length", str(len(entry.body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": entry.body})


def _if_none_match(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            return bytes(value)
    return None
