"""What viewers see: the home page, the catalogue, the watch page and its progress reports."""

import asyncio
import re
import uuid
from typing import Any, NamedTuple

import httpx
import pytest

from kushfilms.models import VideoStatus
from tests.catalog.conftest import add_category, add_movie
from tests.conftest import Backend, app_of, register
from tests.films import add_video, film
from tests.web.test_auth_pages import CSRF as CSRF_FIELD
from tests.web.test_auth_pages import form_token, sign_in

HTMX = {"HX-Request": "true"}
CARD = re.compile(r'data-testid="movie-card" data-slug="([^"]+)"')


async def signed_in_viewer(client: httpx.AsyncClient) -> str:
    """Register and sign in through the pages; returns the page's CSRF token."""
    body = await register(client)
    response = await sign_in(client, body["user"]["email"])
    assert response.status_code == 303, response.text
    return await form_token(client, "/account")


async def report(
    client: httpx.AsyncClient, slug: str, position: Any, token: str | None
) -> httpx.Response:
    """A progress report as the player's sendBeacon sends it: form fields."""
    fields = {"position": str(position)}
    if token is not None:
        fields["csrf_token"] = token
    return await client.post(f"/watch/{slug}/progress", data=fields)


def slugs(html: str) -> list[str]:
    return CARD.findall(html)


def row(html: str, key: str) -> str:
    """The HTML of one row of the home page ("" if it is not there)."""
    found = re.search(rf'data-row="{re.escape(key)}".*?</section>', html, re.S)
    return found.group(0) if found else ""


def rows(html: str) -> list[str]:
    return re.findall(r'data-row="([^"]+)"', html)


def attribute(html: str, name: str) -> str:
    found = re.search(rf'{name}="([^"]*)"', html)
    assert found, f"no {name} in the page"
    return found.group(1)


# The home page


async def test_home_features_a_film_with_rows_of_new_films_and_of_each_category(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    drama = await add_category(client, admin, "Drama")
    comedy = await add_category(client, admin, "Comedy")
    await add_category(client, admin, "Empty Shelf")
    river = await film(client, admin, env, "River", category_id=drama["id"])
    rain = await film(client, admin, env, "Rain", category_id=drama["id"])
    laugh = await film(client, admin, env, "Laugh", category_id=comedy["id"])
    await add_movie(client, admin, title="Draft", category_id=drama["id"], publish=False)

    page = await client.get("/")

    assert page.status_code == 200
    hero = re.search(r'data-testid="hero".*?</section>', page.text, re.S)
    assert hero
    assert '<h1 id="hero-title">Laugh</h1>' in hero.group(0)  # the newest film
    assert 'href="/watch/laugh"' in hero.group(0)
    assert rows(page.text) == ["new", "category-drama", "category-comedy"]
    assert slugs(row(page.text, "new")) == [laugh["slug"], rain["slug"], river["slug"]]
    assert slugs(row(page.text, "category-drama")) == [rain["slug"], river["slug"]]
    assert slugs(row(page.text, "category-comedy")) == [laugh["slug"]]
    assert 'href="/movies?category=drama"' in row(page.text, "category-drama")
    assert "Draft" not in page.text
    assert 'data-testid="empty-state"' not in page.text


async def test_the_featured_film_is_the_newest_with_a_poster(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    await film(client, admin, env, "Pictured", poster="art/x/poster-780.jpg")
    await film(client, admin, env, "Plain")

    page = await client.get("/")

    hero = re.search(r'data-testid="hero".*?</section>', page.text, re.S)
    assert hero
    assert "Pictured" in hero.group(0)
    assert 'src="/media/art/x/poster-342.jpg"' in hero.group(0)
    assert "Plain" not in hero.group(0)


async def test_an_empty_catalogue_says_so(client: httpx.AsyncClient, admin: dict[str, Any]) -> None:
    await add_movie(client, admin, title="Not Out Yet", publish=False)

    page = await client.get("/")

    assert page.status_code == 200
    assert 'data-testid="empty-state"' in page.text
    assert "No films yet" in page.text
    assert 'data-testid="hero"' not in page.text
    assert rows(page.text) == []
    assert "Not Out Yet" not in page.text


async def test_continue_watching_shows_unfinished_films_to_their_viewer_only(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, client_from: Any
) -> None:
    started = await film(client, admin, env, "Half Seen")
    finished = await film(client, admin, env, "Seen It All")
    await film(client, admin, env, "Untouched")
    token = await signed_in_viewer(client)
    assert (await report(client, started["slug"], 30, token)).status_code == 204
    assert (await report(client, finished["slug"], 95, token)).status_code == 204

    mine = await client.get("/")
    anonymous = await client_from("198.51.100.7").get("/")

    assert rows(mine.text)[0] == "continue"
    continuing = row(mine.text, "continue")
    assert slugs(continuing) == [started["slug"]]
    assert "watched 0:30 of 1:40" in continuing
    assert 'class="card-progress-bar" style="width: 30%"' in continuing
    assert "continue" not in rows(anonymous.text)
    assert rows(anonymous.text)[0] == "new"


# The catalogue


async def test_the_catalogue_lists_published_films_only(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    first = await film(client, admin, env, "First Light", release_year=1999, duration=5520)
    second = await film(client, admin, env, "Second Wind")
    await add_movie(client, admin, title="Secret Cut", publish=False)

    page = await client.get("/movies")

    assert page.status_code == 200
    assert slugs(page.text) == [second["slug"], first["slug"]]  # newest first
    assert "2 films" in page.text
    assert "1999 · 1 h 32 min" in page.text
    assert "Secret Cut" not in page.text
    assert 'data-testid="movie-pager"' not in page.text
    assert 'data-testid="movie-more"' not in page.text


async def test_search_narrows_the_catalogue_and_forgives_a_typo(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    metropolis = await film(client, admin, env, "Metropolis")
    await film(client, admin, env, "Heat")

    exact = await client.get("/movies", params={"search": "metro"})
    typo = await client.get("/movies", params={"search": "metropolsi"})

    assert slugs(exact.text) == [metropolis["slug"]]
    assert "1 film matching “metro”" in exact.text
    assert 'value="metro"' in exact.text
    assert "<title>“metro” · Films · Kush Films</title>" in exact.text
    assert slugs(typo.text) == [metropolis["slug"]]


async def test_category_and_plan_filters_combine(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    drama = await add_category(client, admin, "Drama")
    free_drama = await film(client, admin, env, "Free Drama", category_id=drama["id"])
    paid_drama = await film(
        client, admin, env, "Paid Drama", category_id=drama["id"], access_level="PREMIUM"
    )
    paid_other = await film(client, admin, env, "Paid Other", access_level="PREMIUM")

    by_category = await client.get("/movies", params={"category": "drama"})
    by_plan = await client.get("/movies", params={"access_level": "premium"})
    both = await client.get("/movies", params={"category": "drama", "access_level": "FREE"})

    assert sorted(slugs(by_category.text)) == sorted([free_drama["slug"], paid_drama["slug"]])
    assert '<option value="drama" selected>Drama</option>' in by_category.text
    assert sorted(slugs(by_plan.text)) == sorted([paid_drama["slug"], paid_other["slug"]])
    assert '<option value="PREMIUM" selected>Premium</option>' in by_plan.text
    assert slugs(both.text) == [free_drama["slug"]]
    assert 'href="/movies">Clear filters</a>' in both.text


async def test_sorting_by_title_goes_from_a_to_z(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    for title in ("Mango", "apple", "Zebra", "Banana"):
        await film(client, admin, env, title)

    page = await client.get("/movies", params={"sort": "title"})

    assert slugs(page.text) == ["apple", "banana", "mango", "zebra"]
    assert '<option value="title" selected>Title (A to Z)</option>' in page.text


async def test_a_long_catalogue_comes_in_pages_and_by_infinite_scroll(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    for number in range(26):
        await add_movie(client, admin, title=f"Film {number:02d}")

    first = await client.get("/movies", params={"sort": "title"})
    second = await client.get("/movies", params={"sort": "title", "page": "2"})
    scrolled = await client.get(
        "/movies?sort=title&page=2", headers={**HTMX, "HX-Target": "movie-grid"}
    )
    beyond = await client.get("/movies", params={"page": "3"})

    assert slugs(first.text) == [f"film-{number:02d}" for number in range(24)]
    assert "26 films" in first.text
    assert "Page 1 of 2" in first.text
    assert 'href="/movies?sort=title&amp;page=2" rel="next"' in first.text
    assert 'hx-get="/movies?sort=title&amp;page=2"' in first.text  # "More films" when revealed
    assert slugs(second.text) == ["film-24", "film-25"]
    assert "Page 2 of 2" in second.text
    assert 'href="/movies?sort=title" rel="prev"' in second.text
    assert 'data-testid="movie-more"' not in second.text
    assert scrolled.status_code == 200
    assert slugs(scrolled.text) == ["film-24", "film-25"]
    assert "<html" not in scrolled.text
    assert 'id="movie-results"' not in scrolled.text  # only cards, appended to the grid
    assert 'id="movie-more" class="grid-more" hidden hx-swap-oob="true"' in scrolled.text
    assert slugs(beyond.text) == []
    assert "There is no page 3" in beyond.text


async def test_filtering_with_htmx_swaps_only_the_results_and_updates_the_address(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    heat = await film(client, admin, env, "Heat")
    await film(client, admin, env, "Metropolis")

    response = await client.get(
        "/movies",
        params={"search": "  heat ", "sort": "", "access_level": ""},
        headers={**HTMX, "HX-Target": "movie-results"},
    )

    assert response.status_code == 200
    assert "<html" not in response.text
    assert 'id="movie-filters"' not in response.text
    assert '<section id="movie-results"' in response.text
    assert slugs(response.text) == [heat["slug"]]
    assert response.headers["HX-Push-Url"] == "/movies?search=heat"
    assert "<title>“heat” · Films · Kush Films</title>" in response.text
    assert "1 film found" in response.text  # announced to screen readers
    assert "HX-Request" in response.headers["vary"]


async def test_no_match_shows_an_empty_state_with_a_way_back(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    await film(client, admin, env, "Heat")

    page = await client.get("/movies", params={"search": "qwxz"})
    unknown_category = await client.get("/movies", params={"category": "no-such-shelf"})

    assert page.status_code == 200
    assert slugs(page.text) == []
    assert "No films match “qwxz”" in page.text
    assert 'data-testid="clear-filters"' in page.text
    assert unknown_category.status_code == 200
    assert "No films match these filters" in unknown_category.text


@pytest.mark.parametrize(
    "query",
    [
        {"access_level": "GOLD"},
        {"sort": "sideways"},
        {"access_level": "1 OR 1=1", "sort": "<b>"},
        {"search": "   "},
    ],
)
async def test_unknown_choices_mean_any(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, query: dict[str, str]
) -> None:
    older = await film(client, admin, env, "Older", access_level="BASIC")
    newer = await film(client, admin, env, "Newer")

    page = await client.get("/movies", params=query)

    assert page.status_code == 200
    assert slugs(page.text) == [newer["slug"], older["slug"]]
    assert "Clear filters" not in page.text


async def test_titles_are_shown_as_text_not_markup(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    await film(client, admin, env, "<script>alert(1)</script>", description="<b>bold</b> & co")

    listing = await client.get("/movies")
    home = await client.get("/")
    searched = await client.get("/movies", params={"search": '"><img src=x onerror=alert(1)>'})

    for page in (listing, home):
        assert "<script>alert(1)</script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in home.text
    assert "<img src=x" not in searched.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in searched.text


# The watch page


async def test_unknown_and_unpublished_films_are_a_not_found_page(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    draft = await add_movie(client, admin, title="Still Editing", publish=False)

    for path in ("/watch/no-such-film", f"/watch/{draft['slug']}", f"/watch/{draft['id']}"):
        page = await client.get(path)
        assert page.status_code == 404, path
        assert page.headers["content-type"].startswith("text/html")
        assert "Nothing here" in page.text
        assert "Still Editing" not in page.text


async def test_a_free_ready_film_plays_with_a_signed_playlist(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    movie = await film(client, admin, env, "Open Air", duration=754, release_year=2021)
    await add_video(env, movie)

    page = await client.get(f"/watch/{movie['slug']}")
    manifest = attribute(page.text, "data-manifest")
    playlist = await client.get(manifest)
    forged = await client.get(manifest.replace(movie["id"], str(uuid.uuid4())))

    assert page.status_code == 200
    assert 'data-testid="player"' in page.text
    assert 'data-testid="watch-state"' not in page.text
    assert re.fullmatch(rf"/media/{movie['id']}/[^/]+/master\.m3u8", manifest)
    assert attribute(page.text, "data-duration") == "754"
    assert attribute(page.text, "data-resume") == "0"
    assert "data-report-progress" not in page.text  # nobody to remember it for
    assert "<title>Open Air · Kush Films</title>" in page.text
    assert "2021 · 12 min" in page.text
    assert playlist.status_code == 200
    assert "360p/index.m3u8" in playlist.text
    assert "720p/index.m3u8" not in playlist.text  # HD is for subscribers
    assert forged.status_code == 403


async def test_the_player_of_a_signed_in_viewer_reports_progress_to_the_film(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    movie = await film(client, admin, env, "Night Bus")
    await add_video(env, movie)
    token = await signed_in_viewer(client)

    page = await client.get(f"/watch/{movie['slug']}")
    progress_url = attribute(page.text, "data-progress-url")
    reported = await client.post(progress_url, data={"position": "12", "csrf_token": token})
    history = await client.get("/api/user/history")

    assert "data-report-progress" in page.text
    assert progress_url == f"/watch/{movie['slug']}/progress"
    assert attribute(page.text, "data-title") == "Night Bus"
    assert 'aria-label="Play Night Bus"' in page.text
    assert reported.status_code == 204
    assert history.json()["items"][0]["progress"] == 12


@pytest.mark.parametrize(("level", "plan"), [("BASIC", "Basic"), ("PREMIUM", "Premium")])
async def test_anonymous_viewers_are_asked_to_sign_in_for_paid_films(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, level: str, plan: str
) -> None:
    movie = await film(client, admin, env, "Members Night", access_level=level)
    await add_video(env, movie)

    page = await client.get(f"/watch/{movie['slug']}")

    assert page.status_code == 200
    assert 'data-testid="player"' not in page.text
    assert 'data-manifest="' not in page.text
    assert attribute(page.text, "data-state") == "sign_in"
    assert f"part of the {plan} plan" in page.text
    assert f'href="/login?next=/watch/{movie["slug"]}"' in page.text


async def test_free_viewers_are_told_which_plan_opens_a_premium_film(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    movie = await film(client, admin, env, "Grand Finale", access_level="PREMIUM")
    await add_video(env, movie)
    await signed_in_viewer(client)

    page = await client.get(f"/watch/{movie['slug']}")

    assert page.status_code == 200
    assert 'data-manifest="' not in page.text
    assert attribute(page.text, "data-state") == "upgrade"
    required = re.search(r'data-testid="required-plan">(.*?)</p>', page.text, re.S)
    assert required
    assert "<strong>Premium plan</strong>" in required.group(1)


@pytest.mark.parametrize(
    ("status", "fields", "state", "says"),
    [
        (VideoStatus.UPLOADED, {}, "processing", "ready to watch in a few minutes"),
        (VideoStatus.PROCESSING, {"progress": 42.4}, "processing", "(42 % done)"),
        (VideoStatus.FAILED, {"error": "no frames"}, "unavailable", "not available right now"),
    ],
)
async def test_a_film_without_a_playable_video_says_why(
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    env: Backend,
    status: VideoStatus,
    fields: dict[str, Any],
    state: str,
    says: str,
) -> None:
    movie = await film(client, admin, env, "Almost There")
    await add_video(env, movie, status, **fields)
    bare = await film(client, admin, env, "No Video At All")

    page = await client.get(f"/watch/{movie['slug']}")
    without_video = await client.get(f"/watch/{bare['slug']}")

    assert page.status_code == 200
    assert attribute(page.text, "data-state") == state
    assert says in page.text
    assert "no frames" not in page.text  # operators' details stay in the console
    assert attribute(without_video.text, "data-state") == "unavailable"


async def test_more_films_of_the_same_category_are_offered(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    drama = await add_category(client, admin, "Drama")
    comedy = await add_category(client, admin, "Comedy")
    older = await film(client, admin, env, "Older Drama", category_id=drama["id"])
    watching = await film(client, admin, env, "This Drama", category_id=drama["id"])
    newer = await film(client, admin, env, "Newer Drama", category_id=drama["id"])
    await film(client, admin, env, "A Comedy", category_id=comedy["id"])
    await add_movie(client, admin, title="Draft Drama", category_id=drama["id"], publish=False)

    page = await client.get(f"/watch/{watching['slug']}")

    related = re.search(r'data-testid="related".*?</section>', page.text, re.S)
    assert related
    assert "More in Drama" in related.group(0)
    assert slugs(related.group(0)) == [newer["slug"], older["slug"]]
    assert 'data-testid="watch-category">Drama</a>' in page.text


async def test_a_film_alone_in_its_category_offers_the_newest_films_next(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    drama = await add_category(client, admin, "Drama")
    comedy = await add_category(client, admin, "Comedy")
    other = await film(client, admin, env, "Another Drama", category_id=drama["id"])
    alone = await film(client, admin, env, "The Only Comedy", category_id=comedy["id"])
    newest = await film(client, admin, env, "Newest Drama", category_id=drama["id"])
    await add_video(env, alone)

    page = await client.get(f"/watch/{alone['slug']}")

    offered = re.search(r'data-testid="player-next".*?</ul>', page.text, re.S)
    assert offered
    assert re.findall(r'href="/watch/([^"]+)"', offered.group(0)) == [
        newest["slug"],
        other["slug"],
    ]
    assert 'data-testid="related"' not in page.text  # nothing more in Comedy


async def test_the_player_resumes_where_the_viewer_left_off(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, client_from: Any
) -> None:
    movie = await film(client, admin, env, "Long Road", duration=600)
    await add_video(env, movie)
    token = await signed_in_viewer(client)
    assert (await report(client, movie["slug"], 123.6, token)).status_code == 204

    mine = await client.get(f"/watch/{movie['slug']}")
    someone_else = await client_from("198.51.100.7").get(f"/watch/{movie['slug']}")

    assert attribute(mine.text, "data-resume") == "124"
    assert attribute(someone_else.text, "data-resume") == "0"


# Progress reports from the player


async def test_a_progress_report_is_kept_in_the_watch_history(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    movie = await film(client, admin, env, "Slow Boat")
    token = await signed_in_viewer(client)

    first = await report(client, movie["slug"], 10, token)
    later = await report(client, movie["slug"], 42, token)
    history = await client.get("/api/user/history")
    account = await client.get("/account")

    assert first.status_code == later.status_code == 204
    assert later.content == b""
    assert [(i["movie"]["title"], i["progress"]) for i in history.json()["items"]] == [
        ("Slow Boat", 42)
    ]
    assert "0:42 of 1:40" in account.text


async def test_a_progress_report_may_be_json_with_the_token_in_a_header(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    movie = await film(client, admin, env, "Fast Car")
    token = await signed_in_viewer(client)

    response = await client.post(
        f"/watch/{movie['slug']}/progress",
        json={"position": 61},
        headers={"X-CSRF-Token": token},
    )
    broken = await client.post(
        f"/watch/{movie['slug']}/progress",
        content=b'{"position": ',
        headers={"X-CSRF-Token": token, "Content-Type": "application/json"},
    )
    history = await client.get("/api/user/history")

    assert response.status_code == 204
    assert broken.status_code == 400
    assert "The body is not valid JSON." in broken.text
    assert history.json()["items"][0]["progress"] == 61


async def test_a_progress_report_without_the_csrf_token_is_refused(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    movie = await film(client, admin, env, "Guarded")
    await signed_in_viewer(client)

    missing = await report(client, movie["slug"], 30, None)
    forged = await report(client, movie["slug"], 30, "not-the-token")
    json_without = await client.post(f"/watch/{movie['slug']}/progress", json={"position": 30})
    history = await client.get("/api/user/history")

    assert missing.status_code == forged.status_code == json_without.status_code == 403
    assert forged.json()["error"]["code"] == "csrf_failed"
    assert history.json()["total"] == 0


async def test_anonymous_progress_reports_are_refused(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    movie = await film(client, admin, env, "Anyone")
    token = await form_token(client, "/login")  # a browser with our CSRF cookie

    response = await report(client, movie["slug"], 30, token)

    assert response.status_code == 401
    # The player's own request: the API's JSON shape, not a page.
    assert response.json()["error"]["message"] == "Sign in to keep your place in films."


@pytest.mark.parametrize("position", ["-5", "soon", "", "nan", "inf", str(8 * 24 * 3600)])
async def test_a_nonsense_position_is_refused(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, position: str
) -> None:
    movie = await film(client, admin, env, "Precise")
    token = await signed_in_viewer(client)

    as_form = await report(client, movie["slug"], position, token)
    as_json = await client.post(
        f"/watch/{movie['slug']}/progress",
        json={"position": position},
        headers={"X-CSRF-Token": token},
    )
    history = await client.get("/api/user/history")

    for response in (as_form, as_json):
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["message"] == "position: a number of seconds is required."
    assert history.json()["total"] == 0


async def test_progress_for_a_film_that_is_not_out_is_not_found(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    draft = await add_movie(client, admin, title="Under Wraps", publish=False)
    token = await signed_in_viewer(client)

    unknown = await report(client, "no-such-film", 30, token)
    unpublished = await report(client, draft["slug"], 30, token)

    assert unknown.status_code == unpublished.status_code == 404
    assert (await client.get("/api/user/history")).json()["total"] == 0


# Devices watching at once (the plan's simultaneous streams)

TV = {"X-Device-Id": "living-room-tv"}


async def test_the_watch_page_keeps_the_browser_as_a_device_in_a_long_lived_cookie(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    movie = await film(client, admin, env, "Long Haul")
    await add_video(env, movie)
    anonymous = await client.get(f"/watch/{movie['slug']}")
    await signed_in_viewer(client)

    first = await client.get(f"/watch/{movie['slug']}")
    device = client.cookies["kf_device"]
    again = await client.get(f"/watch/{movie['slug']}")
    streams = await client.get("/api/user/streams")  # the pages' own scripts

    assert not [c for c in anonymous.headers.get_list("set-cookie") if "kf_device" in c]
    [cookie] = [c for c in first.headers.get_list("set-cookie") if c.startswith("kf_device=")]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert f"Max-Age={400 * 24 * 3600}" in cookie
    assert "Secure" not in cookie  # plain HTTP here; HTTPS gets Secure
    assert re.fullmatch(r"[A-Za-z0-9_-]{8,64}", device)
    assert again.status_code == 200
    assert client.cookies["kf_device"] == device
    assert 'data-testid="player"' in again.text
    [stream] = streams.json()["items"]
    assert (stream["device_id"], stream["current"]) == (device, True)
    assert stream["movie"]["title"] == "Long Haul"


class TvWatching(NamedTuple):
    movie: dict[str, Any]  # "Night Train", which the viewer opens in the browser
    elsewhere: dict[str, Any]  # "Morning Fog", playing on the television
    tv: httpx.AsyncClient
    tv_headers: dict[str, str]
    playing: httpx.Response  # the television's playback start


async def tv_watching(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, client_from: Any
) -> TvWatching:
    """A Free viewer signed in to this browser whose one stream place is taken by a
    film playing on their television."""
    movie = await film(client, admin, env, "Night Train")
    elsewhere = await film(client, admin, env, "Morning Fog")
    for each in (movie, elsewhere):
        await add_video(env, each)
    body = await register(client)
    assert (await sign_in(client, body["user"]["email"])).status_code == 303
    tv = client_from("198.51.100.20")
    tv_headers = {"Authorization": f"Bearer {body['access_token']}", **TV}
    playing = await tv.get(f"/api/movies/{elsewhere['slug']}/playback", headers=tv_headers)
    return TvWatching(movie, elsewhere, tv, tv_headers, playing)


async def test_when_the_plans_devices_are_all_watching_the_page_lists_them_to_end_one(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, client_from: Any
) -> None:
    movie, elsewhere, tv, tv_headers, playing = await tv_watching(client, admin, env, client_from)

    page = await client.get(f"/watch/{movie['slug']}")
    token = CSRF_FIELD.search(page.text)
    assert token
    end_url = f"/watch/{movie['slug']}/devices/living-room-tv/end"
    forged = await client.post(end_url, data={"csrf_token": "forged"})
    ended = await client.post(end_url, data={"csrf_token": token.group(1)})
    after = await client.get(ended.headers["location"])
    tv_report = await tv.post(
        "/api/watch/progress",
        json={"movie_id": elsewhere["id"], "progress": 60},
        headers=tv_headers,
    )

    assert playing.status_code == 200
    assert page.status_code == 200
    assert attribute(page.text, "data-state") == "devices"
    assert 'data-manifest="' not in page.text
    assert "You are watching on 1 device, the most your plan allows" in page.text
    devices = re.search(r'data-testid="stream-devices".*?</ul>', page.text, re.S)
    assert devices
    assert re.findall(r'data-device="([^"]+)"', devices.group(0)) == ["living-room-tv"]
    assert f'<a href="/watch/{elsewhere["slug"]}">Morning Fog</a>' in devices.group(0)
    assert f'action="{end_url}"' in devices.group(0)
    assert 'href="/pricing"' in page.text  # Basic and Premium allow more
    assert forged.status_code == 403
    assert ended.status_code == 303
    assert ended.headers["location"] == f"/watch/{movie['slug']}"
    assert 'data-testid="player"' in after.text
    assert tv_report.status_code == 409  # the television's player stops
    assert tv_report.json()["error"]["code"] == "too_many_streams"


async def test_a_progress_report_is_the_heartbeat_and_says_when_the_place_was_taken(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, client_of_app: Any
) -> None:
    movie = await film(client, admin, env, "Short Fuse")
    await add_video(env, movie)
    idle = 2
    browser = await client_of_app(stream_idle_seconds=idle)
    body = await register(browser)
    assert (await sign_in(browser, body["user"]["email"])).status_code == 303
    tv = await app_of(browser).state.client_of("198.51.100.21")
    tv_headers = {"Authorization": f"Bearer {body['access_token']}", **TV}

    page = await browser.get(f"/watch/{movie['slug']}")
    token = attribute(page.text, 'name="csrf-token" content')
    kept: list[int] = []
    for position in (1, 2, 3):  # reports keep the browser's place past the idle time
        await asyncio.sleep(idle / 4)
        kept.append((await report(browser, movie["slug"], position, token)).status_code)
        kept.append(
            (await tv.get(f"/api/movies/{movie['slug']}/playback", headers=tv_headers)).status_code
        )
    await asyncio.sleep(idle + 0.2)  # the browser goes quiet; the television takes its place
    taken = await tv.get(f"/api/movies/{movie['slug']}/playback", headers=tv_headers)
    refused = await report(browser, movie["slug"], 30, token)

    assert kept == [204, 409] * 3
    assert taken.status_code == 200
    assert refused.status_code == 409
    error = refused.json()["error"]  # JSON for the player, not a page
    assert error["code"] == "too_many_streams"
    assert error["limit"] == 1
    assert [d["device_id"] for d in error["active_devices"]] == ["living-room-tv"]


async def test_over_https_the_device_cookie_is_secure(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    movie = await film(client, admin, env, "Safe Harbour")
    await add_video(env, movie)
    transport = httpx.ASGITransport(app=env.app, client=("203.0.113.30", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as browser:
        body = await register(browser)
        assert (await sign_in(browser, body["user"]["email"])).status_code == 303

        page = await browser.get(f"/watch/{movie['slug']}")

    [cookie] = [c for c in page.headers.get_list("set-cookie") if c.startswith("kf_device=")]
    assert "Secure" in cookie
    assert 'data-testid="player"' in page.text
