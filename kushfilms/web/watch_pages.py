"""The watch page: the player, or why the film does not play for this viewer (sign in,
a plan, the plan's devices all watching, being prepared); progress reports, which
are the stream's heartbeats; the player giving its place up when hidden or closed,
and taking it again when shown; and ending another device's stream.

Through a database outage it renders for anonymous visitors from the catalogue
data they last loaded (kushfilms/web/outage.py). An administrator's preview of a
film (published or not) is the same page, never kept for outages.
"""

import json
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import AwareDatetime, BaseModel, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.accounts.devices import (
    DEVICE_COOKIE,
    DEVICE_COOKIE_SECONDS,
    DEVICE_ID_PATTERN,
    Device,
    device_label,
    new_device_id,
    valid_device_id,
)
from kushfilms.billing.deps import Streams
from kushfilms.billing.plans import plans_from
from kushfilms.billing.streams import Stream, StreamRegistry, TooManyStreams
from kushfilms.catalog import service as catalog
from kushfilms.catalog.view_counter import ViewCounter
from kushfilms.deps import DbSession, ReadSession, settings_of
from kushfilms.errors import BadRequest, Unauthorized, Unprocessable
from kushfilms.kit.clock import utcnow
from kushfilms.media import flows, watching
from kushfilms.media import service as media
from kushfilms.media.delivery.access import SignInRequired, SubscriptionRequired
from kushfilms.media.delivery.playback import Playback
from kushfilms.media.deps import ViewCounts
from kushfilms.models import AccessLevel, Movie, User
from kushfilms.web.deps import CheckedForm, PageAdmin, PageUser, PageViewer, Templates
from kushfilms.web.outage import KeptPageData
from kushfilms.web.viewer_pages import (
    PLAN_NAMES,
    RELATED,
    WAITING,
    Card,
    Slug,
    card,
    cards,
    newest_films,
)

router = APIRouter(include_in_schema=False)
NEXT_FILMS = 4  # offered at the end of a film


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the film does not play for this viewer: "sign_in", "upgrade", "devices"
    (the plan's devices are all watching), "processing", "unavailable", or
    "reconnecting" (the database is down: no playback can be granted for now)."""

    state: str
    plan: str | None = None
    progress: float | None = None
    devices: list[Stream] = field(default_factory=list)
    limit: int = 0
    more_on_other_plans: bool = False  # a plan lets more devices watch at once


def _device(request: Request) -> Device:
    """This browser as a device: the id in its cookie, or a new one."""
    found = valid_device_id(request.cookies.get(DEVICE_COOKIE))
    user_agent = request.headers.get("user-agent", "")
    return Device(found or new_device_id(), device_label(user_agent))


def _keep_device(request: Request, response: Response, device: Device) -> None:
    response.set_cookie(
        DEVICE_COOKIE,
        device.id,
        max_age=DEVICE_COOKIE_SECONDS,
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="lax",
    )


async def _play_or_refusal(
    request: Request,
    session: AsyncSession,
    viewer: User | None,
    movie: Movie,
    registry: StreamRegistry,
    device: Device,
    views: ViewCounter,
    *,
    preview: bool = False,
) -> Playback | Refusal:
    try:
        return await flows.start_playback(
            session,
            viewer=viewer,
            id_or_slug=str(movie.id),
            settings=settings_of(request),
            streams=registry,
            device=device,
            views=views,
            preview=preview,
        )
    except (SignInRequired, SubscriptionRequired) as refused:
        level = str(refused.extra.get("required_plan"))
        plan = PLAN_NAMES[AccessLevel(level)] if level in AccessLevel.__members__ else None
        return Refusal("sign_in" if isinstance(refused, SignInRequired) else "upgrade", plan)
    except TooManyStreams as refused:
        more = any(offer.streams > refused.limit for offer in plans_from(settings_of(request)))
        return Refusal(
            "devices", devices=refused.devices, limit=refused.limit, more_on_other_plans=more
        )
    except media.VideoNotReady:
        video = await media.get_video(session, movie.id)
        if video is not None and video.status in WAITING:
            return Refusal("processing", progress=video.progress)
        return Refusal("unavailable")


@dataclass(frozen=True, slots=True)
class Film:
    """A film's details for its watch page, and the films shown below the player."""

    movie: Card
    related: list[Card]  # more of its category
    next: list[Card]  # offered when it ends: its category first, then the newest films


async def _film(session: AsyncSession, slug: str) -> Film:
    movie = await catalog.get_movie(session, slug)  # unknown or unpublished: the 404 page
    if movie.category is not None:
        related = await newest_films(session, str(movie.category.id), RELATED + 1)
    else:
        related = await newest_films(session, size=RELATED + 1)
    related = [other for other in related if other.id != movie.id][:RELATED]
    following = related[:NEXT_FILMS]
    if len(following) < NEXT_FILMS:  # a small category: the newest films fill the row
        taken = {movie.id, *(other.id for other in following)}
        newest = await newest_films(session, size=NEXT_FILMS + len(taken))
        following += [other for other in newest if other.id not in taken]
    return Film(card(movie), cards(related), cards(following[:NEXT_FILMS]))


@router.get("/watch/{slug}")
async def watch(
    request: Request,
    slug: Slug,
    viewer: PageViewer,
    session: ReadSession,
    data: KeptPageData,
    registry: Streams,
    views: ViewCounts,
) -> Response:
    """The film and its player; while the database is down, the film's kept details
    with a player that says playback is unavailable (a grant needs the database)."""
    film = await data.load_or_keep(("watch", slug), lambda: _film(session, slug))
    device = _device(request)
    if data.stale:
        outcome: Playback | Refusal = Refusal("reconnecting")
    else:
        outcome = await _play_or_refusal(
            request, session, viewer, film.movie.movie, registry, device, views
        )
    response = data.render(
        request,
        "watch.html",
        viewer=viewer,
        movie=film.movie,
        play=outcome if isinstance(outcome, Playback) else None,
        refusal=outcome if isinstance(outcome, Refusal) else None,
        related=film.related,
        next_films=film.next,
        plan_names=PLAN_NAMES,
        now=utcnow(),
    )
    if viewer is not None:  # renewed at each visit, so it lives as long as it is used
        _keep_device(request, response, device)
    return response


@router.get("/admin/movies/{movie_id}/preview")
async def preview(
    request: Request,
    movie_id: uuid.UUID,
    admin: PageAdmin,
    session: ReadSession,
    pages: Templates,
    registry: Streams,
    views: ViewCounts,
) -> Response:
    """The watch page of any film, for administrators checking it before (or after) it
    is published: no stream place taken, no view counted, no progress kept. Rendered
    afresh each time: it must never stand in for the public page in an outage."""
    movie = await catalog.get_movie(session, movie_id, include_unpublished=True)
    outcome = await _play_or_refusal(
        request, session, admin, movie, registry, _device(request), views, preview=True
    )
    return pages.render(
        request,
        "watch.html",
        viewer=admin,
        movie=card(movie),
        play=outcome if isinstance(outcome, Playback) else None,
        refusal=outcome if isinstance(outcome, Refusal) else None,
        related=[],
        next_films=[],
        plan_names=PLAN_NAMES,
        now=utcnow(),
        preview=True,
    )


class ProgressReport(BaseModel):
    position: float = Field(ge=0, le=watching.MAX_POSITION)


class Leaving(BaseModel):
    """The player giving its place up: the stream it started, and how far it got."""

    started: AwareDatetime
    position: float | None = Field(default=None, ge=0, le=watching.MAX_POSITION)


async def _player_data(request: Request) -> Any:
    """What the player sent: a form (fetch, sendBeacon) or JSON."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            return json.loads(await request.body())
        except json.JSONDecodeError as error:
            raise BadRequest("The body is not valid JSON.") from error
    return dict(await request.form())


async def _progress_report(request: Request) -> ProgressReport:
    try:
        return ProgressReport.model_validate(await _player_data(request))
    except ValidationError as error:
        raise Unprocessable("position: a number of seconds is required.") from error


async def _leaving(request: Request) -> Leaving:
    try:
        return Leaving.model_validate(await _player_data(request))
    except ValidationError as error:
        raise Unprocessable(
            "started: the stream's start as the page was given it is required;"
            " position: a number of seconds, when given."
        ) from error


@router.post("/watch/{slug}/progress", status_code=204, dependencies=[CheckedForm])
async def report_progress(
    request: Request,
    slug: Slug,
    viewer: PageViewer,
    session: DbSession,
    registry: Streams,
) -> Response:
    """The player's progress report, and its device's stream heartbeat (409
    ``too_many_streams`` when another device took the slot after this one lapsed)."""
    if viewer is None:
        raise Unauthorized("Sign in to keep your place in films.")
    report = await _progress_report(request)
    movie = await catalog.get_movie(session, slug)
    # The player's page set the cookie; a report without it is not a player's.
    from_player = valid_device_id(request.cookies.get(DEVICE_COOKIE))
    await flows.report_progress(
        session,
        viewer=viewer,
        movie_id=movie.id,
        position=round(report.position),
        device=_device(request) if from_player else None,
        streams=registry,
        settings=settings_of(request),
    )
    return Response(status_code=204)


@router.post("/watch/{slug}/stream", dependencies=[CheckedForm])
async def resume_stream(
    request: Request,
    slug: Slug,
    viewer: PageViewer,
    session: DbSession,
    registry: Streams,
) -> Response:
    """The player shown again after it gave its place up: its device's stream started
    again, ``{"started_at"}`` (409 ``too_many_streams`` when another device took the
    place meanwhile)."""
    if viewer is None:
        raise Unauthorized("Sign in to watch.")
    movie = await catalog.get_movie(session, slug)
    if valid_device_id(request.cookies.get(DEVICE_COOKIE)) is None:
        raise BadRequest("This browser has no device cookie: open the film's page again.")
    stream = await flows.resume_stream(
        session,
        viewer=viewer,
        movie_id=movie.id,
        device=_device(request),
        streams=registry,
        settings=settings_of(request),
    )
    return JSONResponse({"started_at": stream.started_at.isoformat()})


@router.post("/watch/{slug}/stream/end", status_code=204, dependencies=[CheckedForm])
async def end_stream(
    request: Request,
    slug: Slug,
    viewer: PageViewer,
    session: DbSession,
    registry: Streams,
) -> Response:
    """The player hidden or closing (``sendBeacon``: the page's cookies and the CSRF
    token in the form): its position kept, and this browser's stream ended, if it is
    still the one the player started. Only this viewer's, only this browser's (its
    HttpOnly device cookie): a page cannot end another device's stream this way."""
    if viewer is None:
        raise Unauthorized("Sign in to keep your place in films.")
    leaving = await _leaving(request)
    movie = await catalog.get_movie(session, slug)
    await flows.leave_playback(
        session,
        viewer=viewer,
        movie_id=movie.id,
        position=round(leaving.position) if leaving.position is not None else None,
        device_id=valid_device_id(request.cookies.get(DEVICE_COOKIE)),
        started_at=leaving.started,
        streams=registry,
    )
    return Response(status_code=204)


@router.post("/watch/{slug}/devices/{device_id}/end", dependencies=[CheckedForm])
async def end_device(
    slug: Slug,
    device_id: Annotated[str, Path(pattern=DEVICE_ID_PATTERN)],
    viewer: PageUser,
    session: ReadSession,
    registry: Streams,
) -> Response:
    """Stop counting another device's stream, then back to the film to watch it here."""
    movie = await catalog.get_movie(session, slug)
    await registry.end(viewer, device_id)  # already stopped is as good
    return RedirectResponse(f"/watch/{movie.slug}", status_code=303)
