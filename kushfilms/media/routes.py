"""The viewers' playback routes: starting playback (or an administrator's preview), the
progress heartbeat, the devices watching now and their names, and what the viewer has
watched."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from kushfilms.accounts.deps import CurrentUser, OptionalViewer
from kushfilms.accounts.devices import DEVICE_ID_PATTERN
from kushfilms.billing import devices, streams
from kushfilms.billing.deps import Streams
from kushfilms.billing.streams import StreamNotFound
from kushfilms.deps import AppSettings, DbSession, PageQuery, ReadSession
from kushfilms.errors import COMMON_ERRORS, error_responses
from kushfilms.kit.pagination import Page, to_page
from kushfilms.kit.text import SingleLine
from kushfilms.media import flows, watching
from kushfilms.media.delivery.playback import server_timing
from kushfilms.media.deps import ViewCounts, ViewerDevice
from kushfilms.media.schemas import (
    DeviceNameIn,
    DeviceNameOut,
    HistoryItem,
    PlaybackOut,
    ProgressIn,
    ProgressOut,
    StreamOut,
    StreamsPage,
)

router = APIRouter(tags=["playback"], responses=error_responses(*COMMON_ERRORS))

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
    " watch, the playlists answer 403 and the segment URLs lapse on their own.\n\n"
    "`preview=true` (administrators only: 401 anonymous, 403 `preview_for_admins_only`) plays"
    " a film whose video is ready whether or not it is published, from the start: no view"
    " counted, no stream session, nothing to report. Without it an unpublished film is 404"
    " for everyone.",
)
async def start_playback(
    id_or_slug: Annotated[SingleLine, Path(max_length=220)],
    response: Response,
    viewer: OptionalViewer,
    session: ReadSession,
    settings: AppSettings,
    registry: Streams,
    device: ViewerDevice,
    views: ViewCounts,
    preview: Annotated[
        bool, Query(description="An administrator's preview (unpublished films too)")
    ] = False,
) -> PlaybackOut:
    found = await flows.start_playback(
        session,
        viewer=viewer,
        id_or_slug=id_or_slug,
        settings=settings,
        streams=registry,
        device=device,
        views=views,
        preview=preview,
    )
    response.headers["Server-Timing"] = server_timing(found.timings)
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


@router.put(
    "/api/user/devices/{device_id}/name",
    responses=error_responses(401, 404),
    summary="Name one of the viewer's devices, to tell it apart in the list of devices",
    description="The device making the request, one watching now, or one named before (else"
    " 404 `device_not_found`). The name shows beside the device's label wherever devices"
    " are listed (`GET /api/user/streams`, `too_many_streams`, the account page).",
)
async def name_device(
    device_id: Annotated[str, Path(pattern=DEVICE_ID_PATTERN)],
    body: DeviceNameIn,
    user: CurrentUser,
    session: DbSession,
    registry: Streams,
    device: ViewerDevice,
) -> DeviceNameOut:
    name = await devices.name_device(
        session, registry, viewer=user, current=device, device_id=device_id, name=body.name
    )
    return DeviceNameOut(device_id=device_id, name=name)


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
