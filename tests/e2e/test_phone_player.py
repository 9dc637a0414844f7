"""The player on a 375 px phone: every control in reach, the picture mostly clear, the
controls out of the way while the film plays, and something to do when it ends."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.catalog.conftest import add_category
from tests.conftest import Backend
from tests.e2e.journey import PHONE, PLAYER_VIDEO, OpenBrowser, playing_past, start_playing
from tests.films import film
from tests.media.journey import ready_movie

WIDTH = 375
MOST_OF_THE_PICTURE = 0.30  # the share of its height the controls may cover
pytestmark = pytest.mark.usefixtures("job_worker")


async def controls_shown(page: Page, shown: bool) -> None:
    """Wait until the control bar has faded in (or out) completely."""
    await page.wait_for_function(
        "([shown]) => {"
        " const opacity = Number(getComputedStyle("
        "   document.getElementById('player-controls')).opacity);"
        " return shown ? opacity === 1 : opacity === 0; }",
        arg=[shown],
        timeout=10_000,
    )


async def test_the_phone_player_fits_fades_while_playing_and_offers_more_at_the_end(
    open_browser: OpenBrowser,
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    env: Backend,
    clips: Callable[..., Path],
) -> None:
    drama = await add_category(client, admin, "Drama")
    # 480p: two rungs a free viewer may watch, so the quality menu is there too.
    clip = clips("phone", seconds=8, width=854, height=480, pattern=3)
    movie = await ready_movie(client, admin, clip, title="Pocket Cinema", category_id=drama["id"])
    other = await film(client, admin, env, "Second Feature", category_id=drama["id"])
    viewer = await open_browser("phone", PHONE)
    page = viewer.page

    await page.goto(f"/watch/{movie['slug']}")
    await start_playing(viewer)
    await playing_past(page, 0.5)
    await expect(page.get_by_test_id("player-quality")).to_be_visible()
    await controls_shown(page, False)  # by themselves, while it plays
    await page.get_by_test_id("player-video").tap()
    await controls_shown(page, True)
    assert not await page.evaluate(f"{PLAYER_VIDEO}.paused"), "a tap paused the film"

    picture = await page.get_by_test_id("player-video").bounding_box()
    bar = await page.get_by_test_id("player-controls").bounding_box()
    assert picture
    assert bar
    assert bar["height"] <= MOST_OF_THE_PICTURE * picture["height"], (bar, picture)
    for control in ("player-play", "player-time", "player-speed", "player-quality"):
        box = await page.get_by_test_id(control).bounding_box()
        assert box, control
        assert box["x"] >= 0, (control, box)
        assert box["x"] + box["width"] <= WIDTH, (control, box)
    fullscreen = page.get_by_test_id("player-fullscreen")
    await expect(fullscreen).to_be_in_viewport(ratio=1)
    box = await fullscreen.bounding_box()
    assert box
    assert box["x"] + box["width"] <= WIDTH, box
    assert box["width"] >= 32, box  # still a finger's target

    await page.get_by_test_id("player-video").tap()  # and away again
    await controls_shown(page, False)
    assert not await page.evaluate(f"{PLAYER_VIDEO}.paused")

    await page.evaluate(f"{PLAYER_VIDEO}.currentTime = {PLAYER_VIDEO}.duration - 0.5")
    end = page.get_by_test_id("player-end")
    await expect(end).to_be_visible(timeout=10_000)
    again = page.get_by_test_id("player-again")
    await expect(again).to_be_in_viewport(ratio=1)
    next_film = end.get_by_role("link", name="Second Feature")
    await expect(next_film).to_have_attribute("href", f"/watch/{other['slug']}")
    await expect(next_film).to_be_in_viewport()
    await controls_shown(page, True)  # ended: nothing hides

    await again.tap()
    await expect(end).to_be_hidden()
    position = await playing_past(page, 0.2)
    assert position < 5, position
    viewer.recording.assert_clean()
