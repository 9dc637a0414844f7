"""The account page's list of devices: this browser and those watching now, each with
what it watches and since when, and the name the viewer gave it."""

from dataclasses import dataclass
from datetime import datetime

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.accounts.devices import DEVICE_COOKIE, Device, device_label, valid_device_id
from kushfilms.billing import devices
from kushfilms.billing.deps import registry_for
from kushfilms.billing.devices import ListedDevice
from kushfilms.billing.streams import stream_limit
from kushfilms.deps import settings_of
from kushfilms.kit.clock import utcnow
from kushfilms.models import User


@dataclass(frozen=True, slots=True)
class AccountDevices:
    listed: list[ListedDevice]  # this browser first
    limit: int  # how many the plan lets watch at once
    now: datetime


def this_browser(request: Request) -> Device | None:
    """The browser's device, once a watch page has given it one (its cookie)."""
    found = valid_device_id(request.cookies.get(DEVICE_COOKIE))
    return Device(found, device_label(request.headers.get("user-agent", ""))) if found else None


async def account_devices(request: Request, session: AsyncSession, viewer: User) -> AccountDevices:
    registry = registry_for(request, session)
    current = this_browser(request)
    listed = await devices.devices_of(session, registry, viewer=viewer, current=current)
    limit = await stream_limit(session, viewer, settings_of(request))
    return AccountDevices(listed, limit, utcnow())
