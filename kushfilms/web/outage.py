"""Catalogue pages that outlast a database outage, for anonymous visitors.

Every page embeds its visitor's own CSRF token, so whole pages are never kept
(another visitor would be handed that token): the catalogue *data* a page
renders is. Each load a page makes through :meth:`PageData.load_or_keep` is kept
when it succeeds, by a key naming what was asked for. While the database is
unavailable, an anonymous visitor's page is rendered from the kept copies, with
the visitor's own token, status 200, a notice that it may be out of date, and
``Cache-Control: no-store`` (nobody may keep a page that says it is stale).

A page whose data was never kept answers the 503 page. So do signed-in
visitors' pages: they need the visitor's account, which is in the database
(their session is looked up before the page's data is).

Kept data is dropped after :data:`OUTAGE_SECONDS`, and at once when this
process changes the catalogue (as the API's response cache is), so that a film
taken down is not shown again by an outage.
"""

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from kushfilms.errors import ServiceUnavailable, is_database_unavailable
from kushfilms.kit.cache import Generation, ResponseCache
from kushfilms.web.deps import PageViewer, Templates
from kushfilms.web.templating import Pages

log = logging.getLogger(__name__)

T = TypeVar("T")

# As long as the API's cached answers stand in for the database, so that the
# pages and the API they are built like stay in step through one outage.
OUTAGE_SECONDS: float = ResponseCache.outage_seconds
MAX_ENTRIES = 512  # pages' loads kept; each is a page of films at most


@dataclass(frozen=True, slots=True)
class Kept:
    value: object
    generation: int
    kept_until: float


class KeptData:
    """The last data loaded under each key, least recently used dropped first.

    Values are shared by every request that falls back on them: they are read,
    never changed (ORM rows here are detached, with what the page reads loaded).
    """

    def __init__(
        self,
        generation: Generation,
        *,
        max_entries: int = MAX_ENTRIES,
        seconds: float = OUTAGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.generation = generation
        self.max_entries = max_entries
        self.seconds = seconds
        self.clock = clock
        self.entries: OrderedDict[Hashable, Kept] = OrderedDict()

    def put(self, key: Hashable, value: object) -> None:
        self.entries[key] = Kept(value, self.generation.value, self.clock() + self.seconds)
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)

    def get(self, key: Hashable) -> Kept | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if entry.kept_until <= self.clock() or entry.generation != self.generation.value:
            del self.entries[key]
            return None
        self.entries.move_to_end(key)
        return entry


class PageData:
    """One page request's loads: fresh and kept, or, while the database is
    unavailable and the visitor anonymous, the kept copies (``stale``)."""

    def __init__(self, kept: KeptData, pages: Pages, *, anonymous: bool) -> None:
        self.kept = kept
        self.pages = pages
        self.anonymous = anonymous
        self.stale = False  # the database failed this request; kept data stood in

    async def load_or_keep(self, key: Hashable, loader: Callable[[], Awaitable[T]]) -> T:
        """``loader()``'s result, kept under ``key``; while the database is
        unavailable, the result last kept under ``key`` (503 when there is none)."""
        error: Exception | None = None
        if not self.stale:  # once the database failed this request, it is not asked again
            try:
                value = await loader()
            except Exception as failed:
                if not self.anonymous or not is_database_unavailable(failed):
                    raise
                self.stale, error = True, failed
                log.warning("database unavailable; rendering %r from kept data", key)
            else:
                self.kept.put(key, value)
                return value
        found = self.kept.get(key)
        if found is None:
            raise ServiceUnavailable() from error
        return cast(T, found.value)  # put under this key by the same page's loader

    def render(self, request: Request, template: str, **context: Any) -> HTMLResponse:
        """The page, with the notice and ``no-store`` when kept data stood in."""
        response = self.pages.render(request, template, outdated=self.stale, **context)
        if self.stale:
            response.headers["Cache-Control"] = "no-store"
        return response


async def _page_data(request: Request, viewer: PageViewer, pages: Templates) -> PageData:
    kept: KeptData = request.app.state.kept_data
    return PageData(kept, pages, anonymous=viewer is None)


KeptPageData = Annotated[PageData, Depends(_page_data)]
