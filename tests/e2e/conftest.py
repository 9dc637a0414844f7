"""Browser tests: Debian's Chromium, driven by Playwright, against the app on a real port.

They run once, on the embedded backend, and are meant to share one test worker,
so that one browser, one live server and one real `kushfilms worker` serve them
all. Each test starts from an empty database, like every other test, and makes
the films it needs through the API and the real transcoding pipeline. When a
test fails, each browser it opened leaves a screenshot of its pages and all it
reported under ``tests/e2e/artifacts/<test>/``.
"""

import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, async_playwright, expect

from kushfilms.media.ffmpeg import ffmpeg_executable
from kushfilms.media.synthetic import render_clip
from tests.e2e.chromium import CHROMIUM, CHROMIUM_FLAGS
from tests.e2e.journey import DESKTOP, Catalogue, Device, Film, OpenBrowser, Visitor
from tests.e2e.recording import Recording
from tests.media.journey import ready_movie

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"
FAILED = pytest.StashKey[bool]()

expect.set_options(timeout=10_000)


# tryfirst: pytest-xdist reads the groups in a hook of its own, which would run first
# when pytest is given tests/e2e (this file then loads before xdist's plugin).
# NB: pytest 9.2 with pytest-xdist 3.8 ignores groups altogether (pytest-xdist#1386);
# the tests then spread over the workers, each starting its own browser and server.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests run once (on SQLite), in one xdist group."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        if not item.path.is_relative_to(HERE):
            kept.append(item)
            continue
        callspec = getattr(item, "callspec", None)
        if callspec and callspec.params.get("backend", "sqlite") != "sqlite":
            dropped.append(item)
            continue
        item.add_marker(pytest.mark.xdist_group("e2e"), append=False)
        kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        item.stash[FAILED] = True  # the browsers' fixture keeps their artifacts
    return report


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (never a downloaded one)")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        await chromium.close()


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``clips(name, seconds=, width=, height=)``: a test card with a tone, made once."""
    folder = tmp_path_factory.mktemp("e2e-clips")
    made: dict[str, Path] = {}

    def clip(name: str, *, seconds: float, width: int, height: int, pattern: int = 0) -> Path:
        if name not in made:
            path = folder / f"{name}.mp4"
            made[name] = render_clip(
                ffmpeg_executable(""),
                path,
                seconds=seconds,
                width=width,
                height=height,
                fps=12,  # few frames: transcoding stays quick
                pattern=pattern,
            )
        return made[name]

    return clip


@pytest.fixture
async def catalogue(
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    clips: Callable[..., Path],
    job_worker: subprocess.Popen[bytes],
) -> Catalogue:
    """Two published films, made by the real pipeline (each test starts from an empty
    database: other tests on this worker may have run in between)."""
    made = []
    for title, clip in (
        ("The Lighthouse Keeper", clips("feature", seconds=30, width=1280, height=720)),
        ("Paper Boats", clips("short", seconds=2, width=320, height=180, pattern=1)),
    ):
        movie = await ready_movie(
            client, admin, clip, title=title, description=f"{title}: a test card with a tone."
        )
        heights = [rendition["height"] for rendition in movie["video"]["renditions"]]
        made.append(Film(movie["id"], movie["slug"], movie["title"], heights))
    return Catalogue(*made)


@pytest.fixture
async def open_browser(
    browser: Browser, live_server: str, request: pytest.FixtureRequest
) -> AsyncIterator[OpenBrowser]:
    """``await open_browser(name, device)``: a fresh browser profile on the live site."""
    opened: list[tuple[BrowserContext, Recording]] = []

    async def open_(name: str = "viewer", device: Device = DESKTOP) -> Visitor:
        context = await browser.new_context(base_url=live_server, **device.options)
        context.set_default_timeout(10_000)
        recording = Recording.of(context, name)
        opened.append((context, recording))
        return Visitor(await context.new_page(), device, recording)

    yield open_
    if request.node.stash.get(FAILED, False):
        await _keep_artifacts(request.node.name, opened)
    for context, _ in opened:
        await context.close()


async def _keep_artifacts(test: str, opened: list[tuple[BrowserContext, Recording]]) -> None:
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", test)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for context, recording in opened:
        for index, page in enumerate(context.pages):
            recording.note(f"page {index} at the end: {page.url}")
            try:
                await page.screenshot(path=folder / f"{recording.name}-{index}.png", full_page=True)
            except Exception as error:  # a page that cannot be shot still has its log
                recording.note(f"no screenshot of page {index}: {error}")
        log = folder / f"{recording.name}-console.log"
        log.write_text("\n".join(recording.lines) + "\n", encoding="utf-8")
