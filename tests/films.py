"""Films as the pipeline leaves them, made without ffmpeg: for tests of what comes after."""

import uuid
from typing import Any

import httpx

from kushfilms.catalog import service as catalog
from kushfilms.db import transaction
from kushfilms.media import layout
from kushfilms.media.playlists import Rendition
from kushfilms.models import Video, VideoStatus
from tests.catalog.conftest import add_movie
from tests.conftest import Backend

# A master playlist as the transcoder writes it: an SD and an HD rung.
MASTER = (
    "#EXTM3U\n#EXT-X-VERSION:7\n"
    '#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2"\n'
    "360p/index.m3u8\n"
    '#EXT-X-STREAM-INF:BANDWIDTH=2800000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2"\n'
    "720p/index.m3u8\n"
)

# The same two rungs as the ladder records them.
RENDITIONS = [
    Rendition("360p", 640, 360, 800_000, 700_000, "avc1.64001e,mp4a.40.2", 24.0).to_dict(),
    Rendition("720p", 1280, 720, 2_800_000, 2_500_000, "avc1.64001f,mp4a.40.2", 24.0).to_dict(),
]


async def film(
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    env: Backend,
    title: str,
    *,
    duration: int = 100,
    poster: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A film as processing leaves it: a length and, if given, a poster (its key)."""
    movie = await add_movie(client, admin, title=title, **fields)
    async with transaction(env.app.state.db.writer) as session:
        await catalog.set_duration(session, uuid.UUID(movie["id"]), duration)
        if poster:
            await catalog.set_pictures(
                session, uuid.UUID(movie["id"]), poster_key=poster, backdrop_key=None
            )
    return movie


async def add_video(
    env: Backend,
    movie: dict[str, Any] | str,
    status: VideoStatus = VideoStatus.READY,
    **fields: Any,
) -> None:
    """The film's video as the worker leaves it; a ready one has its ladder and playlist."""
    if status == VideoStatus.READY:
        fields.setdefault("renditions", RENDITIONS)
    movie_id = movie if isinstance(movie, str) else movie["id"]
    video = Video(
        movie_id=uuid.UUID(movie_id),
        status=status,
        source_key=layout.source_key(uuid.uuid4()),
        source_filename="clip.mp4",
        **fields,
    )
    async with transaction(env.app.state.db.writer) as session:
        session.add(video)
        await session.flush()
    if status == VideoStatus.READY:
        await env.app.state.storage.put_bytes(
            layout.master_key(video.id),
            MASTER.encode(),
            content_type="application/vnd.apple.mpegurl",
        )
