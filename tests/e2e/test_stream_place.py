"""A film closed in the browser frees its stream place at once: a Free viewer who closes
the laptop's film can watch on the phone straight away, not a minute later (the time a
silent device keeps its place). A page left for another and brought back takes its
place again before it plays on."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from playwright.async_api import expect

from tests.conftest import PASSWORD, Backend, bearer
from tests.e2e.journey import OpenBrowser, new_email, register
from tests.films import add_video, film

T = TypeVar("T")
PHONE = "phone-of-ada"


async def eventually(
    ask: Callable[[], Awaitable[T]], done: Callable[[T], bool], *, timeout: float = 10
) -> T:
    """``ask()``'s answer once ``done`` with it (or the last one, at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = await ask()
        if done(answer) or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.2)


async def viewer_watching(
    open_browser: OpenBrowser, client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> tuple[Any, dict[str, Any], dict[str, str]]:
    """A Free viewer's laptop on a film's watch page; the API headers of their phone."""
    movie = await film(client, admin, env, "Night Train", duration=100)
    await add_video(env, movie)
    laptop = await open_browser("laptop")
    email = new_email()
    await register(laptop, name="Ada", email=email)
    await laptop.page.goto(f"/watch/{movie['slug']}")
    await expect(laptop.page.get_by_test_id("player")).to_be_attached()
    signed_in = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    phone = {**bearer(signed_in.json()["access_token"]), "X-Device-Id": PHONE}
    return laptop, movie, phone


async def test_closing_the_film_on_the_laptop_lets_the_phone_watch_at_once(
    open_browser: OpenBrowser, client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    laptop, movie, phone = await viewer_watching(open_browser, client, admin, env)
    playback = f"/api/movies/{movie['slug']}/playback"
    refused = await client.get(playback, headers=phone)

    await laptop.page.close()
    on_phone = await eventually(lambda: client.get(playback, headers=phone), lambda r: r.is_success)

    assert refused.status_code == 409  # the laptop holds the Free plan's one place
    assert on_phone.status_code == 200, on_phone.text


async def test_a_page_left_and_brought_back_takes_its_place_again(
    open_browser: OpenBrowser, client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    laptop, _, phone = await viewer_watching(open_browser, client, admin, env)
    page = laptop.page

    async def watching() -> list[str]:
        listed = await client.get("/api/user/streams", headers=phone)
        return [item["device_id"] for item in listed.json()["items"]]

    before = await watching()
    await page.goto("/movies")  # away: the film's page hands its place back
    away = await eventually(watching, lambda devices: devices == [])
    await page.go_back()  # kept by the browser and shown again, or loaded afresh
    back = await eventually(watching, lambda devices: devices == before)

    assert len(before) == 1
    assert away == []
    assert back == before  # this browser holds its place again
    await expect(page.get_by_test_id("player")).to_be_attached()
    assert await page.get_by_test_id("player").get_attribute("data-stream") != "lost"
