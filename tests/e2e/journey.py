"""Steps that people take through the site, shared by the browser tests."""

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Locator, Page, expect

from tests.conftest import PASSWORD
from tests.e2e.recording import Recording

PLAYER_VIDEO = "document.getElementById('player-video')"


@dataclass(frozen=True)
class Device:
    name: str
    options: dict[str, Any] = field(default_factory=dict)  # for Browser.new_context
    touch: bool = False


DESKTOP = Device("desktop", {"viewport": {"width": 1280, "height": 800}})
PHONE = Device(
    "phone",
    {
        "viewport": {"width": 375, "height": 812},
        "device_scale_factor": 3,
        "is_mobile": True,
        "has_touch": True,
    },
    touch=True,
)


@dataclass
class Visitor:
    """Someone at a browser: their page, their device, and what the browser reported."""

    page: Page
    device: Device
    recording: Recording

    async def press(self, target: Locator) -> None:
        """Click with a mouse, tap on a touch screen."""
        if self.device.touch:
            await target.tap()
        else:
            await target.click()


OpenBrowser = Callable[..., Awaitable[Visitor]]  # the open_browser fixture: (name, device)


@dataclass(frozen=True)
class Film:
    id: str
    slug: str
    title: str
    heights: list[int]  # of its renditions


@dataclass(frozen=True)
class Catalogue:
    # 30 s: the player starts over when stopped in the last 15 s; and it has a rung (720p)
    # above the free plan's cap.
    feature: Film
    short: Film  # another film, so that searching has something to leave out


def new_email(role: str = "viewer") -> str:
    return f"{role}-{uuid.uuid4().hex[:8]}@example.com"


def site_link(page: Page, name: str) -> Locator:
    """A link of the site's main navigation."""
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name)


def account_link(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Account").get_by_role("link")


async def register(visitor: Visitor, *, name: str, email: str) -> None:
    page = visitor.page
    await page.goto("/register")
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await visitor.press(page.get_by_role("button", name="Create account"))
    await expect(page).to_have_url(re.compile(r"/$"))
    await expect(account_link(page).first).to_have_text(name)


async def sign_out(visitor: Visitor) -> None:
    page = visitor.page
    await visitor.press(page.get_by_role("button", name="Sign out"))
    await expect(page.get_by_role("link", name="Sign in")).to_be_visible()


async def sign_in(visitor: Visitor, *, email: str, lands_on: str = "/") -> None:
    """Fill in the sign-in form (open it first unless the site already sent us there)."""
    page = visitor.page
    if "/login" not in page.url:
        await page.goto("/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await visitor.press(page.get_by_role("button", name="Sign in"))
    await expect(page).to_have_url(re.compile(re.escape(lands_on) + "$"))
    await expect(page.get_by_role("button", name="Sign out")).to_be_attached()


def movie_card(page: Page, slug: str) -> Locator:
    return page.locator(f'[data-testid="movie-card"][data-slug="{slug}"]')


async def search_catalogue(visitor: Visitor, words: str) -> None:
    """Type into the catalogue's search box, key by key, as a person does.

    The results must change in place (htmx), not by loading another page: a mark
    left on the page before typing must still be there afterwards.
    """
    page = visitor.page
    await page.evaluate("window.kfSamePage = true")
    box = page.get_by_test_id("movie-search")
    await visitor.press(box)
    await box.press_sequentially(words, delay=60)
    await expect(page.get_by_test_id("results-summary")).to_contain_text(f"matching “{words}”")
    await expect(page).to_have_url(re.compile(r"/movies\?search=" + re.escape(words)))
    assert await page.evaluate("window.kfSamePage === true"), "the search reloaded the page"


async def start_playing(visitor: Visitor) -> None:
    """Press play unless the film started by itself (where the browser allows autoplay)."""
    page = visitor.page
    await expect(page.get_by_test_id("player")).to_have_class(re.compile(r"\bplayer-ready\b"))
    if await page.evaluate(f"{PLAYER_VIDEO}.paused"):
        await visitor.press(page.get_by_test_id("player-bigplay"))


async def playing_past(page: Page, seconds: float, *, timeout: float = 20_000) -> float:
    """Wait until the film has played past ``seconds``; returns where it is."""
    await page.wait_for_function(
        f"(seconds) => {PLAYER_VIDEO}.currentTime > seconds && !{PLAYER_VIDEO}.paused",
        arg=seconds,
        timeout=timeout,
    )
    position: float = await page.evaluate(f"{PLAYER_VIDEO}.currentTime")
    return position


async def current_time(page: Page) -> float:
    position: float = await page.evaluate(f"{PLAYER_VIDEO}.currentTime")
    return position


async def quality_choices(visitor: Visitor) -> list[str]:
    """Open the quality menu and read its choices, then close it again."""
    page = visitor.page
    button = page.get_by_test_id("player-quality")
    menu = page.get_by_test_id("player-quality-menu")
    await expect(button).to_be_visible()
    await visitor.press(button)
    await expect(menu).to_be_visible()
    choices = [text.strip() for text in await menu.get_by_role("menuitemradio").all_inner_texts()]
    await visitor.press(button)
    await expect(menu).to_be_hidden()
    return choices


async def kept_progress(page: Page, slug: str, *, timeout: float = 5) -> int:
    """Where the site remembers this viewer stopped the film, once it does (0: nowhere)."""
    deadline = time.monotonic() + timeout
    while True:
        response = await page.request.get("/api/user/history")
        assert response.ok, await response.text()
        entries = (await response.json())["items"]
        progress = next((e["progress"] for e in entries if e["movie"]["slug"] == slug), 0)
        if progress or time.monotonic() > deadline:
            return int(progress)
        await asyncio.sleep(0.2)
