import io
from typing import Any

import httpx
from PIL import Image

from tests.catalog.conftest import add_movie


def png(size: tuple[int, int] = (1000, 1500)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, format="PNG")
    return out.getvalue()


async def test_an_uploaded_poster_is_served_to_everyone(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    movie = await add_movie(client, admin, title="Poster Child")

    response = await client.post(
        f"/api/admin/movies/{movie['id']}/thumbnail",
        files={"file": ("poster.png", png(), "image/png")},
        headers=admin["headers"],
    )

    assert response.status_code == 200, response.text
    url = response.json()["thumbnail_url"]
    assert url.endswith("-780.jpg")
    served = await client.get(url)
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert "immutable" in served.headers["cache-control"]
    assert Image.open(io.BytesIO(served.content)).size == (780, 1170)
    small = await client.get(url.replace("-780.jpg", "-342.jpg"))
    assert Image.open(io.BytesIO(small.content)).size == (342, 513)
    listed = (await client.get("/api/movies")).json()["items"][0]
    assert listed["thumbnail_url"] == url


async def test_only_images_are_accepted_as_posters(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any]
) -> None:
    movie = await add_movie(client, admin, title="Picky")
    path = f"/api/admin/movies/{movie['id']}/thumbnail"

    pdf = await client.post(
        path, files={"file": ("poster.png", b"%PDF-1.4", "image/png")}, headers=admin["headers"]
    )
    missing = await client.post(path, headers=admin["headers"])
    as_viewer = await client.post(
        path, files={"file": ("poster.png", png(), "image/png")}, headers=viewer["headers"]
    )
    unknown = await client.post(
        "/api/admin/movies/00000000-0000-0000-0000-000000000000/thumbnail",
        files={"file": ("poster.png", png((20, 30)), "image/png")},
        headers=admin["headers"],
    )

    assert pdf.status_code == 415
    assert pdf.json()["error"]["code"] == "unsupported_image"
    assert missing.status_code == 422
    assert as_viewer.status_code == 403
    assert unknown.status_code == 404
    after = (await client.get(f"/api/movies/{movie['id']}")).json()
    assert after["thumbnail_url"] is None


async def test_unknown_pictures_are_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get("/media/art/00000000-0000-0000-0000-000000000000/abc123-780.jpg")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "media_not_found"
    traversal = await client.get("/media/art/00000000-0000-0000-0000-000000000000/..%2Fx.jpg")
    assert traversal.status_code in (404, 422)
