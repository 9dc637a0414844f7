"""Steps of the media journey, shared by the pipeline tests: upload, attach, wait."""

import asyncio
import base64
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from kushfilms.accounts import admins
from kushfilms.app import create_app
from kushfilms.cli import migrate_database
from kushfilms.config import Settings
from kushfilms.db import transaction
from tests.conftest import PASSWORD, bearer, settings_environment

TUS = {"Tus-Resumable": "1.0.0"}


async def upload(client: httpx.AsyncClient, admin: dict[str, Any], path: Path) -> str:
    """Upload a file with tus (creation-with-upload); returns the upload id."""
    data = path.read_bytes()
    response = await client.post(
        "/api/admin/uploads",
        content=data,
        headers={
            **admin["headers"],
            **TUS,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": "filename " + _b64(path.name),
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert response.status_code == 201, response.text
    assert response.headers["upload-offset"] == str(len(data))
    return urlsplit(response.headers["location"]).path.rsplit("/", 1)[1]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def new_movie(
    client: httpx.AsyncClient, admin: dict[str, Any], title: str, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/admin/movies", json={"title": title, **fields}, headers=admin["headers"]
    )
    assert response.status_code == 201, response.text
    movie: dict[str, Any] = response.json()
    return movie


async def attach(
    client: httpx.AsyncClient, admin: dict[str, Any], movie: dict[str, Any], path: Path
) -> httpx.Response:
    upload_id = await upload(client, admin, path)
    return await client.post(
        f"/api/admin/movies/{movie['id']}/video",
        json={"upload_id": upload_id},
        headers=admin["headers"],
    )


async def wait_for_video(
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    movie: dict[str, Any],
    *,
    until: str = "ready",
    timeout: float = 120,
) -> dict[str, Any]:
    """Poll the admin view of a movie until its video reaches ``until`` (or fails); the
    answer says what progress and time left were seen while it processed."""
    deadline = time.monotonic() + timeout
    seen: list[float] = []
    left: list[int | None] = []
    while True:
        body = (
            await client.get(f"/api/admin/movies/{movie['id']}", headers=admin["headers"])
        ).json()
        video = body["video"]
        if video["status"] == "processing":
            seen.append(video["progress"])
            left.append(video["eta_seconds"])
        if video["status"] in (until, "failed"):
            body["progress_seen"], body["eta_seen"] = seen, left
            return body
        assert time.monotonic() < deadline, f"video still {video['status']} after {timeout} s"
        await asyncio.sleep(0.2)


async def ready_movie(
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    clip: Path,
    *,
    title: str = "The Test Card",
    publish: bool = True,
    **fields: Any,
) -> dict[str, Any]:
    movie = await new_movie(client, admin, title, **fields)
    attached = await attach(client, admin, movie, clip)
    assert attached.status_code == 202, attached.text
    body = await wait_for_video(client, admin, movie)
    assert body["video"]["status"] == "ready", body["video"]["error"]
    if publish:
        published = await client.post(
            f"/api/admin/movies/{movie['id']}/publish", headers=admin["headers"]
        )
        assert published.status_code == 200, published.text
        body = {**published.json(), "progress_seen": body["progress_seen"]}
    return body


@asynccontextmanager
async def installed(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any]]]:
    """A fresh install of its own (migrated, with an admin): a client and the admin's headers.

    For tests that need settings of their own (object storage, a short lease)
    rather than the shared backends.
    """
    await asyncio.to_thread(migrate_database, settings)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with transaction(app.state.db.writer) as session:
            await admins.ensure_admin(
                session,
                email="ops@example.com",
                password=PASSWORD,
                name="Ops",
                hasher=app.state.password_hasher,
            )
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            login = await http.post(
                "/api/auth/login", json={"email": "ops@example.com", "password": PASSWORD}
            )
            yield http, {"headers": bearer(login.json()["access_token"])}


def start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    """A real `kushfilms worker` with these settings."""
    return subprocess.Popen(
        [sys.executable, "-m", "kushfilms", "worker"], env=settings_environment(settings)
    )


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
