"""The forms of the account page's devices: naming one, and ending one's stream."""

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request, Response
from fastapi.responses import RedirectResponse

from kushfilms.accounts.device_names import DeviceNotFound, InvalidDeviceName
from kushfilms.accounts.devices import DEVICE_ID_PATTERN
from kushfilms.billing import devices
from kushfilms.billing.deps import Streams
from kushfilms.deps import DbSession
from kushfilms.web.account_devices import this_browser
from kushfilms.web.auth_pages import account_page
from kushfilms.web.deps import CheckedForm, PageUser, Templates

router = APIRouter(include_in_schema=False)
DeviceId = Annotated[str, Path(pattern=DEVICE_ID_PATTERN)]


@router.post("/account/devices/{device_id}/name", dependencies=[CheckedForm])
async def name_device(
    request: Request,
    device_id: DeviceId,
    user: PageUser,
    session: DbSession,
    pages: Templates,
    registry: Streams,
    name: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Name one of the viewer's devices (this browser, one watching, one named before)."""
    try:
        await devices.name_device(
            session,
            registry,
            viewer=user,
            current=this_browser(request),
            device_id=device_id,
            name=name,
        )
    except InvalidDeviceName as error:
        form = {"name": user.name, "device_id": device_id, "device_name": name}
        errors = {"device_name": error.detail}
        return await account_page(
            request, user, session, pages, form=form, errors=errors, status_code=422
        )
    except DeviceNotFound:
        return RedirectResponse("/account?saved=gone#devices", status_code=303)
    return RedirectResponse("/account?saved=device#devices", status_code=303)


@router.post("/account/devices/{device_id}/end", dependencies=[CheckedForm])
async def end_device(device_id: DeviceId, user: PageUser, registry: Streams) -> Response:
    """Stop counting a device's stream, freeing its place."""
    ended = await registry.end(user, device_id)
    return RedirectResponse(f"/account?saved={'ended' if ended else 'gone'}#devices", 303)
