import json
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from kushfilms.catalog import reads, service
from kushfilms.db import transaction
from kushfilms.errors import Conflict, is_database_unavailable
from tests.conftest import PASSWORD, Backend


async def test_unknown_routes_answer_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/no/such/thing")

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "No such endpoint."}}


async def test_wrong_methods_answer_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/auth/login")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


async def test_malformed_json_is_a_bad_request(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/login",
        content=b'{"email": "a@example.com", ',
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_bodies_must_be_json(client: httpx.AsyncClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    body = json.dumps({"email": "a@example.com", "password": PASSWORD}).encode()

    response = await client.post("/api/auth/login", content=body, headers=headers)

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


async def test_wrong_types_and_unknown_fields_are_named(client: httpx.AsyncClient) -> None:
    wrong_type = await client.post(
        "/api/auth/login", json={"email": ["a@example.com"], "password": PASSWORD}
    )
    unknown = await client.post(
        "/api/auth/login", json={"email": "a@example.com", "password": PASSWORD, "remember": 1}
    )
    not_an_object = await client.post("/api/auth/login", json=[1, 2, 3])

    assert wrong_type.status_code == 422
    assert wrong_type.json()["error"]["details"][0]["field"] == "email"
    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"] == [{"field": "remember", "message": "unknown field"}]
    assert not_an_object.status_code == 422


async def test_bodies_over_a_megabyte_are_refused(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    huge = {"title": "Big", "description": "x" * (1024 * 1024)}

    response = await client.post("/api/admin/movies", json=huge, headers=admin["headers"])

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    listed = await client.get("/api/movies?include_unpublished=true", headers=admin["headers"])
    assert listed.json()["total"] == 0


async def test_bodies_over_the_limit_without_a_length_are_refused(
    client: httpx.AsyncClient,
) -> None:
    async def chunks() -> Any:
        for _ in range(300):
            yield b"x" * 4096

    response = await client.post(
        "/api/auth/login", content=chunks(), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413


async def test_an_unexpected_failure_is_a_500_without_a_trace(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(reads, "find_movies", broken)

    response = await client.get("/api/movies?page=3")

    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "Something went wrong on our side."}
    }
    assert "Traceback" not in response.text


async def test_a_database_that_cannot_be_reached_is_a_503_to_retry(
    client_of_app: Any, tmp_path: Path
) -> None:
    broken = await client_of_app(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/missing-dir/kushfilms.db"
    )

    response = await broken.get("/api/movies")
    page = await broken.get("/movies", headers={"Accept": "text/html"})

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    assert int(response.headers["Retry-After"]) > 0
    assert page.status_code == 503
    assert "Back in a moment" in page.text
    assert int(page.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (TimeoutError(), True),
        (sa.exc.TimeoutError("QueuePool limit reached"), True),
        (sa.exc.OperationalError("SELECT 1", {}, Exception("server closed")), True),
        (sa.exc.InterfaceError("SELECT 1", {}, Exception("connection is closed")), True),
        (
            sa.exc.DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True),
            True,
        ),
        (sa.exc.DBAPIError("SELECT 1", {}, asyncpg.CannotConnectNowError("starting up")), True),
        (sa.exc.DBAPIError("SELECT 1", {}, asyncpg.AdminShutdownError("terminating")), True),
        (sa.exc.DBAPIError("SELECT 1", {}, asyncpg.TooManyConnectionsError("full")), True),
        (sa.exc.IntegrityError("INSERT", {}, Exception("duplicate key")), False),
        (sa.exc.ProgrammingError("SELEC", {}, Exception("syntax error")), False),
        (sa.exc.DBAPIError("SELECT", {}, asyncpg.UniqueViolationError("duplicate")), False),
        (FileNotFoundError("poster.jpg"), False),
        (RuntimeError("a bug"), False),
    ],
)
def test_which_errors_mean_the_database_is_unavailable(error: Exception, unavailable: bool) -> None:
    assert is_database_unavailable(error) is unavailable


def test_an_outage_is_recognised_behind_the_errors_it_caused() -> None:
    try:
        try:
            raise ConnectionRefusedError(111, "refused")
        except OSError as cause:
            raise RuntimeError("could not load the page") from cause
    except RuntimeError as error:
        wrapped = error

    assert is_database_unavailable(wrapped)


class Recorded(Conflict):
    commits = True


async def _create_category_then_fail(env: Backend, name: str, error: Exception) -> None:
    async with transaction(env.app.state.db.writer) as session:
        await service.create_category(session, name=name)
        raise error


async def test_a_failed_request_leaves_nothing_behind(env: Backend) -> None:
    """One transaction per request: writes before an error are undone, unless the
    error is a recorded security event."""
    with pytest.raises(Conflict):
        await _create_category_then_fail(env, "Undone", Conflict())
    with pytest.raises(Recorded):
        await _create_category_then_fail(env, "Kept", Recorded())
    with pytest.raises(RuntimeError):
        await _create_category_then_fail(env, "Crashed", RuntimeError("boom"))

    async with env.app.state.db.reader() as session:
        names = await service.category_ids_by_name(session)
    assert set(names) == {"Kept"}


async def test_security_headers_are_set(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")

    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
