"""A viewer's evening, on a desktop and on a phone: join, sign in, find a film, watch, resume."""

import re

import pytest
from playwright.async_api import expect

from kushfilms.config import Settings
from tests.conftest import Backend
from tests.e2e.journey import (
    DESKTOP,
    PHONE,
    Catalogue,
    Device,
    OpenBrowser,
    current_time,
    kept_progress,
    movie_card,
    new_email,
    playing_past,
    quality_choices,
    register,
    search_catalogue,
    sign_in,
    sign_out,
    site_link,
    start_playing,
)

RESUME_TOLERANCE = 5  # seconds


def allowed_choices(heights: list[int], settings: Settings) -> set[str]:
    """What the quality menu of a viewer on the free plan may offer."""
    return {"Auto"} | {f"{height}p" for height in heights if height <= settings.free_max_height}


@pytest.mark.parametrize("device", [DESKTOP, PHONE], ids=lambda device: device.name)
async def test_a_viewer_joins_finds_a_film_watches_it_and_resumes_it(
    open_browser: OpenBrowser, catalogue: Catalogue, env: Backend, device: Device
) -> None:
    film, other = catalogue.feature, catalogue.short
    # The film has a rung the free plan may not watch, so the menu has one to leave out.
    assert max(film.heights) > env.settings.free_max_height, film.heights
    viewer = await open_browser("viewer", device)
    page = viewer.page
    email = new_email()

    await register(viewer, name="Ada Viewer", email=email)
    await sign_out(viewer)
    await sign_in(viewer, email=email)

    await expect(movie_card(page, film.slug).first).to_be_attached()
    await viewer.press(site_link(page, "Movies"))
    await expect(page).to_have_url(re.compile(r"/movies$"))
    await expect(movie_card(page, other.slug)).to_be_visible()

    await search_catalogue(viewer, "lighthouse")
    await expect(movie_card(page, other.slug)).to_have_count(0)
    await viewer.press(movie_card(page, film.slug).get_by_role("link"))
    await expect(page).to_have_url(re.compile(f"/watch/{film.slug}$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text(film.title)

    await start_playing(viewer)
    await playing_past(page, 3)
    viewer.recording.assert_clean()
    assert set(await quality_choices(viewer)) == allowed_choices(film.heights, env.settings)

    stopped = await current_time(page)
    await viewer.press(site_link(page, "Movies"))  # the player reports where it stopped
    await expect(page).to_have_url(re.compile(r"/movies$"))
    kept = await kept_progress(page, film.slug)
    assert stopped - 1 <= kept <= stopped + RESUME_TOLERANCE, (stopped, kept)

    await page.goto(f"/watch/{film.slug}")
    await expect(page.get_by_test_id("player-resumed")).to_be_visible()
    await start_playing(viewer)
    resumed = await playing_past(page, 0)
    assert abs(resumed - stopped) <= RESUME_TOLERANCE, (stopped, resumed)
    viewer.recording.assert_clean()
