"""The console is for administrators only, and forms count only when they come from our pages."""

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from playwright.async_api import Page, expect

from tests.e2e.journey import (
    OpenBrowser,
    account_link,
    new_email,
    register,
    sign_in,
    site_link,
)

ADMIN_PAGES = ["/admin", "/admin/movies", "/admin/movies/new", "/admin/users"]
# A page of another site, which a signed-in administrator is lured to.
ATTACKER = "http://attacker.example"


async def test_a_viewer_is_refused_the_console(open_browser: OpenBrowser) -> None:
    viewer = await open_browser("viewer")
    page = viewer.page
    await register(viewer, name="Curious Viewer", email=new_email())
    await expect(site_link(page, "Movies")).to_be_visible()
    await expect(site_link(page, "Admin")).to_have_count(0)  # no way in is offered

    for path in ADMIN_PAGES:
        response = await page.goto(path)
        assert response is not None
        assert response.status == 403, path
        await expect(page.get_by_role("heading", level=1)).to_have_text("Not for you")
        await expect(page.get_by_test_id("movie-form")).to_have_count(0)


async def test_a_stranger_is_sent_to_sign_in_first(open_browser: OpenBrowser) -> None:
    stranger = await open_browser("stranger")
    page = stranger.page
    for path in ADMIN_PAGES:
        await page.goto(path)
        await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        address = urlsplit(page.url)
        assert (address.path, parse_qs(address.query)["next"]) == ("/login", [path])


async def test_forged_posts_without_the_csrf_token_change_nothing(
    open_browser: OpenBrowser, client: httpx.AsyncClient, admin: dict[str, Any], live_server: str
) -> None:
    operator = await open_browser("operator")
    page = operator.page
    await page.goto("/admin/movies")
    await sign_in(operator, email=admin["user"]["email"], lands_on="/admin/movies")
    films_before = await film_titles(client, admin)

    # A form without the token, posted from the site's own page (as injected markup would).
    async with page.expect_navigation() as navigation:
        await page.evaluate(
            """(title) => {
                const form = document.createElement("form");
                form.method = "post";
                form.action = "/admin/movies/new";
                const field = document.createElement("input");
                field.name = "title";
                field.value = title;
                form.append(field);
                document.body.append(form);
                form.submit();
            }""",
            "Forged from the page",
        )
    response = await navigation.value
    assert response is not None
    assert response.status == 403
    await expect(page.get_by_text("lacks the page's CSRF token")).to_be_visible()

    # The same with the browser's cookies, without a token and with a made-up one.
    for token in ("", "not-the-token"):
        headers = {"X-CSRF-Token": token} if token else {}
        fields = {"title": "Forged by request", **({"csrf_token": token} if token else {})}
        forged = await page.request.post(
            "/admin/movies/new", form=fields, headers=headers, max_redirects=0
        )
        assert forged.status == 403, await forged.text()
        api_call = await page.request.post(
            "/api/admin/movies", data={"title": "Forged through the API"}, headers=headers
        )
        assert api_call.status == 403, await api_call.text()
        assert (await api_call.json())["error"]["code"] == "csrf_failed"

    # Another site's page that posts to ours as soon as it opens.
    await lure_to_attacker(page, f"{live_server}/admin/movies/new", "Forged elsewhere")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Not for you")

    assert await film_titles(client, admin) == films_before
    await page.goto("/admin/movies")
    await expect(page.get_by_text(re.compile("Forged"))).to_have_count(0)
    await expect(account_link(page).first).to_have_text(admin["user"]["name"])  # signed in still


async def lure_to_attacker(page: Page, target: str, title: str) -> None:
    html = f"""<!doctype html><title>Win a prize</title>
        <form id="f" method="post" action="{target}">
          <input name="title" value="{title}">
        </form>
        <script>document.getElementById("f").submit();</script>"""

    await page.route(
        f"{ATTACKER}/**", lambda route: route.fulfill(body=html, content_type="text/html")
    )
    await page.goto(f"{ATTACKER}/prize", wait_until="commit")
    await page.wait_for_url(target)


async def film_titles(client: httpx.AsyncClient, admin: dict[str, Any]) -> list[str]:
    response = await client.get(
        "/api/admin/movies", params={"page_size": 100}, headers=admin["headers"]
    )
    assert response.status_code == 200, response.text
    return sorted(movie["title"] for movie in response.json()["items"])
