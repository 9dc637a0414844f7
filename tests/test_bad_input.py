"""Input that is not text: NUL and other control characters, text-direction controls
in names, days far outside any report. Each is refused with a 4xx that says which
field is wrong (never a 500, which PostgreSQL gave for every NUL it was handed), and
a path with a NUL is simply not found."""

import asyncio
import base64
import http.client
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from kushfilms.kit.text import check_multi_line, check_name, check_single_line, text_problem
from tests.catalog.conftest import add_category, add_movie
from tests.conftest import PASSWORD, register
from tests.web.test_admin_pages import form_token, post_form, sign_in

TUS = {"Tus-Resumable": "1.0.0"}
NUL_NAME = '{"email": "a@example.com", "password": "long-enough", "name": "a\\u0000b"}'
RTL_OVERRIDE = "\u202e"  # "evil\u202egpj.exe" shows as "evilexe.jpg"


def refused(response: httpx.Response, field: str) -> str:
    """Assert a 422 naming ``field``; returns what it says of the field."""
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    found: dict[str, str] = {d["field"]: d["message"] for d in error.get("details", [])}
    assert field in found, error
    return found[field]


# The rule, as pure code


@pytest.mark.parametrize(
    ("text", "single_line", "multi_line", "name"),
    [
        ("Ålesund, 東京 à l'aube", None, None, None),
        ("a\x00b", "U+0000", "U+0000", "U+0000"),
        ("bell\x07", "U+0007", "U+0007", "U+0007"),
        ("escape\x1b[31m", "U+001B", "U+001B", "U+001B"),
        ("delete\x7f", "U+007F", "U+007F", "U+007F"),
        ("next line\x85", "U+0085", "U+0085", "U+0085"),  # C1
        ("two\nlines", "line break (U+000A)", None, "line break (U+000A)"),
        ("carriage\r\nreturn", "line break (U+000D)", None, "line break (U+000D)"),
        ("a\ttab", "U+0009", None, "U+0009"),
        ("line\u2028separator", "U+2028", None, "U+2028"),
        ("half \ud800 a pair", "surrogate (U+D800)", "surrogate (U+D800)", "surrogate (U+D800)"),
        (f"evil{RTL_OVERRIDE}gpj.exe", None, None, "text-direction control (U+202E)"),
        ("isolate\u2066x\u2069", None, None, "U+2066"),
        ("embedding\u202ax", None, None, "U+202A"),
        ("mark\u200fs are fine", None, None, None),  # RLM: needed by right-to-left names
    ],
)
def test_what_each_kind_of_text_refuses(
    text: str, single_line: str | None, multi_line: str | None, name: str | None
) -> None:
    for check, expected in (
        (check_single_line, single_line),
        (check_multi_line, multi_line),
        (check_name, name),
    ):
        problem = text_problem(check, text)
        if expected is None:
            assert problem is None, (check.__name__, text)
        else:
            assert problem is not None, (check.__name__, text)
            assert expected in problem
            assert problem.startswith("Must not contain ")


# Paths


@pytest.mark.parametrize(
    "path",
    [
        "/api/movies/%00",
        "/api/movies/a%00b/playback",
        "/watch/%00",
        "/static/%00",
        "/static/css/%00.css",
        "/admin/movies/%00/edit",
        "/media/art/%00/x-1.jpg",
    ],
)
async def test_a_nul_in_the_path_is_not_found(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_control_character_in_a_film_address_is_refused(
    client: httpx.AsyncClient,
) -> None:
    refused(await client.get("/api/movies/a%01b"), "path.id_or_slug")
    assert (await client.get("/watch/a%01b")).status_code == 422


async def test_the_connection_survives_a_nul(live_server: str, client: httpx.AsyncClient) -> None:
    """Every answer comes back on the one keep-alive connection (a 500 closed it)."""
    bad_requests = [
        ("GET", "/api/movies/%00", None),
        ("GET", "/api/movies?category=%00", None),
        ("GET", "/watch/%00", None),
        ("GET", "/static/%00", None),
        ("POST", "/api/auth/register", NUL_NAME),
        ("GET", "/api/movies", None),
    ]

    def send_all() -> list[int]:
        address = urlsplit(live_server)
        connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
        statuses = []
        try:
            connection.connect()
            first_socket = connection.sock
            for method, path, body in bad_requests:
                headers = {"Content-Type": "application/json"} if body else {}
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                assert not response.will_close, (path, response.status)
                assert connection.sock is first_socket
                statuses.append(response.status)
        finally:
            connection.close()
        return statuses

    assert await asyncio.to_thread(send_all) == [404, 422, 404, 404, 422, 200]


# The catalogue and signing up, without signing in


@pytest.mark.parametrize("value", ["%00", "%01", "a%0Ab", "%C2%85"])
async def test_a_control_character_in_the_catalogue_query_is_refused(
    client: httpx.AsyncClient, value: str
) -> None:
    message = refused(await client.get(f"/api/movies?category={value}"), "query.category")
    assert message.startswith("must not contain")
    refused(await client.get(f"/api/movies?search=night{value}"), "query.search")


async def test_the_catalogue_page_refuses_a_control_character(client: httpx.AsyncClient) -> None:
    page = await client.get("/movies?category=%00")

    assert page.status_code == 422
    assert "text/html" in page.headers["content-type"]
    assert (await client.get("/movies?search=night%01")).status_code == 422
    assert (await client.get("/movies?search=night")).status_code == 200


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a\u0000b", "U+0000"),
        ("two\nlines", "U+000A"),
        (f"admin{RTL_OVERRIDE}nimda", "U+202E"),
        ("\u2067Mallory\u2069", "U+2067"),
    ],
)
async def test_signing_up_refuses_a_name_that_is_not_text(
    client: httpx.AsyncClient, name: str, expected: str
) -> None:
    response = await client.post(
        "/api/auth/register",
        json={"email": "kofi@example.com", "password": PASSWORD, "name": name},
    )

    assert expected in refused(response, "name")
    login = {"email": "kofi@example.com", "password": PASSWORD}
    assert (await client.post("/api/auth/login", json=login)).status_code == 401


async def test_signing_up_takes_names_in_any_script(client: httpx.AsyncClient) -> None:
    body = await register(client, name="Zoë Ålesund-東京 \u200fيوسف")
    assert body["user"]["name"] == "Zoë Ålesund-東京 \u200fيوسف"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "kofi\x00@example.com"}, "email"),
        ({"password": "pass\x00word-long-enough"}, "password"),
    ],
)
async def test_signing_up_refuses_a_control_character_in_any_field(
    client: httpx.AsyncClient, fields: dict[str, str], field: str
) -> None:
    body = {"email": "kofi@example.com", "password": PASSWORD, "name": "Kofi", **fields}
    refused(await client.post("/api/auth/register", json=body), field)


async def test_the_sign_up_page_refuses_a_name_that_is_not_text(
    client: httpx.AsyncClient,
) -> None:
    for name in ("a\x00b", f"x{RTL_OVERRIDE}y"):
        token = await form_token(client, "/register")
        fields = {"name": name, "email": "ama@example.com", "password": PASSWORD}
        page = await client.post(
            "/register", data={"csrf_token": token, **fields}, headers={"Accept": "text/html"}
        )

        assert page.status_code == 422
        assert "text/html" in page.headers["content-type"]
    login = {"email": "ama@example.com", "password": PASSWORD}
    assert (await client.post("/api/auth/login", json=login)).status_code == 401


# What administrators type


@pytest.mark.parametrize(
    ("fields", "field", "expected"),
    [
        ({"title": "Night\x00Train"}, "title", "U+0000"),
        ({"title": "Night\nTrain"}, "title", "line break"),
        ({"title": f"Night {RTL_OVERRIDE}niarT"}, "title", "text-direction control"),
        ({"description": "Dark.\x00"}, "description", "U+0000"),
        ({"description": "Dark.\x1b[2J"}, "description", "U+001B"),
    ],
)
async def test_a_film_whose_text_is_not_text_is_refused(
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    fields: dict[str, str],
    field: str,
    expected: str,
) -> None:
    created = await client.post(
        "/api/admin/movies", json={"title": "Night Train", **fields}, headers=admin["headers"]
    )
    movie = await add_movie(client, admin, publish=False, title="Day Train")
    updated = await client.put(
        f"/api/admin/movies/{movie['id']}", json=fields, headers=admin["headers"]
    )

    assert expected in refused(created, field)
    assert expected in refused(updated, field)
    listed = await client.get("/api/admin/movies", headers=admin["headers"])
    assert [item["title"] for item in listed.json()["items"]] == ["Day Train"]


async def test_a_description_keeps_its_lines_and_tabs(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    description = "First part.\n\n\tSecond part,\r\nindented."
    movie = await add_movie(client, admin, publish=False, description=description)
    assert movie["description"] == description


@pytest.mark.parametrize(
    ("name", "expected"), [("Dra\x00ma", "U+0000"), (f"{RTL_OVERRIDE}amarD", "U+202E")]
)
async def test_a_category_name_that_is_not_text_is_refused(
    client: httpx.AsyncClient, admin: dict[str, Any], name: str, expected: str
) -> None:
    created = await client.post(
        "/api/admin/categories", json={"name": name}, headers=admin["headers"]
    )
    category = await add_category(client, admin, "Drama")
    renamed = await client.put(
        f"/api/admin/categories/{category['id']}", json={"name": name}, headers=admin["headers"]
    )
    described = await client.put(
        f"/api/admin/categories/{category['id']}",
        json={"description": "Tears\x00"},
        headers=admin["headers"],
    )

    assert expected in refused(created, "name")
    assert expected in refused(renamed, "name")
    refused(described, "description")
    listed = await client.get("/api/categories")
    assert [(c["name"], c["description"]) for c in listed.json()["items"]] == [("Drama", "")]


@pytest.mark.parametrize("path", ["/api/admin/users", "/api/admin/movies"])
async def test_an_administrators_search_with_a_nul_is_refused(
    client: httpx.AsyncClient, admin: dict[str, Any], path: str
) -> None:
    response = await client.get(f"{path}?search=a%00", headers=admin["headers"])
    refused(response, "query.search")


async def test_an_upload_whose_file_name_is_not_text_is_refused(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    def start(filename: str) -> Any:
        encoded = base64.b64encode(filename.encode()).decode()
        return client.post(
            "/api/admin/uploads",
            headers={
                **admin["headers"],
                **TUS,
                "Upload-Length": "10",
                "Upload-Metadata": f"filename {encoded}",
            },
        )

    nul = await start("night\x00train.mp4")
    newline = await start("night\ntrain.mp4")
    fine = await start("night train.mp4")

    assert "U+0000" in refused(nul, "header.Upload-Metadata.filename")
    assert "line break" in refused(newline, "header.Upload-Metadata.filename")
    assert fine.status_code == 201, fine.text
    assert fine.json()["filename"] == "night train.mp4"


# The revenue report


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"end": "9999-12-31"}, "end"),
        ({"start": "9999-12-01", "end": "9999-12-31"}, "start"),
        ({"start": "0001-01-01", "end": "0001-01-31"}, "start"),
        ({"start": "1999-12-31"}, "start"),
        ({"end": "2101-01-01"}, "end"),
    ],
)
async def test_the_revenue_report_refuses_days_out_of_range(
    client: httpx.AsyncClient, admin: dict[str, Any], params: dict[str, str], field: str
) -> None:
    response = await client.get(
        "/api/admin/analytics/revenue", params=params, headers=admin["headers"]
    )

    assert response.json()["error"]["code"] == "invalid_range"
    assert "2000-01-01 to 2100-12-31" in refused(response, field)


async def test_the_revenue_report_reaches_its_last_day(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    response = await client.get(
        "/api/admin/analytics/revenue",
        params={"start": "2100-12-01", "end": "2100-12-31"},
        headers=admin["headers"],
    )

    assert response.status_code == 200, response.text
    assert response.json()["days"][-1]["date"] == "2100-12-31"


# The admin console's pages


@pytest.fixture
async def console(client: httpx.AsyncClient, admin: dict[str, Any]) -> str:
    """The client signed in to the pages as the administrator; yields the CSRF token."""
    await sign_in(client, admin["user"]["email"])
    return await form_token(client, "/admin")


async def test_the_revenue_page_says_a_day_is_out_of_range(
    client: httpx.AsyncClient, console: str
) -> None:
    page = await client.get("/admin/revenue?start=2026-03-01&end=9999-12-31")

    assert page.status_code == 422
    assert "The end must be a day from 2000-01-01 to 2100-12-31." in page.text
    assert page.text.count("<tr data-day=") == 30  # the last 30 days instead


async def test_the_film_form_says_what_is_not_text(client: httpx.AsyncClient, console: str) -> None:
    page = await post_form(
        client,
        "/admin/movies/new",
        console,
        title=f"Night {RTL_OVERRIDE}niarT",
        description="Dark\x00",
        access_level="FREE",
    )

    assert page.status_code == 422
    assert "Must not contain a text-direction control (U+202E)." in page.text
    assert "Must not contain a control character (U+0000)." in page.text
    assert (await client.get("/admin/movies")).text.count("Night") == 0


async def test_the_film_form_refuses_a_nul_when_editing(
    client: httpx.AsyncClient, admin: dict[str, Any], console: str
) -> None:
    movie = await add_movie(client, admin, publish=False, title="Night Train")

    page = await post_form(
        client,
        f"/admin/movies/{movie['id']}/edit",
        console,
        title="Night\x00Train",
        description="",
        access_level="FREE",
        slug=movie["slug"],
    )

    assert page.status_code == 422
    assert "Must not contain a control character (U+0000)." in page.text
    kept = await client.get(f"/api/admin/movies/{movie['id']}", headers=admin["headers"])
    assert kept.json()["title"] == "Night Train"


@pytest.mark.parametrize("path", ["/admin/users?search=a%00", "/admin/movies?search=a%00"])
async def test_the_console_searches_refuse_a_nul(
    client: httpx.AsyncClient, console: str, path: str
) -> None:
    page = await client.get(path)

    assert page.status_code == 422
    assert "text/html" in page.headers["content-type"]
