"""Playback: who may watch what, signed media URLs, and the playlists behind them.

Media URLs look like ``/media/<movie>/<token>/<path>``, the token a signed
:class:`Grant` (see ``signing.py``):

- :func:`start_playback` decides once and hands out a *playlists* grant for the
  whole viewing (``KF_MEDIA_URL_SECONDS``): the viewer, the film, its current
  video and the tallest rung they may watch.
- Every playlist fetch (master, media, scrub-preview VTT) is decided again by
  :func:`check_access`: the film still published and still on that video, and
  the grant's viewer still entitled to it under their plan as it is now (the one
  entitlement function, through ``billing.access``). The rung cap is the lower
  of the grant's and the plan's. What the database said is kept per viewer and
  film for ``KF_PLAYBACK_CHECK_SECONDS`` (5 s) by :class:`AccessChecks`, so
  playlists stay cheap and a lost right shows within those seconds.
- The segments a media playlist names (init and media) carry a *segments*
  grant of ``KF_SEGMENT_URL_SECONDS`` (300 s), or with object storage are
  presigned for as long (so are the scrub-preview sprites; on disk those are
  checked like playlists, being few and small). Players fetch the media playlist again for
  fresh URLs before those lapse (static/js/player.js does it as it loads
  segments), so playback goes on while the viewer may watch, and stops within
  those minutes once they may not.
"""

import re
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.accounts import service as accounts
from kushfilms.billing.access import entitlement_for
from kushfilms.billing.entitlements import Entitlement
from kushfilms.billing.streams import Device, StreamRegistry
from kushfilms.catalog import service as catalog
from kushfilms.config import Settings
from kushfilms.errors import Forbidden, NotFound, Unauthorized
from kushfilms.kit.clock import utcnow
from kushfilms.kit.signing import derive_key
from kushfilms.media import service as media
from kushfilms.media import watching
from kushfilms.media.signing import BadGrant, Grant, Scope, read_grant, sign_grant
from kushfilms.media.storage import Storage
from kushfilms.models import User, VideoStatus

_RUNG = re.compile(r"^(\d{2,4})p$")
_SEGMENT_FILE = re.compile(r"^(init\.mp4|seg_\d{5,9}\.m4s)$")
_SPRITE_FILE = re.compile(r"^sprite_\d{3,6}\.jpg$")
_RESOLUTION = re.compile(r"RESOLUTION=(\d+)x(\d+)")
_MAP_URI = re.compile(r'URI="([^"]+)"')
# A playlist line naming one of the video's own files (a segment, a sprite).
_RELATIVE_FILE = re.compile(r"^[A-Za-z0-9_.-]+\.(?:m4s|mp4|jpg)(?:#[^\s]*)?$")
_USER = "user:"
THUMBS = "thumbs"
# Checked at every fetch, and naming URLs that lapse in minutes: never kept.
PLAYLIST_CACHE_CONTROL = "no-store"


class SignInRequired(Unauthorized):
    code = "sign_in_required"
    message = "Sign in to watch this film."


class SubscriptionRequired(Forbidden):
    code = "subscription_required"
    message = "Your plan does not include this film."


class BadMediaToken(Forbidden):
    code = "invalid_media_token"
    message = "This media link is not valid or has expired."


class FilmWithdrawn(Forbidden):
    code = "film_unavailable"
    message = "This film is no longer available."


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
    segment_url_seconds: int  # how long the URLs inside a media playlist last
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


def rung_heights(renditions: Iterable[dict[str, int]]) -> tuple[int, ...]:
    """The short side of each rung, smallest first."""
    return tuple(sorted(min(r["width"], r["height"]) for r in renditions))


def height_cap(heights: Sequence[int], limit: int) -> int:
    """The tallest rung within ``limit``; the smallest one when none is (every plan
    that opens a film plays it, if only at its lowest quality)."""
    return max((height for height in heights if height <= limit), default=min(heights, default=0))


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
    max_height = height_cap(rung_heights(video.renditions), decision.max_height)
    expires_at = utcnow() + timedelta(seconds=settings.media_url_seconds)
    viewer_tag = f"{_USER}{viewer.id}" if viewer else f"anonymous:{secrets.token_hex(6)}"
    grant = Grant(movie.id, video.id, viewer_tag, max_height, expires_at)
    base = f"/media/{movie.id}/{sign_grant(grant, media_key(settings))}/"
    resume = await watching.resume_position(session, viewer, movie)
    if viewer is not None:  # last, so that no other refusal leaves a session open
        with stopwatch.step("streams"):
            await streams.open(viewer, device, movie_id=movie.id, limit=decision.streams)
    return Playback(
        movie_id=movie.id,
        manifest_url=base + "master.m3u8",
        expires_at=expires_at,
        max_height=max_height,
        poster_url=movie.thumbnail_url,
        thumbnails_vtt_url=f"{base}{THUMBS}/thumbnails.vtt",
        duration=movie.duration,
        resume_position=resume,
        device_id=device.id if viewer is not None else None,
        segment_url_seconds=settings.segment_url_seconds,
        timings=stopwatch.stop(),
    )


def check_grant(settings: Settings, movie_id: uuid.UUID, token: str, scope: Scope) -> Grant:
    """The grant in a media URL, if it is genuine, current, of this movie and opens
    this kind of file."""
    try:
        grant = read_grant(token, media_key(settings), now=utcnow())
    except BadGrant as error:
        raise BadMediaToken() from error
    if grant.movie_id != movie_id or grant.scope != scope:
        raise BadMediaToken()
    return grant


# --- Checking a playlists grant again at each fetch ---------------------------------


@dataclass(frozen=True, slots=True)
class Standing:
    """A film and a grant's viewer as they are now, as far as playing goes."""

    published: bool
    video_id: uuid.UUID | None = None  # the film's playable video
    heights: tuple[int, ...] = ()  # of its rungs
    entitlement: Entitlement | None = None  # None: the viewer no longer exists


async def standing_of(session: AsyncSession, grant: Grant, settings: Settings) -> Standing:
    try:
        movie = await catalog.get_movie(session, grant.movie_id, include_unpublished=True)
    except catalog.MovieNotFound:
        return Standing(published=False)
    video = await media.get_video(session, movie.id)
    ready = video is not None and video.status == VideoStatus.READY
    viewer: User | None = None
    if grant.viewer.startswith(_USER):
        try:
            viewer = await accounts.get_user(session, uuid.UUID(grant.viewer[len(_USER) :]))
        except (accounts.UserNotFound, ValueError):
            return Standing(published=movie.published)
    return Standing(
        published=movie.published,
        video_id=video.id if video is not None and ready else None,
        heights=rung_heights(video.renditions) if video is not None and ready else (),
        entitlement=await entitlement_for(session, viewer, movie.access_level, settings),
    )


def judge(grant: Grant, standing: Standing) -> int:
    """The tallest rung a playlists grant opens now; the reason as an error when none."""
    if not standing.published:
        raise FilmWithdrawn()
    entitlement = standing.entitlement
    if entitlement is None:
        raise BadMediaToken()
    if standing.video_id != grant.video_id:
        raise BadMediaToken("This film's video has changed: start playback again.")
    if not entitlement.allowed:
        required = entitlement.required_plan.value if entitlement.required_plan else None
        raise SubscriptionRequired(required_plan=required, current_plan=entitlement.plan.value)
    return height_cap(standing.heights, min(grant.max_height, entitlement.max_height))


@dataclass
class AccessChecks:
    """Recent :class:`Standing` answers, per viewer and film, each kept ``seconds``.

    In-process: each app process keeps its own, so a change shows everywhere
    within ``seconds`` (``KF_PLAYBACK_CHECK_SECONDS``). The oldest go first
    beyond ``max_entries``.
    """

    seconds: float
    clock: Callable[[], float] = time.monotonic
    max_entries: int = 50_000
    entries: OrderedDict[tuple[str, uuid.UUID], tuple[float, Standing]] = field(
        default_factory=OrderedDict
    )

    def get(self, key: tuple[str, uuid.UUID]) -> Standing | None:
        found = self.entries.get(key)
        if found is None or self.clock() - found[0] >= self.seconds:
            return None
        return found[1]

    def put(self, key: tuple[str, uuid.UUID], standing: Standing) -> None:
        if self.seconds <= 0:
            return
        now = self.clock()
        self.entries.pop(key, None)
        self.entries[key] = (now, standing)
        while self.entries:  # the oldest first: drop those aged out, and any beyond the cap
            checked_at, _ = next(iter(self.entries.values()))
            if now - checked_at < self.seconds and len(self.entries) <= self.max_entries:
                break
            self.entries.popitem(last=False)


async def check_access(
    session: AsyncSession, grant: Grant, settings: Settings, checks: AccessChecks
) -> int:
    """May this playlists grant still play? The tallest rung it opens now, or the
    refusal (403: ``film_unavailable``, ``subscription_required``, ``invalid_media_token``)."""
    key = (grant.viewer, grant.movie_id)
    standing = checks.get(key)
    if standing is None:
        standing = await standing_of(session, grant, settings)
        checks.put(key, standing)
    return judge(grant, standing)


# --- Keys and playlists ------------------------------------------------------------


def rung_height(rung: str) -> int | None:
    match = _RUNG.fullmatch(rung)
    return int(match.group(1)) if match else None


def check_rung(rung: str, max_height: int) -> None:
    """Refuse a folder that names no rung (404), or a rung above ``max_height`` (403)."""
    height = rung_height(rung)
    if height is None:
        raise NoSuchMedia()
    if height > max_height:
        raise BadMediaToken("Your plan does not include this quality.")


def media_playlist_key(grant: Grant, rung: str) -> str:
    """A rung's media playlist, if the rung is within the grant's cap."""
    check_rung(rung, grant.max_height)
    return f"videos/{grant.video_id}/hls/{rung}/index.m3u8"


def segment_key(grant: Grant, rung: str, name: str) -> str:
    """The stored init or media segment behind a segments grant's URL."""
    check_rung(rung, grant.max_height)
    if not _SEGMENT_FILE.fullmatch(name):
        raise NoSuchMedia()
    return f"videos/{grant.video_id}/hls/{rung}/{name}"


def sprite_key(grant: Grant, name: str) -> str:
    if not _SPRITE_FILE.fullmatch(name):
        raise NoSuchMedia()
    return f"videos/{grant.video_id}/hls/{THUMBS}/{name}"


def thumbnails_key(grant: Grant) -> str:
    return f"videos/{grant.video_id}/hls/{THUMBS}/thumbnails.vtt"


def master_key(grant: Grant) -> str:
    return f"videos/{grant.video_id}/hls/master.m3u8"


def segments_token(grant: Grant, max_height: int, settings: Settings) -> str:
    """A segments grant for a playlists grant that was checked just now."""
    lapses = utcnow() + timedelta(seconds=settings.segment_url_seconds)
    segments = replace(
        grant,
        max_height=max_height,
        expires_at=min(lapses, grant.expires_at),
        scope=Scope.SEGMENTS,
    )
    return sign_grant(segments, media_key(settings))


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


def rewrite_uris(playlist: str, url_of: Callable[[str], str]) -> str:
    """A playlist (HLS or the sprites' WebVTT) whose relative file URIs (init and
    media segments, sprites) are replaced by ``url_of(name)``, fragments kept."""

    def direct(uri: str) -> str:
        name, _, fragment = uri.partition("#")
        url = url_of(name)
        return f"{url}#{fragment}" if fragment else url

    out: list[str] = []
    for line in playlist.splitlines():
        if line.startswith("#EXT-X-MAP:"):
            uri = _MAP_URI.search(line)
            if uri:
                line = line.replace(uri.group(1), direct(uri.group(1)))
        elif _RELATIVE_FILE.fullmatch(line):
            line = direct(line)
        out.append(line)
    return "\n".join(out) + "\n"


def sign_files(
    playlist: str,
    *,
    storage: Storage,
    key: str,
    expires_in: int,
    token: str | None = None,
) -> str:
    """The playlist stored at ``key`` with the files it names signed for ``expires_in``
    seconds: presigned by the store when it can, else under the segments ``token``
    (``../../<token>/<folder>/<name>``, from ``/media/<movie>/<grant>/<folder>/``);
    without a token, left as they are (under the playlist's own grant)."""
    folder_key = key.rsplit("/", 1)[0] + "/"
    folder = folder_key.rstrip("/").rsplit("/", 1)[1]

    def url_of(name: str) -> str:
        presigned = storage.presigned_url(folder_key + name, expires_in=expires_in)
        if presigned:
            return presigned
        return f"../../{token}/{folder}/{name}" if token else name

    return rewrite_uris(playlist, url_of)
