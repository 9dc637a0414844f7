"""Segment URLs that lapse within seconds, and a film that plays on through them.

The site here signs segment URLs for 2 s only (``KF_SEGMENT_URL_SECONDS``). The
film is long enough that the player fetches segments well after the first
URLs lapsed (it buffers a minute ahead): it must renew them from the media
playlist on the way, so that no request is refused and the picture never waits.
"""

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Request

from kushfilms.app import create_app
from tests.conftest import Backend, serving
from tests.e2e.journey import DESKTOP, PLAYER_VIDEO, Visitor, playing_past, start_playing
from tests.e2e.recording import Recording
from tests.media.journey import ready_movie

SEGMENT_SECONDS = 2
PLAYED_PAST = 14  # seconds of film: by then segments 60-76 s were fetched, long after 2 s

# Counts the times the picture waited for data once it had started playing.
COUNT_STALLS = f"""() => {{
  const video = {PLAYER_VIDEO};
  window.kfStalls = 0;
  let started = false;
  video.addEventListener("playing", () => {{ started = true; }});
  video.addEventListener("waiting", () => {{ if (started) window.kfStalls += 1; }});
}}"""


@pytest.fixture(scope="module")
def short_lived_site(env: Backend) -> Iterator[str]:
    """The site, on the same database and storage, signing segment URLs for 2 s."""
    settings = env.settings.model_copy(update={"segment_url_seconds": SEGMENT_SECONDS})
    with serving(create_app(settings), name="short-lived-site") as url:
        yield url


async def test_playback_goes_on_past_lapsing_segment_urls_without_a_stall(
    browser: Browser,
    short_lived_site: str,
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    clips: Callable[..., Path],
    job_worker: subprocess.Popen[bytes],
) -> None:
    clip = clips("long-take", seconds=80, width=320, height=180)
    movie = await ready_movie(client, admin, clip, title="The Long Take")
    context = await browser.new_context(base_url=short_lived_site, **DESKTOP.options)
    context.set_default_timeout(10_000)
    recording = Recording.of(context, "viewer")
    segment_tokens: list[str] = []

    def note_segment(request: Request) -> None:
        path = httpx.URL(request.url).path  # /media/<movie>/<token>/<rung>/seg_00000.m4s
        if path.endswith(".m4s"):
            segment_tokens.append(path.split("/")[3])

    context.on("request", note_segment)
    try:
        page = await context.new_page()
        viewer = Visitor(page, DESKTOP, recording)
        await page.goto(f"/watch/{movie['slug']}")
        await page.evaluate(COUNT_STALLS)

        await start_playing(viewer)
        await playing_past(page, PLAYED_PAST, timeout=40_000)

        assert len(set(segment_tokens)) > 1, "the segment URLs were never renewed"
        assert await page.evaluate("window.kfStalls") == 0, "the picture waited for data"
        recording.assert_clean()  # not one request refused
    finally:
        await context.close()
