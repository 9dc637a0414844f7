"""The operator adds a film from the console, and a viewer then finds it and watches it."""

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.e2e.journey import (
    OpenBrowser,
    new_email,
    playing_past,
    register,
    search_catalogue,
    sign_in,
    site_link,
    start_playing,
)

PROCESSING_SECONDS = 60
pytestmark = pytest.mark.usefixtures("job_worker")


async def test_an_admin_uploads_a_film_that_a_viewer_then_watches(
    open_browser: OpenBrowser, admin: dict[str, Any], clips: Callable[..., Path]
) -> None:
    clip = clips("upload", seconds=3, width=640, height=360, pattern=2)
    operator = await open_browser("operator")
    page = operator.page

    await page.goto("/admin/movies/new")  # the console sends strangers to sign in first
    await expect(page).to_have_url(re.compile(r"/login\?next="))
    await sign_in(operator, email=admin["user"]["email"], lands_on="/admin/movies/new")

    await page.get_by_label("Title").fill("Harbour Lights")
    await page.get_by_label("Description").fill("Boats come home at dusk.")
    await page.get_by_label("Who may watch").select_option("FREE")
    await page.get_by_label("Release year").fill("2024")
    await operator.press(page.get_by_test_id("save-movie"))
    await expect(page).to_have_url(re.compile(r"/admin/movies/[0-9a-f-]+/edit\?notice=created$"))
    await expect(page.get_by_test_id("notice")).to_contain_text("Film created")
    await expect(page.get_by_test_id("video-status")).to_have_attribute("data-status", "none")

    uploader = page.get_by_test_id("video-upload")
    await expect(uploader).to_have_attribute("data-ready", "true")
    await page.evaluate("window.kfSamePage = true")
    await uploader.locator("input[type=file]:not([webkitdirectory])").first.set_input_files(clip)
    await expect(page.get_by_test_id("upload-message")).to_contain_text(
        "being processed", timeout=30_000
    )
    await expect(page.get_by_test_id("upload-percent")).to_have_text("100 %")
    seen = await video_states_until_ready(page)
    assert seen[-1] == "ready", seen
    assert {"uploaded", "processing"} & set(seen), seen  # it showed the work under way
    assert await page.evaluate("window.kfSamePage === true"), "the page reloaded"

    await operator.press(page.get_by_test_id("publish-button"))
    status = page.get_by_test_id("video-status")
    await expect(status.get_by_text("Published", exact=True)).to_be_visible()
    await expect(status.get_by_role("link", name="Watch it on the site")).to_be_visible()
    operator.recording.assert_clean()

    viewer = await open_browser("viewer")
    await register(viewer, name="Grace Viewer", email=new_email())
    await viewer.press(site_link(viewer.page, "Movies"))
    await search_catalogue(viewer, "harbour")
    card = viewer.page.get_by_test_id("movie-card")
    await expect(card).to_have_count(1)
    await viewer.press(card.get_by_role("link"))
    await expect(viewer.page.get_by_role("heading", level=1)).to_have_text("Harbour Lights")
    await start_playing(viewer)
    await playing_past(viewer.page, 1)
    viewer.recording.assert_clean()


async def video_states_until_ready(page: Page) -> list[str]:
    """The states the video panel shows, in order, until it says ready (or failed)."""
    status = page.get_by_test_id("video-status")
    seen: list[str] = []
    deadline = time.monotonic() + PROCESSING_SECONDS
    while time.monotonic() < deadline:
        state = await status.get_attribute("data-status")
        if state and (not seen or seen[-1] != state):
            seen.append(state)
        if state in ("ready", "failed"):
            break
        await page.wait_for_timeout(100)
    return seen
