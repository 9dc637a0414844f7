"""The media files' routes under ``/media``: posters, and a playback grant's
playlists, sprites and segments. Each hands its path to ``files.py`` and the file
it gets back to ``responses.py``."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response

from kushfilms.deps import AppSettings, MediaStorage
from kushfilms.errors import error_responses
from kushfilms.media import layout
from kushfilms.media.delivery import files
from kushfilms.media.delivery.responses import respond
from kushfilms.media.deps import PlaylistFetch

router = APIRouter(
    prefix=layout.MEDIA_URL_ROOT.rstrip("/"),
    tags=["media files"],
    responses=error_responses(403, 404, 422, 500),
)

_CHECKED = (
    "Checked at every fetch against the film as it is now (published, on the same video)"
    " and the grant's viewer's plan as it is now, an answer kept `KF_PLAYBACK_CHECK_SECONDS`"
    " (5 s) per viewer and film: 403 `film_unavailable`, `subscription_required` or"
    " `invalid_media_token` once playback is no longer allowed. The files it names are"
    " signed for `KF_SEGMENT_URL_SECONDS` only: fetch it again for fresh ones (never cached)."
)


def _file_response(description: str, *types: str) -> dict[int | str, dict[str, object]]:
    return {200: {"description": description, "content": {kind: {} for kind in types}}}


@router.get(
    "/art/{movie_id}/{name}",
    summary="A poster (public)",
    response_class=Response,
    responses=_file_response("The image", "image/jpeg"),
)
async def art(
    movie_id: uuid.UUID,
    name: Annotated[str, Path(pattern=layout.POSTER_FILE)],
    storage: MediaStorage,
    settings: AppSettings,
) -> Response:
    return respond(files.poster(storage, movie_id, name), storage, settings)


@router.get(
    "/{movie_id}/{token}/master.m3u8",
    summary="The master playlist of a playback grant: the rungs the viewer may watch now",
    description=_CHECKED,
    response_class=Response,
    responses=_file_response("An HLS master playlist", files.PLAYLIST),
)
async def master_playlist(movie_id: uuid.UUID, token: str, fetch: PlaylistFetch) -> Response:
    playlist = await files.master_playlist(fetch, movie_id, token)
    return respond(playlist, fetch.storage, fetch.settings)


@router.get(
    "/{movie_id}/{token}/thumbs/thumbnails.vtt",
    summary="The scrub preview index (WebVTT); with object storage, its sprite URLs are"
    " presigned for minutes",
    description=_CHECKED,
    response_class=Response,
    responses=_file_response("The sprites' WebVTT index", files.VTT),
)
async def thumbnails_index(movie_id: uuid.UUID, token: str, fetch: PlaylistFetch) -> Response:
    index = await files.thumbnails_index(fetch, movie_id, token)
    return respond(index, fetch.storage, fetch.settings)


@router.get(
    "/{movie_id}/{token}/thumbs/{name}",
    summary="A scrub preview sprite, checked like the playlists",
    response_class=Response,
    responses=_file_response("A sprite sheet", "image/jpeg"),
)
async def sprite(movie_id: uuid.UUID, token: str, name: str, fetch: PlaylistFetch) -> Response:
    return respond(await files.sprite(fetch, movie_id, token, name), fetch.storage, fetch.settings)


@router.get(
    "/{movie_id}/{token}/{rung}/index.m3u8",
    summary="A rung's media playlist, its segment URLs signed for minutes",
    description=_CHECKED,
    response_class=Response,
    responses=_file_response("An HLS media playlist", files.PLAYLIST),
)
async def media_playlist(
    movie_id: uuid.UUID, token: str, rung: str, fetch: PlaylistFetch
) -> Response:
    playlist = await files.media_playlist(fetch, movie_id, token, rung)
    return respond(playlist, fetch.storage, fetch.settings)


@router.get(
    "/{movie_id}/{token}/{rung}/{name}",
    summary="A rung's init or media segment (a segments grant's URL; Range supported)",
    response_class=Response,
    responses=_file_response("The segment", "video/mp4", "video/iso.segment"),
)
async def segment(
    movie_id: uuid.UUID,
    token: str,
    rung: str,
    name: str,
    storage: MediaStorage,
    settings: AppSettings,
) -> Response:
    file = files.segment(storage, settings, movie_id, token, rung, name)
    return respond(file, storage, settings)
