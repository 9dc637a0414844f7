"""The media journey over HTTP, with a real worker: upload, process, publish, play."""

import asyncio
import hashlib
import io
import subprocess
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import m3u8
import pytest
from PIL import Image

from kushfilms.kit.clock import utcnow
from kushfilms.media import layout
from kushfilms.media.delivery.access import media_key
from kushfilms.media.delivery.signing import Grant, read_grant, sign_grant
from kushfilms.media.ffmpeg import ffmpeg_executable
from kushfilms.media.synthetic import render_clip
from tests.conftest import Backend
from tests.media.journey import attach, new_movie, ready_movie, wait_for_video
from tests.media.samples import sample

pytestmark = pytest.mark.usefixtures("job_worker")


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 s 720p test card with a tone: three rungs (360p, 480p, 720p)."""
    path = tmp_path_factory.mktemp("clips") / "card.mp4"
    return render_clip(ffmpeg_executable(""), path, seconds=3, width=1280, height=720)


async def test_an_uploaded_film_becomes_a_signed_adaptive_stream(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, clip: Path
) -> None:
    movie = await ready_movie(client, admin, clip, title="Test Card")
    video = movie["video"]

    assert video["status"] == "ready"
    assert video["progress"] == 100
    assert [r["name"] for r in video["renditions"]] == ["360p", "480p", "720p"]
    assert video["source"]["width"] == 1280
    assert video["source"]["audio_channels"] == 1
    assert movie["duration"] == 3
    assert movie["thumbnail_url"].startswith("/media/art/")
    assert (await client.get(movie["thumbnail_url"])).headers["content-type"] == "image/jpeg"
    # A landscape film's frame is its backdrop, at its own size; its poster is made from it.
    assert movie["backdrop_url"].endswith("-frame-1280.jpg")
    assert movie["poster_url"].endswith("-derived-780.jpg")
    backdrop = Image.open(io.BytesIO((await client.get(movie["backdrop_url"])).content))
    assert backdrop.size == (1280, 720)

    playback = (await client.get(f"/api/movies/{movie['slug']}/playback")).json()

    assert playback["max_height"] == 480  # anonymous viewers get the free quality
    await env.app.state.views.flush(env.app.state.db)
    counted = await client.get(f"/api/admin/movies/{movie['id']}", headers=admin["headers"])
    assert counted.json()["view_count"] == 1
    assert playback["duration"] == 3
    assert playback["resume_position"] == 0
    master_response = await client.get(playback["manifest_url"])
    assert master_response.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    master = m3u8.loads(master_response.text)
    assert [p.stream_info.resolution for p in master.playlists] == [(640, 360), (854, 480)]
    base = playback["manifest_url"].rsplit("/", 1)[0]
    media = m3u8.loads((await client.get(f"{base}/{master.playlists[0].uri}")).text)
    assert media.is_endlist
    rung = f"{base}/360p"
    init = await client.get(f"{rung}/{media.segment_map[0].uri}")
    segment = await client.get(f"{rung}/{media.segments[0].uri}")
    ranged = await client.get(f"{rung}/{media.segments[0].uri}", headers={"Range": "bytes=0-99"})
    assert init.status_code == segment.status_code == 200
    assert init.headers["content-type"] == "video/mp4"
    assert "immutable" in segment.headers["cache-control"]
    assert ranged.status_code == 206
    assert ranged.content == segment.content[:100]
    vtt = await client.get(playback["thumbnails_vtt_url"])
    assert vtt.text.startswith("WEBVTT")
    sprite = vtt.text.split("\n\n")[1].splitlines()[-1].split("#")[0]
    assert (await client.get(f"{base}/thumbs/{sprite}")).headers["content-type"] == "image/jpeg"

    # The same stored bytes, the same digest: what was uploaded is what was kept.
    stored = await env.app.state.storage.get_bytes(layout.source_key(uuid.UUID(video["id"])))
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(clip.read_bytes()).hexdigest()


async def test_playback_resumes_where_the_viewer_stopped(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any], clip: Path
) -> None:
    movie = await ready_movie(client, admin, clip, title="Pick Up Where You Left")
    playback_url = f"/api/movies/{movie['id']}/playback"

    await client.post(
        "/api/watch/progress",
        json={"movie_id": movie["id"], "progress": 2},
        headers=viewer["headers"],
    )
    resumed = (await client.get(playback_url, headers=viewer["headers"])).json()
    await client.post(
        "/api/watch/progress",
        json={"movie_id": movie["id"], "progress": 3},
        headers=viewer["headers"],
    )
    finished = (await client.get(playback_url, headers=viewer["headers"])).json()

    assert resumed["resume_position"] == 2
    assert finished["resume_position"] == 0  # watched to the end: start again
    assert (await client.get(playback_url)).json()["resume_position"] == 0


async def test_deleting_a_film_mid_transcode_stops_the_work(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, tmp_path: Path
) -> None:
    longer = render_clip(
        ffmpeg_executable(""), tmp_path / "doomed.mp4", seconds=20, width=1280, height=720
    )
    movie = await new_movie(client, admin, "Doomed")
    await attach(client, admin, movie, longer)
    deadline = time.monotonic() + 60
    while True:
        detail = await client.get(f"/api/admin/movies/{movie['id']}", headers=admin["headers"])
        video = detail.json()["video"]
        if video["status"] == "processing" and video["progress"] > 0:
            break
        assert time.monotonic() < deadline, video
        await asyncio.sleep(0.1)

    await client.delete(f"/api/admin/movies/{movie['id']}", headers=admin["headers"])

    await _eventually_empty(env.app.state.storage, layout.video_prefix(uuid.UUID(video["id"])))
    scratch = layout.scratch_dir(env.settings, uuid.UUID(video["id"]))
    deadline = time.monotonic() + 30
    while scratch.exists():
        assert time.monotonic() < deadline, "the transcode did not stop"
        await asyncio.sleep(0.2)
    await asyncio.sleep(1)  # a cancelled job must not write its outputs afterwards
    assert not await env.app.state.storage.list_keys(layout.video_prefix(uuid.UUID(video["id"])))


async def test_media_urls_cannot_be_forged_stretched_or_reused(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, clip: Path
) -> None:
    movie = await ready_movie(client, admin, clip, title="Guarded")
    other = await new_movie(client, admin, "Another Film")
    url = (await client.get(f"/api/movies/{movie['id']}/playback")).json()["manifest_url"]
    _, _, movie_id, token, _ = url.rsplit("/", 4)
    key = media_key(env.settings)
    grant = read_grant(token, key, now=utcnow())

    def with_token(new_token: str, path: str = "master.m3u8", movie: str = movie_id) -> str:
        return f"/media/{movie}/{new_token}/{path}"

    expired = sign_grant(
        Grant(grant.movie_id, grant.video_id, grant.viewer, 480, utcnow() - timedelta(seconds=1)),
        key,
    )
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for path in (
        with_token(tampered),
        with_token(expired),
        with_token(token, movie=other["id"]),  # another movie's address
        with_token(token, "720p/index.m3u8"),  # above the viewer's cap
        with_token(token, "720p/seg_00000.m4s"),
        with_token("not-a-token"),
    ):
        response = await client.get(path)
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "invalid_media_token"
    for path in ("360p/../../etc/passwd", "360p/secret.txt", "thumbs/x.png"):
        assert (await client.get(with_token(token, path))).status_code in (403, 404), path

    admin_url = (
        await client.get(f"/api/movies/{movie['id']}/playback", headers=admin["headers"])
    ).json()["manifest_url"]
    admin_master = m3u8.loads((await client.get(admin_url)).text)
    assert [p.stream_info.resolution[1] for p in admin_master.playlists] == [360, 480, 720]


async def test_invalid_uploads_are_refused_with_the_reason_and_deleted(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, tmp_path: Path
) -> None:
    movie = await new_movie(client, admin, "Not A Film")
    pdf = tmp_path / "film.mp4"
    pdf.write_bytes(b"%PDF-1.7\n" + b"\x00" * 4000)
    audio = tmp_path / "song.m4a"
    render_clip(ffmpeg_executable(""), audio, seconds=1)  # video and audio...
    # ...then keep only its audio: a sound file is not a film.
    only_sound = tmp_path / "only-sound.m4a"
    subprocess.run(
        [
            ffmpeg_executable(""),
            "-loglevel",
            "error",
            "-i",
            str(audio),
            "-vn",
            "-c",
            "copy",
            str(only_sound),
        ],
        check=True,
    )

    cases = [
        (pdf, 415, "unreadable"),
        (only_sound, 415, "no_video"),
        (sample("15"), 422, "undecodable"),
        (sample("16"), 415, "unreadable"),
    ]
    for path, status, reason in cases:
        response = await attach(client, admin, movie, path)
        assert response.status_code == status, (path.name, response.text)
        error = response.json()["error"]
        assert error["reason"] == reason
        assert "deleted" in error["message"]
    assert list(env.settings.upload_dir.glob("*")) == []
    detail = await client.get(f"/api/admin/movies/{movie['id']}", headers=admin["headers"])
    assert detail.json()["video"] is None


async def test_a_film_cannot_be_published_while_it_is_processed(
    client: httpx.AsyncClient, admin: dict[str, Any], clip: Path
) -> None:
    movie = await new_movie(client, admin, "Patience")
    attached = await attach(client, admin, movie, clip)

    too_soon = await client.post(
        f"/api/admin/movies/{movie['id']}/publish", headers=admin["headers"]
    )

    assert attached.json()["status"] in ("uploaded", "processing")
    assert too_soon.status_code == 409
    assert too_soon.json()["error"]["code"] == "video_not_ready"
    body = await wait_for_video(client, admin, movie)
    assert body["video"]["status"] == "ready"


async def test_replacing_and_deleting_a_film_removes_its_files(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, clip: Path
) -> None:
    storage = env.app.state.storage
    movie = await ready_movie(client, admin, clip, title="Short Lived", publish=False)
    first = movie["video"]["id"]
    assert await storage.list_keys(layout.video_prefix(uuid.UUID(first)))

    await attach(client, admin, movie, clip)
    second = (await wait_for_video(client, admin, movie))["video"]["id"]
    await _eventually_empty(storage, layout.video_prefix(uuid.UUID(first)))
    assert second != first

    deleted = await client.delete(f"/api/admin/movies/{movie['id']}", headers=admin["headers"])

    assert deleted.status_code == 204
    await _eventually_empty(storage, layout.video_prefix(uuid.UUID(second)))
    await _eventually_empty(storage, layout.art_prefix(uuid.UUID(movie["id"])))


async def _eventually_empty(storage: Any, prefix: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while await storage.list_keys(prefix):
        assert time.monotonic() < deadline, f"{prefix} still holds objects"
        await asyncio.sleep(0.2)


async def test_progress_is_reported_while_processing(
    client: httpx.AsyncClient, admin: dict[str, Any], tmp_path: Path
) -> None:
    longer = render_clip(
        ffmpeg_executable(""), tmp_path / "longer.mp4", seconds=12, width=1280, height=720
    )
    movie = await new_movie(client, admin, "Long Enough To Watch")
    await attach(client, admin, movie, longer)

    body = await wait_for_video(client, admin, movie)

    assert body["video"]["status"] == "ready"
    assert any(0 < percent < 100 for percent in body["progress_seen"])
    assert body["progress_seen"] == sorted(body["progress_seen"])
    assert body["video"]["progress"] == 100
    # How long is left is said while it runs, and no more once it is done.
    assert any(left is not None and left > 0 for left in body["eta_seen"])
    assert body["video"]["eta_seconds"] is None
    assert uuid.UUID(body["video"]["id"])
