"""A film's poster (2:3) and backdrop (16:9): each uploaded, or derived from the other, and
shown where each fits."""

import io
import re
import uuid
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw, ImageStat

from kushfilms.media import layout
from tests.catalog.conftest import add_movie
from tests.conftest import Backend
from tests.web.test_auth_pages import form_token, sign_in

RED, GREEN, YELLOW = (200, 30, 30), (30, 160, 60), (240, 220, 40)


def jpeg(size: tuple[int, int], colour: tuple[int, int, int] = RED) -> bytes:
    image = Image.new("RGB", size, colour)
    # A title across the bottom, as posters have: it must survive whole.
    ImageDraw.Draw(image).rectangle((0, size[1] * 9 // 10, size[0], size[1]), fill=YELLOW)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95)
    return out.getvalue()


async def upload(
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    movie: dict[str, Any],
    kind: str,
    data: bytes,
) -> httpx.Response:
    path = "thumbnail" if kind == "poster" else kind
    return await client.post(
        f"/api/admin/movies/{movie['id']}/{path}",
        files={"file": (f"{kind}.jpg", data, "image/jpeg")},
        headers=admin["headers"],
    )


async def fetched(client: httpx.AsyncClient, url: str) -> Image.Image:
    response = await client.get(url)
    assert response.headers["content-type"] == "image/jpeg"
    return Image.open(io.BytesIO(response.content)).convert("RGB")


async def test_a_portrait_poster_gets_a_backdrop_with_the_whole_poster_in_the_middle(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    movie = await add_movie(client, admin, title="Portrait")

    uploaded = await upload(client, admin, movie, "poster", jpeg((600, 900)))

    assert uploaded.status_code == 200, uploaded.text
    urls = uploaded.json()
    assert urls["thumbnail_url"] == urls["poster_url"]
    assert layout.art_origin(urls["poster_url"]) == "upload"
    assert layout.art_origin(urls["backdrop_url"]) == "derived"
    poster = await fetched(client, urls["poster_url"])
    backdrop = await fetched(client, urls["backdrop_url"])
    assert poster.size == (600, 900)
    assert backdrop.size == (1600, 900)  # 16:9, as tall as the poster: nothing enlarged
    middle = backdrop.crop((500, 0, 1100, 900))
    assert ImageStat.Stat(middle.crop((20, 20, 580, 780))).mean == pytest.approx(RED, abs=8)
    assert ImageStat.Stat(middle.crop((20, 830, 580, 890))).mean == pytest.approx(YELLOW, abs=8)
    left_red = ImageStat.Stat(backdrop.crop((0, 0, 400, 700))).mean[0]
    assert 40 < left_red < 150  # a darkened fill of the poster on either side
    for answer in (
        await client.get(f"/api/movies/{movie['slug']}"),
        await client.get(f"/api/admin/movies/{movie['id']}", headers=admin["headers"]),
    ):
        film = answer.json()
        assert (film["poster_url"], film["backdrop_url"]) == (
            urls["poster_url"],
            urls["backdrop_url"],
        )


async def test_a_landscape_backdrop_features_the_film_and_gives_it_a_poster(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    movie = await add_movie(client, admin, title="Wide Open")

    uploaded = await upload(client, admin, movie, "backdrop", jpeg((1600, 900), GREEN))

    assert uploaded.status_code == 200, uploaded.text
    urls = uploaded.json()
    assert layout.art_origin(urls["backdrop_url"]) == "upload"
    assert layout.art_origin(urls["poster_url"]) == "derived"
    assert (await fetched(client, urls["poster_url"])).size == (780, 1170)
    hero = re.search(r'data-testid="hero".*?</section>', (await client.get("/")).text, re.S)
    assert hero
    backdrop = re.search(r'<img class="hero-backdrop"[^>]*>', hero.group(0))
    assert backdrop
    tag = backdrop.group(0)
    base = urls["backdrop_url"].removesuffix("-1600.jpg")
    # Every width it was stored at, none wider than the picture, which is shown no wider.
    assert f'srcset="{base}-780.jpg 780w, {base}-1280.jpg 1280w, {base}-1600.jpg 1600w"' in tag
    assert 'width="1600" height="900"' in tag
    assert "--natural-width: 1600px" in tag
    # The catalogue's cards are portrait: the poster made from the backdrop.
    catalogue = (await client.get("/movies")).text
    assert 'class="poster poster-tall"' in catalogue
    assert layout.poster_variant(urls["poster_url"], 342) in catalogue


async def test_a_small_backdrop_is_never_offered_wider_than_it_is(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    movie = await add_movie(client, admin, title="Small Screen")

    urls = (await upload(client, admin, movie, "backdrop", jpeg((640, 360), GREEN))).json()

    assert (await fetched(client, urls["backdrop_url"])).size == (640, 360)
    tag = re.search(r'<img class="hero-backdrop"[^>]*>', (await client.get("/")).text)
    assert tag
    assert "srcset" not in tag.group(0)  # one width: its own
    assert 'width="640" height="360"' in tag.group(0)


async def test_an_uploaded_picture_replaces_the_derived_one_and_keeps_the_other(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    movie = await add_movie(client, admin, title="Both Given")
    first = (await upload(client, admin, movie, "backdrop", jpeg((1920, 1080), GREEN))).json()

    second = (await upload(client, admin, movie, "poster", jpeg((780, 1170)))).json()
    third = (await upload(client, admin, movie, "poster", jpeg((780, 1170), YELLOW))).json()

    assert layout.art_origin(second["poster_url"]) == "upload"
    assert second["backdrop_url"] == first["backdrop_url"]  # given, so kept
    assert third["poster_url"] != second["poster_url"]
    assert third["backdrop_url"] == first["backdrop_url"]


@pytest.mark.parametrize("kind", ["poster", "backdrop"])
async def test_a_bad_image_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, kind: str
) -> None:
    movie = await add_movie(client, admin, title="Kept As It Was")
    before = (await upload(client, admin, movie, "poster", jpeg((600, 900)))).json()
    art = layout.art_prefix(uuid.UUID(movie["id"]))
    stored = await env.app.state.storage.list_keys(art)

    refused = await upload(client, admin, movie, kind, b"GIF89a not really a picture")
    cut_short = await upload(client, admin, movie, kind, jpeg((600, 900))[:400])

    assert refused.status_code == cut_short.status_code == 415
    assert refused.json()["error"] == {
        "code": "unsupported_image",
        "message": "The file is not a readable JPEG, PNG or WebP image.",
    }
    assert cut_short.json()["error"]["code"] == "unsupported_image"
    after = (await client.get(f"/api/admin/movies/{movie['id']}", headers=admin["headers"])).json()
    assert (after["poster_url"], after["backdrop_url"]) == (
        before["poster_url"],
        before["backdrop_url"],
    )
    assert await env.app.state.storage.list_keys(art) == stored


async def test_pictures_of_a_film_that_does_not_exist_are_refused(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    ghost = {"id": str(uuid.uuid4())}

    missing = await upload(client, admin, ghost, "backdrop", jpeg((1600, 900)))

    assert missing.status_code == 404


async def test_the_edit_page_says_which_picture_is_which_and_where_each_came_from(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    movie = await add_movie(client, admin, title="Two Slots", publish=False)
    await sign_in(client, admin["user"]["email"])
    token = await form_token(client, f"/admin/movies/{movie['id']}/edit")

    sent = await client.post(
        f"/admin/movies/{movie['id']}/backdrop",
        data={"csrf_token": token},
        files={"file": ("wide.jpg", jpeg((1600, 900), GREEN), "image/jpeg")},
    )

    assert sent.status_code == 303
    page = (await client.get(sent.headers["location"])).text
    assert "Backdrop updated." in page
    assert "Portrait, 2:3" in page
    assert "Landscape, 16:9" in page
    assert 'data-testid="current-backdrop"' in page
    assert 'data-testid="current-poster"' in page
    origin = re.search(r'data-testid="poster-origin">([^<]+)<', page)
    assert origin
    assert origin.group(1).startswith("Made from the backdrop")
