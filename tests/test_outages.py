"""A database outage: 503 with Retry-After on a connection that stays open, the
catalogue served from the cache meanwhile (the API's answers, and the data behind
anonymous visitors' pages), and everything back once it returns.

The PostgreSQL and Redis here are the test's own (tests/outages.py), stopped and
started mid-test; the shared servers are never touched.
"""

import asyncio
import re
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h11
import httpx
import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from kushfilms.accounts import admins
from kushfilms.accounts.passwords import PasswordHasher
from kushfilms.app import create_app
from kushfilms.catalog import service as catalog
from kushfilms.cli import migrate_database
from kushfilms.db import Database, transaction
from kushfilms.kit import csrf
from kushfilms.kit.cache import Generation
from kushfilms.web.outage import KeptData
from tests.conftest import PASSWORD, make_settings, serving
from tests.outages import PrivatePostgres, PrivateRedis

CACHE_SECONDS = 0.5  # an answer is past its grace period (twice this) within a second
NOTICE = b"Some things may be out of date; we are reconnecting."
PLAYBACK_UNAVAILABLE = b"Playback is unavailable for a moment; try again shortly."
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


class KeepAlive:
    """One HTTP/1.1 connection, used for request after request: a server that closes
    it (or resets it) after an answer makes the next request fail."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.http = h11.Connection(h11.CLIENT)

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        if self.http.our_state is h11.DONE:
            self.http.start_next_cycle()
        fields = [("Host", "outage.test"), ("Content-Length", str(len(body)))]
        fields += list((headers or {}).items())
        self.sock.sendall(self.http.send(h11.Request(method=method, target=path, headers=fields)))
        self.sock.sendall(self.http.send(h11.Data(data=body)) + self.http.send(h11.EndOfMessage()))
        status, answer, content = 0, {}, b""
        while True:
            event = self.http.next_event()
            if event is h11.NEED_DATA:
                data = self.sock.recv(65536)
                assert data, "the server closed the connection"
                self.http.receive_data(data)
            elif isinstance(event, h11.Response):
                status = event.status_code
                answer = {k.decode().lower(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                content += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert answer.get("connection") != "close", "the server ends the connection"
                return status, answer, content


@contextmanager
def keep_alive(base_url: str) -> Iterator[KeepAlive]:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=15) as sock:
        yield KeepAlive(sock)


async def test_a_database_outage_answers_503_and_the_cache_stands_in(tmp_path: Path) -> None:
    with PrivatePostgres() as postgres:
        settings = make_settings(tmp_path, database_url=postgres.url, cache_seconds=CACHE_SECONDS)
        await asyncio.to_thread(migrate_database, settings)
        admin_email = f"admin-{uuid.uuid4().hex[:6]}@example.com"
        db = Database(settings)
        async with transaction(db.writer) as session:
            await admins.ensure_admin(
                session,
                email=admin_email,
                password=PASSWORD,
                name="Admin",
                hasher=PasswordHasher.from_settings(settings),
            )
        with serving(create_app(settings), name="outage") as url:
            async with httpx.AsyncClient(base_url=url, timeout=15) as http:
                login = await http.post(
                    "/api/auth/login", json={"email": admin_email, "password": PASSWORD}
                )
                token = login.json()["access_token"]
                signed_in = {"Authorization": f"Bearer {token}"}
                movie = await http.post(
                    "/api/admin/movies", json={"title": "Outlasting"}, headers=signed_in
                )
                async with transaction(db.writer) as session:
                    await catalog.set_published(session, uuid.UUID(movie.json()["id"]), True)
                await db.dispose()
                catalogue = await http.get("/api/movies")
                cached_at = time.monotonic()
                assert [m["title"] for m in catalogue.json()["items"]] == ["Outlasting"]

                postgres.stop()

                with keep_alive(url) as connection:
                    answers = {
                        "read": connection.request("GET", "/api/auth/me", signed_in),
                        "write": connection.request(
                            "POST",
                            "/api/auth/register",
                            {"Content-Type": "application/json"},
                            b'{"email": "new@example.com", "password": "%s", "name": "N"}'
                            % PASSWORD.encode(),
                        ),
                        "uncached": connection.request("GET", "/api/movies?page=2"),
                        "page": connection.request("GET", "/movies", {"Accept": "text/html"}),
                    }
                    # Past the cached answer's grace period: only the outage keeps it.
                    await asyncio.sleep(
                        max(0.0, cached_at + 2.1 * CACHE_SECONDS - time.monotonic())
                    )
                    status, _, body = connection.request("GET", "/api/movies")

                for name, (code, headers, content) in answers.items():
                    assert code == 503, (name, content)
                    assert int(headers["retry-after"]) > 0, name
                    if name != "page":
                        assert b'"code":"service_unavailable"' in content, name
                assert answers["page"][1]["content-type"].startswith("text/html")
                assert b"Back in a moment" in answers["page"][2]
                assert status == 200
                assert body == catalogue.content

                postgres.start()

                after = {
                    "read": await http.get("/api/auth/me", headers=signed_in),
                    "write": await http.post(
                        "/api/auth/register",
                        json={"email": "new@example.com", "password": PASSWORD, "name": "N"},
                    ),
                    "uncached": await http.get("/api/movies?page=2"),
                    "page": await http.get("/movies"),
                }
                assert {name: r.status_code for name, r in after.items()} == {
                    "read": 200,
                    "write": 201,
                    "uncached": 200,
                    "page": 200,
                }


def csrf_token_in(page: httpx.Response) -> str:
    found = _CSRF_META.search(page.text)
    assert found, "the page carries no CSRF token"
    return found.group(1)


async def test_anonymous_pages_render_from_kept_data_through_an_outage(tmp_path: Path) -> None:
    with PrivatePostgres() as postgres:
        settings = make_settings(tmp_path, database_url=postgres.url)
        await asyncio.to_thread(migrate_database, settings)
        db = Database(settings)
        admin_email = f"admin-{uuid.uuid4().hex[:6]}@example.com"
        async with transaction(db.writer) as session:
            await admins.ensure_admin(
                session,
                email=admin_email,
                password=PASSWORD,
                name="Admin",
                hasher=PasswordHasher.from_settings(settings),
            )
            drama = await catalog.create_category(session, name="Drama")
            films = [
                await catalog.create_movie(session, {"title": title, "category_id": drama.id})
                for title in ("Outlasting", "The Long Night")
            ]
            for film in films:
                await catalog.set_published(session, film.id, True)
        await db.dispose()
        watched = films[0].slug
        pages = ("/", "/movies?search=outlasting", f"/watch/{watched}")
        app = create_app(settings)
        with serving(app, name="outage-pages") as url:
            async with (
                httpx.AsyncClient(base_url=url, timeout=15) as first,
                httpx.AsyncClient(base_url=url, timeout=15) as second,
                httpx.AsyncClient(base_url=url, timeout=15) as member,
            ):
                before = {path: await first.get(path) for path in pages}
                first_token = csrf_token_in(before["/"])
                sign_in = await member.get("/login")
                signed_in = await member.post(
                    "/login",
                    data={
                        "email": admin_email,
                        "password": PASSWORD,
                        "csrf_token": csrf_token_in(sign_in),
                    },
                )
                assert signed_in.status_code == 303
                assert (await member.get("/")).status_code == 200

                postgres.stop()

                during = {path: await first.get(path) for path in pages}
                other = {path: await second.get(path) for path in pages}
                never_seen = await first.get("/movies?search=nothing+kept")
                members_page = await member.get("/")

                postgres.start()

                after = {path: await first.get(path) for path in pages}

    for path in pages:
        assert before[path].status_code == 200, path
        assert NOTICE not in before[path].content, path
        for page in (during[path], other[path]):
            assert page.status_code == 200, (path, page.text)
            assert NOTICE in page.content, path
            assert page.headers["cache-control"] == "no-store", path
            assert "Outlasting" in page.text, path
        # Each visitor's page carries its own token, never the first visitor's.
        assert csrf_token_in(during[path]) == first_token, path
        second_token = csrf_token_in(other[path])
        assert second_token != first_token, path
        assert csrf.token_valid(app.state.csrf_key, second.cookies[csrf.COOKIE], second_token)
        assert after[path].status_code == 200, path
        assert NOTICE not in after[path].content, path
        assert "Outlasting" in after[path].text, path
    assert "The Long Night" in during["/"].text  # the home page's rows, not only the first film
    assert "The Long Night" in during[f"/watch/{watched}"].text  # "More in Drama"
    for page in (during[f"/watch/{watched}"], other[f"/watch/{watched}"]):
        assert 'data-state="reconnecting"' in page.text
        assert PLAYBACK_UNAVAILABLE in page.content
    assert PLAYBACK_UNAVAILABLE not in after[f"/watch/{watched}"].content
    for page in (never_seen, members_page):  # nothing kept; an account needs the database
        assert page.status_code == 503
        assert b"Back in a moment" in page.content


def test_kept_data_is_bounded_dropped_when_old_and_when_the_catalogue_changes() -> None:
    now = [0.0]
    generation = Generation()
    kept = KeptData(generation, max_entries=2, seconds=600, clock=lambda: now[0])
    kept.put("home", "rows")
    kept.put("movies", "grid")
    assert kept.get("home") is not None  # now the most recently used
    kept.put("watch", "film")
    assert kept.get("movies") is None  # the least recently used made room
    assert [kept.get(key) is not None for key in ("home", "watch")] == [True, True]

    now[0] = 599.9
    assert kept.get("home") is not None
    now[0] = 600.0
    assert kept.get("home") is None

    kept.put("home", "rows")
    generation.advance()  # a film was changed or taken down here
    assert kept.get("home") is None
    kept.put("home", "new rows")
    found = kept.get("home")
    assert found is not None
    assert found.value == "new rows"


def test_a_private_redis_stops_and_starts_again_empty() -> None:
    with PrivateRedis() as server:
        redis = Redis.from_url(server.url, socket_connect_timeout=2)
        redis.set("kept", "no")
        server.stop()
        with pytest.raises(RedisConnectionError):
            redis.ping()
        server.start()

        assert redis.get("kept") is None
        assert redis.ping()
        redis.close()
