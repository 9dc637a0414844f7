"""What viewers see: the home page and the catalogue (the watch page: watch_pages.py).

Through a database outage these three render for anonymous visitors from the
catalogue data they last loaded (kushfilms/web/outage.py); signed-in visitors'
pages need their account, so they answer the 503 page until the database is back.
"""

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.catalog import service as catalog
from kushfilms.catalog.service import MovieFilter, Sort
from kushfilms.deps import ReadSession, ReplicaSession
from kushfilms.kit.pagination import PageRequest
from kushfilms.kit.text import SingleLine
from kushfilms.media import layout, watching
from kushfilms.media.images import BACKDROP, POSTER, Shape, widths_up_to
from kushfilms.models import AccessLevel, Category, Movie, User, VideoStatus
from kushfilms.web.deps import PageViewer
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
class Picture:
    """A picture in every width it was stored at, for an ``<img>`` with a srcset."""

    src: str  # the narrowest, for browsers that take no srcset
    srcset: str  # "<url> 342w, <url> 780w"; "" when it comes in one width
    width: int  # the widest's, beyond which it is never shown
    height: int


def picture(key: str | None, shape: Shape) -> Picture | None:
    if key is None:
        return None
    widest = layout.art_width(key)
    if widest is None:  # a key that names no width: the one file
        width = shape.widths[0]
        return Picture(layout.art_url(key), "", width, round(width / shape.aspect))
    urls = [
        (width, layout.art_url(layout.poster_variant(key, width)))
        for width in widths_up_to(shape, widest)
    ]
    srcset = ", ".join(f"{url} {width}w" for width, url in urls) if len(urls) > 1 else ""
    return Picture(urls[0][1], srcset, widest, round(widest / shape.aspect))


@dataclass(frozen=True, slots=True)
class Card:
    """A film as a card: its pictures, and how far the viewer got."""

    movie: Movie
    wide: Picture | None  # 16:9: the backdrop, else the poster (cropped to fit)
    tall: Picture | None  # 2:3: the poster, else the backdrop
    hue: int  # of the placeholder's gradient, steady for each film
    progress: int | None = None  # seconds watched ("Continue watching")

    @property
    def percent(self) -> int:
        if not self.progress or not self.movie.duration:
            return 0
        return min(100, round(100 * self.progress / self.movie.duration))


def card(movie: Movie, progress: int | None = None) -> Card:
    poster = picture(movie.poster_key, POSTER)
    backdrop = picture(movie.backdrop_key, BACKDROP)
    return Card(
        movie=movie,
        wide=backdrop or poster,
        tall=poster or backdrop,
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


async def newest_films(
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
    newest = await newest_films(catalogue)
    rows: list[Row] = []
    if newest:
        rows.append(Row("new", "New on Kush Films", cards(newest), "/movies?sort=newest"))
    categories = await _categories_with_films(catalogue)
    categories.sort(key=lambda row: (-row[1], row[0].name.lower()))
    for category, _ in categories[:CATEGORY_ROWS]:
        films = await newest_films(catalogue, str(category.id))
        url = f"/movies?{urlencode({'category': category.slug})}"
        rows.append(Row(f"category-{category.slug}", category.name, cards(films), url))
    featured = next((movie for movie in newest if movie.backdrop_key or movie.poster_key), None)
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
