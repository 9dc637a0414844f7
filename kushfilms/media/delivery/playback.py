"""Playback: deciding once that a viewer may watch, and handing out signed media URLs.

Media URLs look like ``/media/<movie>/<token>/<path>``, the token a signed
:class:`Grant` (see ``signing.py``):

- :func:`start_playback` decides once and hands out a *playlists* grant for the
  whole viewing (``KF_MEDIA_URL_SECONDS``): the viewer, the film, its current
  video and the tallest rung they may watch.
- Every playlist fetch (master, media, scrub-preview VTT) is decided again
  (``access.py``), and answered with the rungs the viewer may watch then.
- The segments a media playlist names (init and media) carry a *segments*
  grant of ``KF_SEGMENT_URL_SECONDS`` (300 s), or with object storage are
  presigned for as long (so are the scrub-preview sprites; on disk those are
  checked like playlists, being few and small). Players fetch the media playlist again for
  fresh URLs before those lapse (static/js/player.js does it as it loads
  segments), so playback goes on while the viewer may watch, and stops within
  those minutes once they may not (``files.py``).

An administrator may also *preview* a film, published or not, once its video is
ready: the same signed URLs (the playlists' checks let administrators' grants play
unpublished films), but no stream session is opened and the view is not counted.
"""

import secrets
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.accounts.devices import Device
from kushfilms.billing.service import entitlement_for
from kushfilms.billing.streams import StreamRegistry
from kushfilms.catalog import service as catalog
from kushfilms.config import Settings
from kushfilms.errors import Forbidden, Unauthorized
from kushfilms.kit.clock import utcnow
from kushfilms.media import layout, watching
from kushfilms.media import service as media
from kushfilms.media.delivery.access import (
    SignInRequired,
    SubscriptionRequired,
    height_cap,
    media_key,
    rung_heights,
    viewer_tag,
)
from kushfilms.media.delivery.signing import Grant, sign_grant
from kushfilms.models import Role, User


class PreviewForAdminsOnly(Forbidden):
    code = "preview_for_admins_only"
    message = "Only administrators can preview films."


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
    stream_started_at: datetime | None = None  # when the device's stream (re)started
    preview: bool = False  # an administrator's preview: no stream, no view, no progress


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


async def start_playback(
    session: AsyncSession,
    *,
    viewer: User | None,
    id_or_slug: str,
    settings: Settings,
    streams: StreamRegistry,
    device: Device,
    preview: bool = False,
) -> Playback:
    """Decide whether the viewer may watch, and hand out signed media URLs if so.

    A signed-in viewer's device opens a stream session (TooManyStreams beyond
    their plan's limit); anonymous viewers of free films are not counted. The
    playback's ``timings`` say how long the entitlement check, the stream session
    and the whole decision took. A ``preview`` (administrators only: 401 for anonymous
    viewers, else ``PreviewForAdminsOnly``) plays unpublished films too, from the
    start, and opens no stream session.
    """
    stopwatch = Stopwatch()
    if preview and viewer is None:
        raise Unauthorized()
    if preview and viewer is not None and viewer.role != Role.ADMIN:
        raise PreviewForAdminsOnly()
    movie = await catalog.get_movie(session, id_or_slug, include_unpublished=preview)
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
    tag = viewer_tag(viewer) if viewer else f"anonymous:{secrets.token_hex(6)}"
    grant = Grant(movie.id, video.id, tag, max_height, expires_at)
    base = layout.grant_url(movie.id, sign_grant(grant, media_key(settings)))
    resume = 0 if preview else await watching.resume_position(session, viewer, movie)
    stream = None
    if viewer is not None and not preview:  # last: no other refusal leaves a session open
        with stopwatch.step("streams"):
            stream = await streams.open(viewer, device, movie_id=movie.id, limit=decision.streams)
    return Playback(
        movie_id=movie.id,
        manifest_url=base + layout.MASTER_PLAYLIST,
        expires_at=expires_at,
        max_height=max_height,
        poster_url=movie.backdrop_url or movie.thumbnail_url,  # the player is 16:9
        thumbnails_vtt_url=base + layout.THUMBNAILS_PATH,
        duration=movie.duration,
        resume_position=resume,
        device_id=stream.device_id if stream is not None else None,
        segment_url_seconds=settings.segment_url_seconds,
        timings=stopwatch.stop(),
        stream_started_at=stream.started_at if stream is not None else None,
        preview=preview,
    )
