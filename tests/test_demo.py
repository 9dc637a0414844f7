"""The demo (`kushfilms demo`) beside a running server, and two demos at once."""

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from kushfilms import demo
from kushfilms.catalog import service as catalog
from kushfilms.config import Settings
from kushfilms.db import Database, transaction
from kushfilms.jobs import job_context
from kushfilms.models import AccessLevel, Role, User
from tests.conftest import Backend, settings_environment

KUSHFILMS = [sys.executable, "-m", "kushfilms"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def server(env: Backend, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """`kushfilms serve` with its own worker beside it, on the test backend's database
    and queue: ``base`` is its address, ``environment`` its settings, ``log`` its output."""
    environment = {
        **settings_environment(env.settings),
        "KF_CACHE_SECONDS": "0",  # lists show the demo's films as soon as it publishes them
        "KF_RATE_LIMIT_API": "100000/minute",
    }
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            *KUSHFILMS,
            "serve",
            "--port",
            str(port),
            env=environment,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            for _ in range(300):  # its worker is alive once it is ready
                try:
                    if (await http.get("/health/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    assert process.returncode is None, log.read_text()
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"serve did not get ready:\n{log.read_text()}")
        yield {"base": base, "environment": environment, "log": log}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 60)
        except TimeoutError:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


async def test_the_demo_beside_a_running_server_publishes_every_film(
    server: dict[str, Any], admin: dict[str, Any]
) -> None:
    """The issue's case: `kushfilms serve`, then `kushfilms demo` in another terminal.
    The server keeps answering (reads and writes) while the demo works, its worker and
    the demo share the transcodes without stepping on each other, and every film plays."""
    running = await asyncio.create_subprocess_exec(
        *KUSHFILMS,
        "demo",
        "--seconds",
        "1",
        env=server["environment"],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    finished = asyncio.ensure_future(running.communicate())
    answers: list[tuple[str, int]] = []
    async with httpx.AsyncClient(base_url=server["base"], timeout=30) as http:
        while not finished.done():
            for request in (
                http.build_request("GET", "/api/movies", params={"page_size": 50}),
                http.build_request(
                    "POST",
                    "/api/admin/categories",
                    json={"name": f"Added during the demo {len(answers)}"},
                    headers=admin["headers"],
                ),
                http.build_request("GET", "/api/admin/movies", headers=admin["headers"]),
            ):
                response = await http.send(request)
                answers.append((f"{request.method} {request.url.path}", response.status_code))
            await asyncio.sleep(0.1)
        output = (await finished)[0].decode()

        movies = (await http.get("/api/movies", params={"page_size": 50})).json()
        free = next(m for m in movies["items"] if m["access_level"] == AccessLevel.FREE)
        playback = await http.get(f"/api/movies/{free['slug']}/playback")
        manifest = await http.get(playback.json()["manifest_url"])
    log = server["log"].read_text()

    assert running.returncode == 0, output
    assert f"Added {len(demo.FILMS)} playable demo films." in output
    assert "failed" not in output, output
    assert answers
    assert all(status in (200, 201) for _, status in answers), answers
    assert sorted(m["title"] for m in movies["items"]) == sorted(f.title for f in demo.FILMS)
    # Every film has its poster for the cards and its backdrop for the home page's hero.
    assert all(m["poster_url"] and m["backdrop_url"] for m in movies["items"])
    assert playback.status_code == 200, playback.text
    assert manifest.text.startswith("#EXTM3U")
    assert "database is locked" not in log
    assert "Traceback" not in log, log  # no request and no job of the server failed


async def _claim(db: Database, settings: Settings) -> demo.Claimed:
    async with transaction(db.writer) as session:
        return await demo.claim(session, settings=settings)


async def test_two_demos_at_once_make_one_admin_and_one_catalogue(
    env: Backend, client: httpx.AsyncClient
) -> None:
    """The second of two demos started together waits for the first's claim, then
    finds the administrator and the catalogue taken and makes nothing."""
    db: Database = env.app.state.db
    async with transaction(db.writer) as session:
        first = await demo.claim(session, settings=env.settings)
        second = asyncio.ensure_future(_claim(db, env.settings))
        await asyncio.sleep(0.2)  # the second reaches the catalogue while this one holds it
    other = await second

    async with db.reader() as session:
        movies = await catalog.count_movies(session)
        admins = await session.scalar(
            select(func.count()).select_from(User).where(User.role == Role.ADMIN)
        )
    assert first.admin_password
    assert len(first.movies) == len(demo.FILMS)
    assert other == demo.Claimed(first.admin_id)
    assert movies == len(demo.FILMS)
    assert admins == 1


async def test_a_demo_stopped_before_its_films_are_attached_leaves_the_catalogue_empty(
    env: Backend, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """Ctrl-C (which cancels the demo's task) while the clips are made: the films it
    claimed are given back, so the next demo makes the whole catalogue."""
    db: Database = env.app.state.db
    first = await _claim(db, env.settings)

    def stop_at_the_second_film(line: str) -> None:
        if demo.FILMS[1].title in line:
            making.cancel()

    async with job_context(env.settings) as context:
        making = asyncio.ensure_future(
            demo.make_films(
                first, context=context, clips=tmp_path, seconds=1, report=stop_at_the_second_film
            )
        )
        with pytest.raises(asyncio.CancelledError):
            await making
    second = await _claim(db, env.settings)

    async with db.reader() as session:
        movies = await catalog.count_movies(session)
    assert second.admin_id == first.admin_id
    assert len(second.movies) == len(demo.FILMS)
    assert movies == len(demo.FILMS)


def test_some_demo_films_are_long_enough_to_resume() -> None:
    """Someone judging the platform with the demo sees resuming at work (the server
    resumes a film stopped before 90 % of its length), which a clip of a few seconds
    barely shows."""
    specs = [demo.clip_spec(index, None) for index in range(len(demo.FILMS))]
    long = [spec for spec in specs if spec.seconds >= 120]

    assert len(long) >= 3
    assert all(spec.height <= 360 for spec in long)  # cheap to encode
    assert demo.clip_spec(0, 1.0).seconds == 1.0  # --seconds makes every clip that long
