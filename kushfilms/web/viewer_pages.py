"""What viewers see: the home page, the catalogue, and the watch page with its player.

Through a database outage these three render for anonymous visitors from the
catalogue data they last loaded (kushfilms/web/outage.py); signed-in visitors'
pages need their account, so they answer the 503 page until the database is back.
"""

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field, ValidationError
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
from kushfilms.catalog.service import MovieFilter, Sort
from kushfilms.catalog.view_counter import ViewCounter
from kushfilms.deps import DbSession, ReadSession, ReplicaSession, settings_of
from kushfilms.errors import BadRequest, Unauthorized, Unprocessable
from kushfilms.kit.clock import utcnow
from kushfilms.kit.pagination import PageRequest
from kushfilms.kit.text import SingleLine
from kushfilms.media import flows, layout, watching
from kushfilms.media import service as media
from kushfilms.media.delivery.access import SignInRequired, SubscriptionRequired
from kushfilms.media.delivery.playback import Playback
from kushfilms.media.deps import ViewCounts
from kushfilms.media.images import POSTER_WIDTHS
from kushfilms.models import AccessLevel, Category, Movie, User, VideoStatus
from kushfilms.web.deps import CheckedForm, PageUser, PageViewer
from kushfilms.web.outage import KeptPageData

router = APIRouter(include_in_schema=False)

ROW_SIZE = 12  # films in each row of the home page
CATEGORY_ROWS = 6  # the home page shows at most this many categories
HISTORY_SCAN = 30  # recent history entries looked at for "Continue watching"
GRID_SIZE = 24  # films per page of the catalogue
RELATED = 12  # "More in <category>" below the player
PLAN_NAMES = {level: level.value.title() for level in AccessLevel}
SORT_NAMES = {
    Sort.RELEVANCE: "Best match",
    Sort.NEWEST: "Newest",
    Sort.TITLE: "Title (A to Z)",
    Sort.POPULAR: "Most popular",
}
Slug = Annotated[SingleLine, Path(max_length=220)]  # of a film, or its id
# Where a film that is neither playable nor being prepared stands, for people.
WAITING = {VideoStatus.UPLOADED, VideoStatus.PROCESSING}


@dataclass(frozen=True, slots=True)
class Card:
    """A film as a poster card: its pictures, and how far the viewer got."""

    movie: Movie
    poster: str | None  # 780 px wide
    small: str | None  # 342 px wide, when the poster comes in that size too
    hue: int  # of the placeholder's gradient, steady for each film
    progress: int | None = None  # seconds watched ("Continue watching")

    @property
    def percent(self) -> int:
        if not self.progress or not self.movie.duration:
            return 0
        return min(100, round(100 * self.progress / self.movie.duration))


def card(movie: Movie, progress: int | None = None) -> Card:
    poster, key = movie.thumbnail_url, movie.poster_key
    small = layout.art_url(layout.poster_variant(key, min(POSTER_WIDTHS))) if key else None
    return Card(
        movie=movie,
        poster=poster,
        small=small if small != poster else None,
        hue=zlib.crc32(movie.id.bytes) % 360,
        progress=progress,
    )


def cards(movies: Sequence[Movie]) -> list[Card]:
    return [card(movie) for movie in movies]


@dataclass(frozen=True, slots=True)
class Row:
    key: str  # stable, for tests and styling: "continue", "new", "category-<slug>"
    title: str
    cards: list[Card]
    more_url: str | None = None


@dataclass(frozen=True, slots=True)
class Browse:
    """What the catalogue page was asked for, and the URLs of its other pages."""

    search: str = ""
    category: str = ""
    access_level: AccessLevel | None = None
    sort: Sort | None = None
    page: int = 1

    @property
    def filtered(self) -> bool:
        return bool(self.search or self.category or self.access_level)

    @property
    def effective_sort(self) -> Sort:
        if self.sort is not None:
            return self.sort
        return Sort.RELEVANCE if self.search else Sort.NEWEST

    def query(self) -> MovieFilter:
        return MovieFilter(
            search=self.search or None,
            category=self.category or None,
            access_level=self.access_level,
            sort=self.sort,
        )

    def url(self, page: int | None = None) -> str:
        chosen = page or self.page
        params = {
            "search": self.search,
            "category": self.category,
            "access_level": self.access_level.value if self.access_level else "",
            "sort": self.sort.value if self.sort else "",
            "page": str(chosen) if chosen > 1 else "",
        }
        query = urlencode({name: value for name, value in params.items() if value})
        return f"/movies?{query}" if query else "/movies"


def parse_browse(search: str, category: str, access_level: str, sort: str, page: int) -> Browse:
    """Read the catalogue's query leniently: an empty or unknown choice means "any"."""
    level = access_level.strip().upper()
    chosen = sort.strip().lower()
    return Browse(
        search=" ".join(search.split()),
        category=category.strip(),
        access_level=AccessLevel(level) if level in AccessLevel.__members__ else None,
        sort=Sort(chosen) if chosen in Sort._value2member_map_ else None,
        page=page,
    )


async def _categories_with_films(session: AsyncSession) -> list[tuple[Category, int]]:
    found = await catalog.list_categories(session, PageRequest(page_size=100))
    return [(category, count) for category, count in found.items if count]


async def _newest(
    session: AsyncSession, category: str | None = None, size: int = ROW_SIZE
) -> list[Movie]:
    query = MovieFilter(category=category, sort=Sort.NEWEST)
    return list((await catalog.list_movies(session, query, PageRequest(page_size=size))).items)


async def _continue_watching(session: AsyncSession, viewer: User) -> list[Card]:
    history = await watching.history(session, user=viewer, page=PageRequest(page_size=HISTORY_SCAN))
    unfinished = [
        card(movie, progress=entry.progress)
        for entry, movie in history.items
        if not entry.completed and entry.progress > 0
    ]
    return unfinished[:ROW_SIZE]


@dataclass(frozen=True, slots=True)
class Shelves:
    """The home page's catalogue, the same for every visitor."""

    featured: Card | None
    rows: list[Row]


async def _shelves(catalogue: AsyncSession) -> Shelves:
    newest = await _newest(catalogue)
    rows: list[Row] = []
    if newest:
        rows.append(Row("new", "New on Kush Films", cards(newest), "/movies?sort=newest"))
    categories = await _categories_with_films(catalogue)
    categories.sort(key=lambda row: (-row[1], row[0].name.lower()))
    for category, _ in categories[:CATEGORY_ROWS]:
        films = await _newest(catalogue, str(category.id))
        url = f"/movies?{urlencode({'category': category.slug})}"
        rows.append(Row(f"category-{category.slug}", category.name, cards(films), url))
    featured = next((movie for movie in newest if movie.thumbnail_url), None)
    if featured is None and newest:
        featured = newest[0]
    return Shelves(card(featured) if featured else None, rows)


@router.get("/")
async def home(
    request: Request,
    viewer: PageViewer,
    session: ReadSession,
    catalogue: ReplicaSession,
    data: KeptPageData,
) -> Response:
    shelves = await data.load_or_keep(("home",), lambda: _shelves(catalogue))
    rows = list(shelves.rows)
    if viewer is not None and (unfinished := await _continue_watching(session, viewer)):
        rows.insert(0, Row("continue", "Continue watching", unfinished, "/account"))
    return data.render(
        request,
        "home.html",
        viewer=viewer,
        featured=shelves.featured,
        rows=rows,
        plan_names=PLAN_NAMES,
    )


@router.get("/movies")
async def movies(
    request: Request,
    viewer: PageViewer,
    catalogue: ReplicaSession,
    data: KeptPageData,
    search: Annotated[SingleLine, Query(max_length=200)] = "",
    category: Annotated[SingleLine, Query(max_length=100)] = "",
    access_level: Annotated[SingleLine, Query(max_length=16)] = "",
    sort: Annotated[SingleLine, Query(max_length=16)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    browse = parse_browse(search, category, access_level, sort, page)
    found = await data.load_or_keep(
        ("movies", browse.url()),
        lambda: catalog.list_movies(
            catalogue, browse.query(), PageRequest(page=browse.page, page_size=GRID_SIZE)
        ),
    )
    last_page = max(1, -(-found.total // GRID_SIZE))
    context: dict[str, Any] = {
        "browse": browse,
        "cards": cards(found.items),
        "total": found.total,
        "last_page": last_page,
        "next_url": browse.url(browse.page + 1) if browse.page < last_page else None,
        "plan_names": PLAN_NAMES,
        "sort_names": SORT_NAMES,
    }
    target = _htmx_target(request)
    if target == "movie-grid":  # the next page, appended by infinite scroll
        response = data.render(request, "partials/viewer_more.html", viewer=viewer, **context)
    elif target is not None:  # new results as the viewer types or filters
        response = data.render(
            request, "partials/movie_grid.html", viewer=viewer, partial=True, **context
        )
        response.headers["HX-Push-Url"] = browse.url()
    else:
        categories = await data.load_or_keep(
            ("categories",), lambda: _categories_with_films(catalogue)
        )
        response = data.render(
            request,
            "movies.html",
            viewer=viewer,
            categories=[category for category, _ in categories],
            access_levels=list(AccessLevel),
            **context,
        )
    response.headers["Vary"] = "HX-Request, HX-Target"
    return response


def _htmx_target(request: Request) -> str | None:
    """The element an htmx request will swap, or None for a whole page."""
    headers = request.headers
    if not headers.get("hx-request") or headers.get("hx-history-restore-request"):
        return None
    return headers.get("hx-target") or "movie-results"


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
    related: list[Card]


async def _film(session: AsyncSession, slug: str) -> Film:
    movie = await catalog.get_movie(session, slug)  # unknown or unpublished: the 404 page
    if movie.category is not None:
        related = await _newest(session, str(movie.category.id), RELATED + 1)
    else:
        related = await _newest(session, size=RELATED + 1)
    return Film(card(movie), cards([other for other in related if other.id != movie.id][:RELATED]))


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
        plan_names=PLAN_NAMES,
        now=utcnow(),
    )
    if viewer is not None:  # renewed at each visit, so it lives as long as it is used
        _keep_device(request, response, device)
    return response


class ProgressReport(BaseModel):
    position: float = Field(ge=0, le=watching.MAX_POSITION)


async def _progress_report(request: Request) -> ProgressReport:
    """The report from the player: a form (fetch, sendBeacon) or JSON."""
    try:
        if request.headers.get("content-type", "").startswith("application/json"):
            data: Any = json.loads(await request.body())
        else:
            data = dict(await request.form())
        return ProgressReport.model_validate(data)
    except json.JSONDecodeError as error:
        raise BadRequest("The body is not valid JSON.") from error
    except ValidationError as error:
        raise Unprocessable("position: a number of seconds is required.") from error


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
