import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, UploadFile, status

from kushfilms.accounts.deps import AdminUser, CurrentUser, OptionalViewer
from kushfilms.billing import streams
from kushfilms.billing.streams import (
    DEVICE_COOKIE,
    DEVICE_HEADER,
    DEVICE_ID_PATTERN,
    Device,
    StreamNotFound,
    Streams,
)
from kushfilms.catalog import service as catalog
from kushfilms.catalog.service import MovieFilter, Sort
from kushfilms.config import Settings
from kushfilms.db import DbSession, ReadSession, database
from kushfilms.deps import AppSettings, JobQueue, MediaStorage
from kushfilms.errors import COMMON_ERRORS, error_responses
from kushfilms.kit.pagination import Page, PageQuery, to_page
from kushfilms.kit.text import SingleLine
from kushfilms.media import flows, playback, watching
from kushfilms.media import service as media
from kushfilms.media.delivery import (
    IMMUTABLE,
    PUBLIC_IMMUTABLE,
    PUBLIC_PRESIGN_SECONDS,
    deliver,
    playlist_response,
)
from kushfilms.media.playback import AccessChecks, NoSuchMedia
from kushfilms.media.schemas import (
    AdminMovieOut,
    AttachVideo,
    HistoryItem,
    PlaybackOut,
    ProgressIn,
    ProgressOut,
    StreamOut,
    StreamsPage,
    ThumbnailOut,
    VideoOut,
    admin_movie,
)
from kushfilms.media.signing import Scope
from kushfilms.media.storage import BadKey, Storage
from kushfilms.models import AccessLevel

router = APIRouter(tags=["playback"], responses=error_responses(*COMMON_ERRORS))
admin_router = APIRouter(
    prefix="/api/admin/movies",
    tags=["admin: catalogue"],
    responses=error_responses(*COMMON_ERRORS, 401, 403),
)
files_router = APIRouter(
    prefix="/media", tags=["media files"], responses=error_responses(403, 404, 422, 500)
)

MAX_THUMBNAIL_BYTES = flows.MAX_POSTER_BYTES  # the body limit's allowance (kushfilms.app)
PLAYLIST = "application/vnd.apple.mpegurl"
TIMED: dict[int | str, dict[str, object]] = {
    200: {
        "description": "Successful Response",
        "headers": {
            "Server-Timing": {
                "description": "How long the decision took, in ms (W3C Server Timing; browsers'"
                " developer tools show it): `entitlement` (the plan check), `streams` (the"
                " device's stream session, for signed-in viewers) and `total`.",
                "schema": {"type": "string"},
                "example": "entitlement;dur=0.412, streams;dur=1.208, total;dur=3.350",
            }
        },
    }
}

_CHECKED = (
    "Checked at every fetch against the film as it is now (published, on the same video)"
    " and the grant's viewer's plan as it is now, an answer kept `KF_PLAYBACK_CHECK_SECONDS`"
    " (5 s) per viewer and film: 403 `film_unavailable`, `subscription_required` or"
    " `invalid_media_token` once playback is no longer allowed. The files it names are"
    " signed for `KF_SEGMENT_URL_SECONDS` only: fetch it again for fresh ones (never cached)."
)


def _file_response(description: str, *types: str) -> dict[int | str, dict[str, object]]:
    return {200: {"description": description, "content": {kind: {} for kind in types}}}


async def _checks(request: Request) -> AccessChecks:
    checks: AccessChecks = request.app.state.playback_checks
    return checks


async def _device(
    request: Request,
    device_id: Annotated[
        str | None,
        Header(
            alias=DEVICE_HEADER,
            pattern=DEVICE_ID_PATTERN,
            description="A stable id of this device (8-64 of A-Z a-z 0-9 _ -), counted"
            " against the plan's simultaneous streams. Without it, the device is the"
            " pages' kf_device cookie, else one derived from the User-Agent.",
        ),
    ] = None,
) -> Device:
    return streams.api_device(
        request.headers.get("user-agent", ""),
        sent=device_id,
        cookie=request.cookies.get(DEVICE_COOKIE),
    )


PlaybackChecks = Annotated[AccessChecks, Depends(_checks)]
ViewerDevice = Annotated[Device, Depends(_device)]


@admin_router.get("", summary="Movies, published or not, with their video's state")
async def list_movies(
    _: AdminUser,
    session: ReadSession,
    page: PageQuery,
    search: Annotated[SingleLine | None, Query(max_length=200)] = None,
    category: Annotated[SingleLine | None, Query(max_length=100)] = None,
    access_level: AccessLevel | None = None,
    sort: Sort | None = None,
) -> Page[AdminMovieOut]:
    query = MovieFilter(
        search=search,
        category=category,
        access_level=access_level,
        sort=sort,
        include_unpublished=True,
    )
    found = await catalog.list_movies(session, query, page)
    videos = await media.videos_of(session, [movie.id for movie in found.items])
    return to_page(found, lambda movie: admin_movie(movie, videos.get(movie.id)))


@admin_router.get(
    "/{movie_id}", responses=error_responses(404), summary="One movie and its video's state"
)
async def get_movie(movie_id: uuid.UUID, _: AdminUser, session: ReadSession) -> AdminMovieOut:
    movie = await catalog.get_movie(session, movie_id, include_unpublished=True)
    return admin_movie(movie, await media.get_video(session, movie_id))


@admin_router.post(
    "/{movie_id}/publish",
    responses=error_responses(404, 409),
    summary="Publish a movie (its video must be ready)",
)
async def publish_movie(movie_id: uuid.UUID, _: AdminUser, session: DbSession) -> AdminMovieOut:
    film = await flows.publish_film(session, movie_id=movie_id)
    return admin_movie(film.movie, film.video)


@admin_router.post(
    "/{movie_id}/unpublish", responses=error_responses(404), summary="Unpublish a movie"
)
async def unpublish_movie(movie_id: uuid.UUID, _: AdminUser, session: DbSession) -> AdminMovieOut:
    film = await flows.unpublish_film(session, movie_id=movie_id)
    return admin_movie(film.movie, film.video)


@admin_router.delete(
    "/{movie_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(404),
    summary="Delete a movie; its video and pictures are deleted in the background",
)
async def delete_movie(
    movie_id: uuid.UUID, _: AdminUser, session: DbSession, jobs: JobQueue
) -> Response:
    await flows.delete_film(session, movie_id=movie_id, jobs=jobs)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@admin_router.post(
    "/{movie_id}/video",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(404, 409),
    summary="Attach a finished upload as the movie's video and start processing it",
)
async def attach_video(
    request: Request,
    movie_id: uuid.UUID,
    body: AttachVideo,
    _: AdminUser,
    caller: ReadSession,
    settings: AppSettings,
    jobs: JobQueue,
) -> VideoOut:
    # Who is calling is known: end that read before the file is probed, which
    # takes a while and must not keep a transaction open (the service opens its own).
    await caller.close()
    video = await media.attach_video(
        database(request),
        movie_id=movie_id,
        upload_id=body.upload_id,
        settings=settings,
        jobs=jobs,
    )
    return VideoOut.of(video)


@admin_router.post(
    "/{movie_id}/thumbnail",
    responses=error_responses(404),
    summary="Upload the movie's poster (JPEG, PNG or WebP, at most 15 MiB)",
)
async def upload_thumbnail(
    movie_id: uuid.UUID,
    file: UploadFile,
    _: AdminUser,
    session: DbSession,
    storage: MediaStorage,
) -> ThumbnailOut:
    url = await flows.set_poster(session, movie_id=movie_id, image=file, storage=storage)
    return ThumbnailOut(thumbnail_url=url)


@router.get(
    "/api/movies/{id_or_slug}/playback",
    responses={**TIMED, **error_responses(401, 403, 404, 409)},
    summary="Signed, expiring URLs to play a movie, at the quality the viewer may watch",
    description="For a signed-in viewer this opens a stream session for the device (409"
    " `too_many_streams`, with `limit` and `active_devices`, when the plan's devices are all"
    " watching; the same device opening any film keeps its session). Progress reports keep"
    " it alive; it lapses after `KF_STREAM_IDLE_SECONDS` without one. 409 `video_not_ready`"
    " before the video is processed.\n\nThe playlists are checked again at every fetch"
    " against the film and the viewer's plan as they are then (an answer is kept 5 s,"
    " `KF_PLAYBACK_CHECK_SECONDS`), and offer only the rungs the plan allows then. The"
    " segment URLs inside a media playlist work for `segment_url_seconds`"
    " (`KF_SEGMENT_URL_SECONDS`) after it was fetched: a client fetches the media playlist"
    " again before they lapse (the site's player does it while it loads segments) or when"
    " a segment answers 403, and goes on with the fresh URLs. Once the viewer may no longer"
    " watch, the playlists answer 403 and the segment URLs lapse on their own.",
)
async def start_playback(
    id_or_slug: Annotated[SingleLine, Path(max_length=220)],
    request: Request,
    response: Response,
    viewer: OptionalViewer,
    session: ReadSession,
    settings: AppSettings,
    registry: Streams,
    device: ViewerDevice,
) -> PlaybackOut:
    found = await playback.start_playback(
        session,
        viewer=viewer,
        id_or_slug=id_or_slug,
        settings=settings,
        streams=registry,
        device=device,
    )
    request.app.state.views.count(found.movie_id)
    response.headers["Server-Timing"] = playback.server_timing(found.timings)
    return PlaybackOut.model_validate(found)


@router.post(
    "/api/watch/progress",
    responses=error_responses(401, 404, 409),
    summary="Remember how far the viewer has watched; the device's stream heartbeat",
    description="Send it every 10 s or so while playing, with the same `X-Device-Id` as the"
    " playback request: it keeps the device's stream alive. A device whose stream lapsed"
    " gets it back if a slot is free, else 409 `too_many_streams` (stop playing).",
)
async def record_progress(
    body: ProgressIn,
    user: CurrentUser,
    session: DbSession,
    settings: AppSettings,
    registry: Streams,
    device: ViewerDevice,
) -> ProgressOut:
    entry = await flows.report_progress(
        session,
        viewer=user,
        movie_id=body.movie_id,
        position=body.progress,
        device=device,
        streams=registry,
        settings=settings,
    )
    return ProgressOut.model_validate(entry)


@router.get(
    "/api/user/streams",
    responses=error_responses(401),
    summary="The viewer's devices watching now, and how many the plan allows",
)
async def active_streams(
    user: CurrentUser,
    session: DbSession,
    settings: AppSettings,
    registry: Streams,
    device: ViewerDevice,
    page: PageQuery,
) -> StreamsPage:
    live = await registry.active(user)
    shown = live[page.offset : page.offset + page.page_size]
    return StreamsPage(
        items=[StreamOut.of(stream, current_device=device.id) for stream in shown],
        total=len(live),
        page=page.page,
        page_size=page.page_size,
        limit=await streams.stream_limit(session, user, settings),
    )


@router.delete(
    "/api/user/streams/{device_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 404),
    summary="Stop counting a device's stream, freeing its slot",
    description="The device's next progress report gets 409 if another device has taken"
    " the slot by then.",
)
async def end_stream(
    device_id: Annotated[str, Path(pattern=DEVICE_ID_PATTERN)],
    user: CurrentUser,
    registry: Streams,
) -> Response:
    if not await registry.end(user, device_id):
        raise StreamNotFound()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/api/user/history", responses=error_responses(401), summary="What the viewer has watched"
)
async def history(user: CurrentUser, session: ReadSession, page: PageQuery) -> Page[HistoryItem]:
    found = await watching.history(session, user=user, page=page)
    return to_page(
        found,
        lambda item: HistoryItem(
            movie=item[1],
            progress=item[0].progress,
            completed=item[0].completed,
            watched_at=item[0].watched_at,
        ),
    )


@files_router.get(
    "/art/{movie_id}/{name}",
    summary="A poster (public)",
    response_class=Response,
    responses=_file_response("The image", "image/jpeg"),
)
async def art(
    movie_id: uuid.UUID,
    name: Annotated[str, Path(pattern=r"^[a-z0-9]+-\d+\.jpg$")],
    storage: MediaStorage,
    settings: AppSettings,
) -> Response:
    key = media.art_key(movie_id, name)
    return await _deliver_existing(storage, key, settings, PUBLIC_IMMUTABLE)


@files_router.get(
    "/{movie_id}/{token}/master.m3u8",
    summary="The master playlist of a playback grant: the rungs the viewer may watch now",
    description=_CHECKED,
    response_class=Response,
    responses=_file_response("An HLS master playlist", PLAYLIST),
)
async def master_playlist(
    movie_id: uuid.UUID,
    token: str,
    session: ReadSession,
    storage: MediaStorage,
    settings: AppSettings,
    checks: PlaybackChecks,
) -> Response:
    grant = playback.check_grant(settings, movie_id, token, Scope.PLAYLISTS)
    text = await _read(storage, playback.master_key(grant))
    max_height = await playback.check_access(session, grant, settings, checks)
    return playlist_response(
        playback.filter_master(text, max_height),
        media_type=PLAYLIST,
        cache_control=playback.PLAYLIST_CACHE_CONTROL,
    )


@files_router.get(
    "/{movie_id}/{token}/thumbs/thumbnails.vtt",
    summary="The scrub preview index (WebVTT); with object storage, its sprite URLs are"
    " presigned for minutes",
    description=_CHECKED,
    response_class=Response,
    responses=_file_response("The sprites' WebVTT index", "text/vtt"),
)
async def thumbnails_index(
    movie_id: uuid.UUID,
    token: str,
    session: ReadSession,
    storage: MediaStorage,
    settings: AppSettings,
    checks: PlaybackChecks,
) -> Response:
    grant = playback.check_grant(settings, movie_id, token, Scope.PLAYLISTS)
    key = playback.thumbnails_key(grant)
    text = await _read(storage, key)
    await playback.check_access(session, grant, settings, checks)
    signed = playback.sign_files(
        text, storage=storage, key=key, expires_in=settings.segment_url_seconds
    )
    return playlist_response(
        signed, media_type="text/vtt", cache_control=playback.PLAYLIST_CACHE_CONTROL
    )


@files_router.get(
    "/{movie_id}/{token}/thumbs/{name}",
    summary="A scrub preview sprite, checked like the playlists",
    response_class=Response,
    responses=_file_response("A sprite sheet", "image/jpeg"),
)
async def sprite(
    movie_id: uuid.UUID,
    token: str,
    name: str,
    session: ReadSession,
    storage: MediaStorage,
    settings: AppSettings,
    checks: PlaybackChecks,
) -> Response:
    grant = playback.check_grant(settings, movie_id, token, Scope.PLAYLISTS)
    key = playback.sprite_key(grant, name)
    await playback.check_access(session, grant, settings, checks)
    return await _deliver_existing(
        storage, key, settings, IMMUTABLE, expires_in=settings.segment_url_seconds
    )


@files_router.get(
    "/{movie_id}/{token}/{rung}/index.m3u8",
    summary="A rung's media playlist, its segment URLs signed for minutes",
    description=_CHECKED,
    response_class=Response,
    responses=_file_response("An HLS media playlist", PLAYLIST),
)
async def media_playlist(
    movie_id: uuid.UUID,
    token: str,
    rung: str,
    session: ReadSession,
    storage: MediaStorage,
    settings: AppSettings,
    checks: PlaybackChecks,
) -> Response:
    grant = playback.check_grant(settings, movie_id, token, Scope.PLAYLISTS)
    key = playback.media_playlist_key(grant, rung)
    text = await _read(storage, key)  # first: no transaction stays open across the store
    max_height = await playback.check_access(session, grant, settings, checks)
    playback.check_rung(rung, max_height)
    signed = playback.sign_files(
        text,
        storage=storage,
        key=key,
        expires_in=settings.segment_url_seconds,
        token=playback.segments_token(grant, max_height, settings),
    )
    return playlist_response(
        signed, media_type=PLAYLIST, cache_control=playback.PLAYLIST_CACHE_CONTROL
    )


@files_router.get(
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
    grant = playback.check_grant(settings, movie_id, token, Scope.SEGMENTS)
    key = playback.segment_key(grant, rung, name)
    return await _deliver_existing(
        storage, key, settings, IMMUTABLE, expires_in=settings.segment_url_seconds
    )


async def _read(storage: Storage, key: str) -> str:
    try:
        return (await storage.get_bytes(key)).decode()
    except (FileNotFoundError, BadKey) as error:
        raise NoSuchMedia() from error


async def _deliver_existing(
    storage: Storage,
    key: str,
    settings: Settings,
    cache_control: str,
    *,
    expires_in: int = PUBLIC_PRESIGN_SECONDS,
) -> Response:
    local = storage.local_path(key)
    if local is not None and not local.is_file():
        raise NoSuchMedia()
    return deliver(storage, key, settings, cache_control=cache_control, expires_in=expires_in)
