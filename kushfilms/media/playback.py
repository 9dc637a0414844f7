"""Playback: who may watch what, signed media URLs, and the playlists behind them.

Media URLs look like ``/media/<movie>/<token>/<path>``: the token is a signed,
expiring :class:`Grant` for one viewer, one movie and its current video, and
the tallest rung they may watch. HLS playlists use relative URIs, so the token
travels to every segment by itself; the master playlist is filtered down to
the allowed rungs. With object storage, segment URIs become presigned URLs.
"""

import re
import secrets
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.billing.access import entitlement_for
from kushfilms.billing.streams import Device, StreamRegistry
from kushfilms.catalog import service as catalog
from kushfilms.config import Settings
from kushfilms.errors import Forbidden, NotFound, Unauthorized
from kushfilms.kit.clock import utcnow
from kushfilms.kit.signing import derive_key
from kushfilms.media import service as media
from kushfilms.media import watching
from kushfilms.media.signing import BadGrant, Grant, read_grant, sign_grant
from kushfilms.media.storage import Storage
from kushfilms.models import User

_RUNG = re.compile(r"^(\d{2,4})p$")
_RUNG_FILE = re.compile(r"^(init\.mp4|seg_\d{5,9}\.m4s|index\.m3u8)$")
_THUMB_FILE = re.compile(r"^(sprite_\d{3,6}\.jpg|thumbnails\.vtt)$")
_RESOLUTION = re.compile(r"RESOLUTION=(\d+)x(\d+)")
# A playlist line naming one of the video's own files (a segment, a sprite).
_RELATIVE_FILE = re.compile(r"^[A-Za-z0-9_.-]+\.(?:m4s|mp4|jpg)(?:#[^\s]*)?$")


class SignInRequired(Unauthorized):
    code = "sign_in_required"
    message = "Sign in to watch this film."


class SubscriptionRequired(Forbidden):
    code = "subscription_required"
    message = "Your plan does not include this film."


class BadMediaToken(Forbidden):
    code = "invalid_media_token"
    message = "This media link is not valid or has expired."


class NoSuchMedia(NotFound):
    code = "media_not_found"
    message = "No such media file."


@dataclass(frozen=True)
class Playback:
    movie_id: uuid.UUID
    manifest_url: str
    expires_at: datetime
    max_height: int
    poster_url: str | None
    thumbnails_vtt_url: str
    duration: int
    resume_position: int
    device_id: str | None  # the device the stream is counted against; None when anonymous
    timings: tuple[tuple[str, float], ...] = ()  # (step, ms), ending with the total


@dataclass
class Stopwatch:
    """How long the named steps of a request took, in milliseconds."""

    started: float = field(default_factory=time.perf_counter)
    steps: list[tuple[str, float]] = field(default_factory=list)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.steps.append((name, (time.perf_counter() - began) * 1000))

    def stop(self) -> tuple[tuple[str, float], ...]:
        """The steps so far, and the total since the start."""
        return (*self.steps, ("total", (time.perf_counter() - self.started) * 1000))


def server_timing(timings: Iterable[tuple[str, float]]) -> str:
    """A ``Server-Timing`` header (W3C Server Timing), which browsers' developer tools
    show beside the request's own timing: ``entitlement;dur=0.412, total;dur=2.051``."""
    return ", ".join(f"{name};dur={ms:.3f}" for name, ms in timings)


def media_key(settings: Settings) -> bytes:
    return derive_key(settings.secret_key.get_secret_value(), "media-url")


async def start_playback(
    session: AsyncSession,
    *,
    viewer: User | None,
    id_or_slug: str,
    settings: Settings,
    streams: StreamRegistry,
    device: Device,
) -> Playback:
    """Decide whether the viewer may watch, and hand out signed media URLs if so.

    A signed-in viewer's device opens a stream session (TooManyStreams beyond
    their plan's limit); anonymous viewers of free films are not counted. The
    playback's ``timings`` say how long the entitlement check, the stream session
    and the whole decision took.
    """
    stopwatch = Stopwatch()
    movie = await catalog.get_movie(session, id_or_slug)
    with stopwatch.step("entitlement"):
        decision = await entitlement_for(session, viewer, movie.access_level, settings)
    if not decision.allowed:
        required = decision.required_plan.value if decision.required_plan else None
        raise (SignInRequired if viewer is None else SubscriptionRequired)(
            required_plan=required, current_plan=decision.plan.value
        )
    video = await media.ready_video(session, movie.id)
    heights = sorted(min(r["width"], r["height"]) for r in video.renditions)
    allowed = [height for height in heights if height <= decision.max_height] or heights[:1]
    expires_at = utcnow() + timedelta(seconds=settings.media_url_seconds)
    viewer_tag = f"user:{viewer.id}" if viewer else f"anonymous:{secrets.token_hex(6)}"
    grant = Grant(movie.id, video.id, viewer_tag, max(allowed), expires_at)
    base = f"/media/{movie.id}/{sign_grant(grant, media_key(settings))}/"
    resume = await watching.resume_position(session, viewer, movie)
    if viewer is not None:  # last, so that no other refusal leaves a session open
        with stopwatch.step("streams"):
            await streams.open(viewer, device, movie_id=movie.id, limit=decision.streams)
    return Playback(
        movie_id=movie.id,
        manifest_url=base + "master.m3u8",
        expires_at=expires_at,
        max_height=max(allowed),
        poster_url=movie.thumbnail_url,
        thumbnails_vtt_url=base + "thumbs/thumbnails.vtt",
        duration=movie.duration,
        resume_position=resume,
        device_id=device.id if viewer is not None else None,
        timings=stopwatch.stop(),
    )


def check_grant(settings: Settings, movie_id: uuid.UUID, token: str) -> Grant:
    try:
        grant = read_grant(token, media_key(settings), now=utcnow())
    except BadGrant as error:
        raise BadMediaToken() from error
    if grant.movie_id != movie_id:
        raise BadMediaToken()
    return grant


def rung_height(rung: str) -> int | None:
    match = _RUNG.fullmatch(rung)
    return int(match.group(1)) if match else None


def rung_key(grant: Grant, rung: str, name: str) -> str:
    """The stored object behind a rung's file, if the grant opens it."""
    height = rung_height(rung)
    if height is None or not _RUNG_FILE.fullmatch(name):
        raise NoSuchMedia()
    if height > grant.max_height:
        raise BadMediaToken("Your plan does not include this quality.")
    return f"videos/{grant.video_id}/hls/{rung}/{name}"


def thumbnail_key(grant: Grant, name: str) -> str:
    if not _THUMB_FILE.fullmatch(name):
        raise NoSuchMedia()
    return f"videos/{grant.video_id}/hls/thumbs/{name}"


def master_key(grant: Grant) -> str:
    return f"videos/{grant.video_id}/hls/master.m3u8"


def filter_master(playlist: str, max_height: int) -> str:
    """Keep only the variants whose short side is at most ``max_height``."""
    lines = playlist.splitlines()
    kept: list[str] = []
    skip_next = False
    for line in lines:
        if skip_next:
            skip_next = False
            continue
        if line.startswith("#EXT-X-STREAM-INF:"):
            size = _RESOLUTION.search(line)
            if size and min(int(size.group(1)), int(size.group(2))) > max_height:
                skip_next = True  # the variant's URI is on the next line
                continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def presign_uris(playlist: str, storage: Storage, key_prefix: str, *, expires_in: int) -> str:
    """Point a playlist's relative URIs (segments, init, sprites) at the store directly."""

    def direct(uri: str) -> str:
        name, _, fragment = uri.partition("#")
        url = storage.presigned_url(key_prefix + name, expires_in=expires_in) or uri
        return f"{url}#{fragment}" if fragment else url

    out: list[str] = []
    for line in playlist.splitlines():
        if line.startswith("#EXT-X-MAP:"):
            uri = re.search(r'URI="([^"]+)"', line)
            if uri:
                line = line.replace(uri.group(1), direct(uri.group(1)))
        elif _RELATIVE_FILE.fullmatch(line):
            line = direct(line)
        out.append(line)
    return "\n".join(out) + "\n"
