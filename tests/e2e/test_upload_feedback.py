"""The upload panel tells the truth: a refused file is the outcome, not a footnote under
"Upload complete"; a good one processes, and its poster appears without a reload."""

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.journey import OpenBrowser, Visitor, sign_in
from tests.media.journey import new_movie

PROCESSING_SECONDS = 60
pytestmark = pytest.mark.usefixtures("job_worker")


def file_input(page: Page) -> Any:
    return page.get_by_test_id("video-upload").locator("input[type=file]:not([webkitdirectory])")


async def edit_page(visitor: Visitor, admin: dict[str, Any], movie: dict[str, Any]) -> Page:
    page = visitor.page
    await page.goto(f"/admin/movies/{movie['id']}/edit")
    await sign_in(
        visitor, email=admin["user"]["email"], lands_on=f"/admin/movies/{movie['id']}/edit"
    )
    await expect(page.get_by_test_id("video-upload")).to_have_attribute("data-ready", "true")
    return page


async def test_a_refused_file_shows_as_the_outcome_with_a_way_to_try_another(
    open_browser: OpenBrowser,
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    clips: Callable[..., Path],
    tmp_path: Path,
) -> None:
    broken = tmp_path / "holiday.mp4"
    broken.write_bytes(b"this is not a video, only words in a file " * 2000)
    good = clips("upload-again", seconds=2, width=320, height=180, pattern=4)
    movie = await new_movie(client, admin, "Second Try")
    operator = await open_browser("operator")
    page = await edit_page(operator, admin, movie)
    uploader = page.get_by_test_id("video-upload")

    # Before anything is uploaded there is no progress to show, not even 0 %.
    await expect(page.get_by_test_id("upload-progress")).to_be_hidden()
    await expect(page.get_by_test_id("upload-percent")).to_be_hidden()

    await file_input(page).first.set_input_files(broken)
    refusal = page.get_by_test_id("upload-refused")
    await expect(refusal).to_be_visible(timeout=30_000)
    await expect(uploader).to_have_attribute("data-state", "refused")
    await expect(refusal).to_have_attribute("role", "alert")
    await expect(refusal.get_by_role("heading")).to_have_text("This file was refused")
    await expect(refusal).to_contain_text("The upload has been deleted.")
    # Nothing says it went well: no "complete", no tick, no full bar, no green.
    await expect(uploader.get_by_text(re.compile("complete", re.I))).to_have_count(0)
    await expect(uploader.locator(".uppy-StatusBar.is-complete")).to_have_count(0)
    await expect(page.get_by_test_id("upload-progress")).to_be_hidden()
    await expect(page.get_by_test_id("uppy-dashboard")).to_be_hidden()
    color = await refusal.evaluate("e => getComputedStyle(e).borderColor")
    assert color != "rgb(45, 107, 82)", color  # the console's green
    await expect(page.get_by_test_id("video-status")).to_have_attribute("data-status", "none")

    await operator.press(refusal.get_by_role("button", name="Choose another file"))
    await expect(refusal).to_be_hidden()
    await expect(page.get_by_test_id("uppy-dashboard")).to_be_visible()
    await expect(page.get_by_test_id("no-poster")).to_be_visible()
    await file_input(page).first.set_input_files(good)
    await expect(page.get_by_test_id("upload-message")).to_contain_text(
        "being processed", timeout=30_000
    )
    await expect(refusal).to_be_hidden()
    await expect(page.get_by_test_id("video-status")).to_have_attribute(
        "data-status", "ready", timeout=PROCESSING_SECONDS * 1000
    )
    # The poster processing took from the video shows up without a reload.
    await expect(page.get_by_test_id("current-poster")).to_be_visible(timeout=10_000)
    await expect(page.get_by_test_id("no-poster")).to_have_count(0)
    # The one answer that should have been an error is the refusal (415) of the broken file.
    others = [line for line in operator.recording.problems if "415" not in line]
    assert not others, others
