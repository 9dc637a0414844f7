"""Whether a grant still opens a film, decided again at every playlist fetch.

:func:`check_access` asks whether the film is still published (or the grant's viewer
an administrator, who may preview it before it is) and still on the grant's video,
and whether the grant's viewer is still entitled to it under their
plan as it is now (the one entitlement function, ``billing.service.entitlement_for``). The
rung cap is the lower of the grant's and the plan's. What the database said is kept
per viewer and film for ``KF_PLAYBACK_CHECK_SECONDS`` (5 s) by :class:`AccessChecks`,
so playlists stay cheap and a lost right shows within those seconds.
"""

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.accounts import service as accounts
from kushfilms.billing.entitlements import Entitlement
from kushfilms.billing.service import entitlement_for
from kushfilms.catalog import service as catalog
from kushfilms.config import Settings
from kushfilms.errors import Forbidden, NotFound, Unauthorized
from kushfilms.kit.clock import utcnow
from kushfilms.kit.signing import derive_key
from kushfilms.media import service as media
from kushfilms.media.delivery.signing import BadGrant, Grant, Scope, read_grant, sign_grant
from kushfilms.models import Role, User, VideoStatus

_USER = "user:"


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


def media_key(settings: Settings) -> bytes:
    return derive_key(settings.secret_key.get_secret_value(), "media-url")


def viewer_tag(viewer: User) -> str:
    """Who a grant is for, as it names them."""
    return f"{_USER}{viewer.id}"


def rung_heights(renditions: Iterable[dict[str, int]]) -> tuple[int, ...]:
    """The short side of each rung, smallest first."""
    return tuple(sorted(min(r["width"], r["height"]) for r in renditions))


def height_cap(heights: Sequence[int], limit: int) -> int:
    """The tallest rung within ``limit``; the smallest one when none is (every plan
    that opens a film plays it, if only at its lowest quality)."""
    return max((height for height in heights if height <= limit), default=min(heights, default=0))


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


@dataclass(frozen=True, slots=True)
class Standing:
    """A film and a grant's viewer as they are now, as far as playing goes."""

    published: bool
    video_id: uuid.UUID | None = None  # the film's playable video
    heights: tuple[int, ...] = ()  # of its rungs
    entitlement: Entitlement | None = None  # None: the viewer no longer exists
    admin: bool = False  # the viewer is an administrator (who may preview unpublished films)


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
        admin=viewer is not None and viewer.role == Role.ADMIN,
    )


def judge(grant: Grant, standing: Standing) -> int:
    """The tallest rung a playlists grant opens now; the reason as an error when none."""
    if not standing.published and not standing.admin:
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
