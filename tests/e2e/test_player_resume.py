"""The player starts where the server says, with no start-over rule of its own."""

from typing import Any

import httpx
from playwright.async_api import expect

from tests.conftest import Backend
from tests.e2e.journey import OpenBrowser, new_email, register
from tests.films import add_video, film


async def test_the_player_resumes_in_the_last_seconds_when_the_server_says_so(
    open_browser: OpenBrowser, client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    movie = await film(client, admin, env, "Almost Over", duration=100)
    await add_video(env, movie)
    viewer = await open_browser("viewer")
    page = viewer.page
    await register(viewer, name="Late Viewer", email=new_email())
    token = await page.locator('meta[name="csrf-token"]').get_attribute("content")
    # 12 s before the end: short of the 90 % after which the server starts a film over.
    stopped = await page.request.post(
        f"/watch/{movie['slug']}/progress", form={"position": "88", "csrf_token": token or ""}
    )
    assert stopped.status == 204

    await page.goto(f"/watch/{movie['slug']}")

    await expect(page.get_by_test_id("player-resumed")).to_be_visible()
    await expect(page.get_by_test_id("player-resumed")).to_contain_text("Resuming at 1:28")
