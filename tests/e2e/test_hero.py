"""The featured film's backdrop: never stretched past its own width, centred over a
blurred fill of itself."""

from typing import Any

import httpx
from playwright.async_api import expect

from tests.catalog.conftest import add_movie
from tests.e2e.journey import DESKTOP, PHONE, OpenBrowser
from tests.media.test_pictures import GREEN, jpeg, upload


async def test_a_small_backdrop_is_shown_at_its_own_size_over_its_fill(
    open_browser: OpenBrowser, client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    movie = await add_movie(client, admin, title="Small Wonder")
    sent = await upload(client, admin, movie, "backdrop", jpeg((640, 360), GREEN))
    assert sent.status_code == 200, sent.text

    for device in (DESKTOP, PHONE):
        page = (await open_browser(device.name, device)).page
        await page.goto("/")
        backdrop = page.get_by_test_id("hero-backdrop")
        await expect(backdrop).to_be_visible()
        await page.wait_for_function(
            "document.querySelector('.hero-backdrop').complete"
            " && document.querySelector('.hero-fill').complete"
        )
        shown = await page.evaluate(
            """() => {
                const box = (selector) => document.querySelector(selector).getBoundingClientRect();
                const image = document.querySelector('.hero-backdrop');
                const [art, picture, fill] = ['.hero-art', '.hero-backdrop', '.hero-fill'].map(box);
                return {natural: image.naturalWidth, art, picture, fill};
            }"""
        )
        art, picture, fill = shown["art"], shown["picture"], shown["fill"]
        assert shown["natural"] == 640
        assert picture["width"] <= 640.5, (device.name, picture)  # never past its own width
        assert abs(picture["width"] / picture["height"] - 16 / 9) < 0.02  # whole, not cropped
        left = picture["x"] - art["x"]
        right = art["x"] + art["width"] - picture["x"] - picture["width"]
        assert abs(left - right) <= 1, (device.name, left, right)  # in the middle
        assert fill["width"] >= art["width"]
        assert fill["height"] >= art["height"]  # the fill covers what the picture leaves
        # The film's title and Play lie over the picture, not under it.
        on_top = await page.evaluate(
            """() => {
                const play = document.querySelector('[data-testid="hero-play"]');
                const box = play.getBoundingClientRect();
                const [x, y] = [box.x + box.width / 2, box.y + box.height / 2];
                const top = document.elementFromPoint(x, y);
                return play.contains(top);
            }"""
        )
        assert on_top, device.name
