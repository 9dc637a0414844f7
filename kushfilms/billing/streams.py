"""Simultaneous streams: which of a viewer's devices are playing, within their plan's limit.

Each playback opens a stream session for the viewer's device; the player's
progress reports are its heartbeats. A session lapses ``stream_idle_seconds``
after its last heartbeat, and a device whose session lapsed may start again only
if a slot is free. The same device opening another film keeps its place.

Two registries behind one interface: Redis when ``KF_REDIS_URL`` is set (a
sorted set of devices per viewer, scored by their last heartbeat, and a hash of
their details, changed by Lua scripts so that a check and its claim are one
step), else the database (``stream_sessions`` rows, one viewer's starts
serialised by a lock on their ``users`` row; on SQLite by the write
transaction itself).

A stream is known by its device and the moment it started: each playback start starts
it again, heartbeats carry it on. A closing page ends the stream it started, by that
moment, never one a newer page of the same browser (a reload, the next film) started.
"""

import json
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.accounts import device_names
from kushfilms.accounts.devices import LABEL_LENGTH, Device
from kushfilms.billing.service import entitlement_for
from kushfilms.catalog import service as catalog
from kushfilms.config import Settings
from kushfilms.errors import Conflict, NotFound
from kushfilms.kit.clock import utcnow
from kushfilms.models import AccessLevel, StreamSession, User

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Film:
    id: uuid.UUID
    title: str
    slug: str


@dataclass(frozen=True, slots=True)
class Stream:
    """A device's live stream session."""

    device_id: str
    label: str
    movie_id: uuid.UUID | None
    started_at: datetime
    last_seen_at: datetime
    movie: Film | None = None  # filled in for people by :func:`describe`
    name: str | None = None  # the viewer's name for the device, by :func:`describe`

    def as_json(self) -> dict[str, Any]:
        movie = self.movie
        return {
            "device_id": self.device_id,
            "label": self.label,
            "name": self.name,
            "movie": {"id": str(movie.id), "title": movie.title, "slug": movie.slug}
            if movie
            else None,
            "started_at": _iso(self.started_at),
            "last_seen_at": _iso(self.last_seen_at),
        }


# How near two starts of one device's stream must be to be the same start: a clock's
# reading kept in the database or in Redis comes back within microseconds of itself.
SAME_START = timedelta(milliseconds=1)


def _iso(moment: datetime) -> str:
    """As the API writes times: ISO 8601 in UTC, with a Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class TooManyStreams(Conflict):
    """The viewer's plan allows ``limit`` devices at once and ``devices`` are watching."""

    code = "too_many_streams"

    def __init__(self, devices: list[Stream], limit: int) -> None:
        count = len(devices)
        super().__init__(
            f"You are watching on {count} device{'s' if count != 1 else ''}, the most your"
            " plan allows. Stop watching on one of them to watch here.",
            limit=limit,
            active_devices=[device.as_json() for device in devices],
        )
        self.devices = devices
        self.limit = limit


class StreamNotFound(NotFound):
    code = "stream_not_found"
    message = "No device is watching under that id."


class StreamRegistry(Protocol):
    """Where stream sessions live. ``limit`` is how many the viewer's plan allows."""

    async def open(self, user: User, device: Device, *, movie_id: uuid.UUID, limit: int) -> Stream:
        """Start a stream (a device already playing keeps its place, its stream started
        again); TooManyStreams when the viewer's other devices hold every slot."""
        ...

    async def heartbeat(
        self, user: User, device: Device, *, movie_id: uuid.UUID, limit: int
    ) -> Stream:
        """Keep a device's stream alive; a lapsed one starts again only if a slot is free."""
        ...

    async def end(self, user: User, device_id: str, *, started_at: datetime | None = None) -> bool:
        """Stop a device's stream; False when it was not playing. With ``started_at``,
        only the stream that started then (within :data:`SAME_START`)."""
        ...

    async def active(self, user: User) -> list[Stream]:
        """The viewer's live streams, oldest first, with their films."""
        ...


async def stream_limit(session: AsyncSession, viewer: User, settings: Settings) -> int:
    """How many devices the viewer's plan lets play at once (every plan opens FREE films)."""
    return (await entitlement_for(session, viewer, AccessLevel.FREE, settings)).streams


async def keep_watching(
    session: AsyncSession,
    streams: StreamRegistry,
    *,
    viewer: User,
    device: Device,
    movie_id: uuid.UUID,
    settings: Settings,
) -> Stream:
    """A progress report's heartbeat, judged against the viewer's plan as it is now."""
    limit = await stream_limit(session, viewer, settings)
    return await streams.heartbeat(viewer, device, movie_id=movie_id, limit=limit)


async def describe(session: AsyncSession, user: User, streams: list[Stream]) -> list[Stream]:
    """The streams with their films' titles and slugs, and the names the viewer gave
    their devices."""
    ids = list({stream.movie_id for stream in streams if stream.movie_id})
    movies = await catalog.movies_by_id(session, ids)
    names = await device_names.names_of(session, user.id, (s.device_id for s in streams))
    described = []
    for stream in streams:
        movie = movies.get(stream.movie_id) if stream.movie_id else None
        film = Film(movie.id, movie.title, movie.slug) if movie else None
        described.append(replace(stream, movie=film, name=names.get(stream.device_id)))
    return described


async def _refusal(
    session: AsyncSession, user: User, live: list[Stream], limit: int
) -> TooManyStreams:
    return TooManyStreams(await describe(session, user, _oldest_first(live)), limit)


def _oldest_first(streams: list[Stream]) -> list[Stream]:
    return sorted(streams, key=lambda stream: stream.started_at)


class DatabaseStreams:
    """Stream sessions as ``stream_sessions`` rows, in the caller's write transaction."""

    def __init__(self, session: AsyncSession, *, idle_seconds: float) -> None:
        self.session = session
        self.idle = timedelta(seconds=idle_seconds)

    async def open(self, user: User, device: Device, *, movie_id: uuid.UUID, limit: int) -> Stream:
        return await self._claim(user, device, movie_id=movie_id, limit=limit, restart=True)

    async def heartbeat(
        self, user: User, device: Device, *, movie_id: uuid.UUID, limit: int
    ) -> Stream:
        return await self._claim(user, device, movie_id=movie_id, limit=limit, restart=False)

    async def _claim(
        self, user: User, device: Device, *, movie_id: uuid.UUID, limit: int, restart: bool
    ) -> Stream:
        now = utcnow()
        rows = await self._rows(user, lock=True)
        mine = next((row for row in rows if row.device_id == device.id), None)
        live = [row for row in rows if self._alive(row, now)]
        if mine is None or mine not in live:
            if len(live) >= limit:
                raise await _refusal(self.session, user, [_stream(row) for row in live], limit)
            for row in rows:  # lapsed sessions are forgotten when a new one starts
                if row not in live and row is not mine:
                    await self.session.delete(row)
            if mine is None:
                mine = StreamSession(user_id=user.id, device_id=device.id)
                self.session.add(mine)
            restart = True
        if restart:
            mine.started_at = now
        mine.movie_id = movie_id
        mine.label = device.label[:LABEL_LENGTH]
        mine.last_seen_at = now
        await self.session.flush()
        return _stream(mine)

    async def end(self, user: User, device_id: str, *, started_at: datetime | None = None) -> bool:
        # A page's own end waits for a start of the same device under way (the lock).
        rows = await self._rows(user, lock=started_at is not None)
        row = next((row for row in rows if row.device_id == device_id), None)
        if row is None:
            return False
        if started_at is not None and abs(row.started_at - started_at) >= SAME_START:
            return False
        await self.session.delete(row)
        await self.session.flush()
        return self._alive(row, utcnow())

    async def active(self, user: User) -> list[Stream]:
        now = utcnow()
        live = [_stream(row) for row in await self._rows(user) if self._alive(row, now)]
        return await describe(self.session, user, _oldest_first(live))

    def _alive(self, row: StreamSession, now: datetime) -> bool:
        return row.last_seen_at > now - self.idle

    async def _rows(self, user: User, *, lock: bool = False) -> list[StreamSession]:
        if lock:
            # One viewer's starts queue on their users row (PostgreSQL; SQLite's
            # write transaction already admits one writer at a time). NO KEY
            # UPDATE leaves other tables' foreign keys to the row unblocked.
            await self.session.execute(
                select(User.id).where(User.id == user.id).with_for_update(key_share=True)
            )
        found = await self.session.scalars(
            select(StreamSession).where(StreamSession.user_id == user.id)
        )
        return list(found)


def _stream(row: StreamSession) -> Stream:
    return Stream(row.device_id, row.label, row.movie_id, row.started_at, row.last_seen_at)


# Redis: per viewer, "kf-streams:{<user>}" (device -> last heartbeat, in seconds
# since the epoch by Redis' clock) and "kf-streams:{<user>}:info" (device -> JSON
# details). The braces keep both keys on one Redis Cluster slot for the scripts.
_PRUNE = """
-- Times as text to the microsecond (Lua's tostring keeps only 14 digits).
local function stamp(seconds) return string.format('%.6f', seconds) end
local live_key, info_key, idle = KEYS[1], KEYS[2], tonumber(ARGV[1])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local lapsed = redis.call('ZRANGEBYSCORE', live_key, '-inf', stamp(now - idle))
if #lapsed > 0 then
  redis.call('ZREM', live_key, unpack(lapsed))
  redis.call('HDEL', info_key, unpack(lapsed))
end
"""
# ARGV: idle seconds, device, limit, movie id, label, "1" to start the stream again
# -> {1, now, started}, or {0} when full
_CLAIM = (
    _PRUNE
    + """
local device, limit = ARGV[2], tonumber(ARGV[3])
local started = now
if redis.call('ZSCORE', live_key, device) then
  local info = redis.call('HGET', info_key, device)
  if info and ARGV[6] ~= '1' then started = tonumber(cjson.decode(info).started_at) end
elseif redis.call('ZCARD', live_key) >= limit then
  return {0}
end
redis.call('ZADD', live_key, stamp(now), device)
redis.call('HSET', info_key, device,
  cjson.encode({movie_id = ARGV[4], label = ARGV[5], started_at = stamp(started)}))
local ttl = math.ceil(idle * 2)
redis.call('EXPIRE', live_key, ttl)
redis.call('EXPIRE', info_key, ttl)
return {1, stamp(now), stamp(started)}
"""
)
# ARGV: idle seconds -> device, last heartbeat, details, device, ...
_LIVE = (
    _PRUNE
    + """
local entries = redis.call('ZRANGE', live_key, 0, -1, 'WITHSCORES')
local out = {}
for i = 1, #entries, 2 do
  out[#out + 1] = entries[i]
  out[#out + 1] = entries[i + 1]
  out[#out + 1] = redis.call('HGET', info_key, entries[i]) or '{}'
end
return out
"""
)
# ARGV: idle seconds, device, its stream's start or "" for any -> 1 when it was playing
_END = (
    _PRUNE
    + """
if ARGV[3] ~= '' then
  local info = redis.call('HGET', info_key, ARGV[2])
  local started = info and tonumber(cjson.decode(info).started_at)
  if not started or math.abs(started - tonumber(ARGV[3])) >= tonumber(ARGV[4]) then return 0 end
end
redis.call('HDEL', info_key, ARGV[2])
return redis.call('ZREM', live_key, ARGV[2])
"""
)


class RedisStreams:
    """Stream sessions in Redis, shared by every app process.

    When Redis cannot be reached, playback goes on unlimited rather than
    refusing every viewer (as the rate limits do).
    """

    def __init__(self, redis: Redis, session: AsyncSession, *, idle_seconds: float) -> None:
        self.session = session  # for the films' titles
        self.idle = idle_seconds
        self._claim = redis.register_script(_CLAIM)
        self._live = redis.register_script(_LIVE)
        self._end = redis.register_script(_END)

    async def open(self, user: User, device: Device, *, movie_id: uuid.UUID, limit: int) -> Stream:
        return await self._open(user, device, movie_id=movie_id, limit=limit, restart=True)

    async def heartbeat(
        self, user: User, device: Device, *, movie_id: uuid.UUID, limit: int
    ) -> Stream:
        return await self._open(user, device, movie_id=movie_id, limit=limit, restart=False)

    async def _open(
        self, user: User, device: Device, *, movie_id: uuid.UUID, limit: int, restart: bool
    ) -> Stream:
        label = device.label[:LABEL_LENGTH]
        args = (self.idle, device.id, limit, str(movie_id), label, "1" if restart else "0")
        try:
            reply = await self._claim(keys=self._keys(user), args=args)
        except RedisError:
            log.exception("stream registry unavailable; letting the stream start")
            now = utcnow()
            return Stream(device.id, label, movie_id, now, now)
        if not int(reply[0]):
            raise await _refusal(self.session, user, await self._streams(user), limit)
        now = _time(reply[1])
        return Stream(device.id, label, movie_id, _time(reply[2]), now)

    async def end(self, user: User, device_id: str, *, started_at: datetime | None = None) -> bool:
        started = f"{started_at.timestamp():.6f}" if started_at is not None else ""
        args = (self.idle, device_id, started, SAME_START.total_seconds())
        return bool(await self._end(keys=self._keys(user), args=args))

    async def active(self, user: User) -> list[Stream]:
        return await describe(self.session, user, _oldest_first(await self._streams(user)))

    async def _streams(self, user: User) -> list[Stream]:
        reply = await self._live(keys=self._keys(user), args=[self.idle])
        streams = []
        for at in range(0, len(reply), 3):
            info = json.loads(reply[at + 2])
            movie = info.get("movie_id")
            streams.append(
                Stream(
                    device_id=reply[at].decode(),
                    label=info.get("label", ""),
                    movie_id=uuid.UUID(movie) if movie else None,
                    started_at=_time(info.get("started_at") or reply[at + 1]),
                    last_seen_at=_time(reply[at + 1]),
                )
            )
        return streams

    @staticmethod
    def _keys(user: User) -> list[str]:
        live = f"kf-streams:{{{user.id}}}"
        return [live, f"{live}:info"]


def _time(seconds: bytes | str) -> datetime:
    value = seconds.decode() if isinstance(seconds, bytes) else seconds
    return datetime.fromtimestamp(float(value), UTC)


def stream_registry(
    session: AsyncSession, *, redis: Redis | None, idle_seconds: float
) -> StreamRegistry:
    """Redis when configured, else the database; ``session`` is a write transaction."""
    if redis is not None:
        return RedisStreams(redis, session, idle_seconds=idle_seconds)
    return DatabaseStreams(session, idle_seconds=idle_seconds)
