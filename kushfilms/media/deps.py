"""The media domain's own typed dependencies, for its routes and the pages alike: the
playback access checks, the device a playback counts against, the view counter, and
what a playlist fetch is checked with."""

from typing import Annotated

from fastapi import Depends, Header, Request

from kushfilms.accounts.devices import (
    DEVICE_COOKIE,
    DEVICE_HEADER,
    DEVICE_ID_PATTERN,
    Device,
    api_device,
)
from kushfilms.catalog.view_counter import ViewCounter
from kushfilms.deps import AppSettings, MediaStorage, ReadSession
from kushfilms.media.delivery.access import AccessChecks
from kushfilms.media.delivery.files import Fetch
from kushfilms.state import app_state


async def _checks(request: Request) -> AccessChecks:
    return app_state(request).playback_checks


async def _views(request: Request) -> ViewCounter:
    return app_state(request).views


async def _device(
    request: Request,
    # Not named device_id: routes with a {device_id} in their path take this dependency too.
    sent_device_id: Annotated[
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
    return api_device(
        request.headers.get("user-agent", ""),
        sent=sent_device_id,
        cookie=request.cookies.get(DEVICE_COOKIE),
    )


PlaybackChecks = Annotated[AccessChecks, Depends(_checks)]
ViewCounts = Annotated[ViewCounter, Depends(_views)]
ViewerDevice = Annotated[Device, Depends(_device)]


async def _fetch(
    session: ReadSession, storage: MediaStorage, settings: AppSettings, checks: PlaybackChecks
) -> Fetch:
    return Fetch(session=session, storage=storage, settings=settings, checks=checks)


PlaylistFetch = Annotated[Fetch, Depends(_fetch)]
