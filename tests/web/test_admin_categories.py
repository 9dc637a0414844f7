"""Categories in the console: listed with their films, made, renamed and deleted by form."""

import html
import re
from typing import Any

import httpx
import pytest

from tests.catalog.conftest import add_category, add_movie
from tests.web.test_admin_pages import form_token, post_form, sign_in


@pytest.fixture
async def console(client: httpx.AsyncClient, admin: dict[str, Any]) -> str:
    """The client signed in to the pages as the administrator; returns the CSRF token."""
    await sign_in(client, admin["user"]["email"])
    return await form_token(client, "/admin")


def rows(page: str) -> list[str]:
    """The category names in the table, in order."""
    return [
        html.unescape(name)
        for name in re.findall(r'data-testid="category-row"[^>]*data-name="([^"]*)"', page)
    ]


def row(page: str, name: str) -> str:
    found = re.search(
        rf'<tr[^>]*data-testid="category-row"[^>]*data-name="{re.escape(name)}".*?</tr>', page, re.S
    )
    assert found, f"no row for {name}"
    return found.group(0)


async def test_the_list_shows_each_category_with_its_films(
    client: httpx.AsyncClient, admin: dict[str, Any], console: str
) -> None:
    drama = await add_category(client, admin, "Drama")
    await add_category(client, admin, "comedy")
    await add_movie(client, admin, title="A", category_id=drama["id"])
    await add_movie(client, admin, title="B", category_id=drama["id"])
    await add_movie(client, admin, title="Draft", category_id=drama["id"], publish=False)

    page = await client.get("/admin/categories")

    assert page.status_code == 200
    assert rows(page.text) == ["comedy", "Drama"]
    assert "2 published films" in row(page.text, "Drama")
    assert "No published films" in row(page.text, "comedy")
    assert f'href="/movies?category={drama["slug"]}"' in row(page.text, "Drama")
    assert 'aria-current="page">Categories</a>' in page.text


async def test_a_new_category_is_made_by_the_form_and_a_bad_name_is_explained(
    client: httpx.AsyncClient, admin: dict[str, Any], console: str
) -> None:
    await add_category(client, admin, "Drama")

    blank = await post_form(client, "/admin/categories", console, name="   ")
    taken = await post_form(client, "/admin/categories", console, name="drama")
    made = await post_form(client, "/admin/categories", console, name="Science <Fiction>")
    listed = await client.get(made.headers.get("location", "/admin/categories"))
    form = await client.get("/admin/movies/new")

    assert blank.status_code == 422
    assert "Give the category a name." in blank.text
    assert taken.status_code == 409
    assert "already" in taken.text
    assert 'value="drama"' in taken.text  # what was typed stays
    assert made.status_code == 303
    assert made.headers["location"] == "/admin/categories?notice=category_created"
    assert "Category created." in listed.text
    assert rows(listed.text) == ["Drama", "Science <Fiction>"]
    assert "Science &lt;Fiction&gt;" in listed.text
    assert ">Science &lt;Fiction&gt;</option>" in form.text  # films can be put in it


async def test_renaming_keeps_the_films_and_refuses_a_name_in_use(
    client: httpx.AsyncClient, admin: dict[str, Any], console: str
) -> None:
    drama = await add_category(client, admin, "Drama")
    await add_category(client, admin, "Comedy")
    movie = await add_movie(client, admin, title="A", category_id=drama["id"])

    clash = await post_form(
        client, f"/admin/categories/{drama['id']}/rename", console, name="comedy"
    )
    renamed = await post_form(
        client, f"/admin/categories/{drama['id']}/rename", console, name="Dramas"
    )
    listed = await client.get("/admin/categories")
    now = await client.get(f"/api/movies/{movie['id']}")

    assert clash.status_code == 409
    assert "already" in row(clash.text, "Drama")
    assert renamed.status_code == 303
    assert renamed.headers["location"] == "/admin/categories?notice=category_renamed"
    assert rows(listed.text) == ["Comedy", "Dramas"]
    assert now.json()["category"]["name"] == "Dramas"


async def test_deleting_asks_first_and_leaves_the_films_uncategorised(
    client: httpx.AsyncClient, admin: dict[str, Any], console: str
) -> None:
    drama = await add_category(client, admin, "Drama")
    movie = await add_movie(client, admin, title="A", category_id=drama["id"])

    confirm = await client.get(f"/admin/categories/{drama['id']}/delete")
    deleted = await post_form(client, f"/admin/categories/{drama['id']}/delete", console)
    listed = await client.get(deleted.headers.get("location", "/admin/categories"))
    now = await client.get(f"/api/movies/{movie['id']}")
    again = await client.get(f"/admin/categories/{drama['id']}/delete")

    assert confirm.status_code == 200
    assert "Delete “Drama”?" in confirm.text
    assert "1 published film" in confirm.text
    assert "without a category" in confirm.text
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/admin/categories?notice=category_deleted"
    assert "Category deleted." in listed.text
    assert rows(listed.text) == []
    assert now.json()["category"] is None
    assert now.json()["title"] == "A"
    assert again.status_code == 404


async def test_viewers_and_forged_forms_cannot_touch_categories(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any], client_from: Any
) -> None:
    drama = await add_category(client, admin, "Drama")
    await sign_in(client, admin["user"]["email"])
    forged = await client.post("/admin/categories", data={"name": "Forged"})
    someone = client_from("198.51.100.40")
    await sign_in(someone, viewer["user"]["email"])
    token = await form_token(someone, "/account")

    page = await someone.get("/admin/categories")
    made = await post_form(someone, "/admin/categories", token, name="Mine")
    gone = await post_form(someone, f"/admin/categories/{drama['id']}/delete", token)
    categories = await client.get("/api/categories")

    assert forged.status_code == 403
    assert page.status_code == 403
    assert made.status_code == 403
    assert gone.status_code == 403
    assert [c["name"] for c in categories.json()["items"]] == ["Drama"]
