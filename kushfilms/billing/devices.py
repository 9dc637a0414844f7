"""A viewer's devices as the account page and the API show them: the one in hand and
those watching now (what, since when), each with the name the viewer gave it
(``accounts/device_names.py``) beside the name read from its User-Agent.

A viewer names only devices of theirs: the one in hand, one watching now, or one
named before; any other id is 404, whoever's it may be.
"""

import logging
from dataclasses import dataclass

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.accounts import device_names
from kushfilms.accounts.device_names import DeviceNotFound
from kushfilms.accounts.devices import Device
from kushfilms.billing.streams import Stream, StreamRegistry
from kushfilms.models import User

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ListedDevice:
    device_id: str
    label: str  # "Chrome on Linux"
    name: str | None  # "Living-room TV"
    stream: Stream | None  # what it watches and since when; None when it is not watching
    current: bool  # the device in hand

    @property
    def title(self) -> str:
        """The name and the label ("Living-room TV · Chrome on Linux"), or the label."""
        return " · ".join(part for part in (self.name, self.label) if part) or "A device"


async def devices_of(
    session: AsyncSession, registry: StreamRegistry, *, viewer: User, current: Device | None
) -> list[ListedDevice]:
    """The device in hand first (watching or not), then the others watching, oldest first."""
    live = await _watching(registry, viewer)
    here = current.id if current is not None else None
    listed = [ListedDevice(s.device_id, s.label, s.name, s, s.device_id == here) for s in live]
    if current is not None and not any(device.current for device in listed):
        names = await device_names.names_of(session, viewer.id, [current.id])
        listed.append(ListedDevice(current.id, current.label, names.get(current.id), None, True))
    return sorted(listed, key=lambda device: not device.current)


async def name_device(
    session: AsyncSession,
    registry: StreamRegistry,
    *,
    viewer: User,
    current: Device | None,
    device_id: str,
    name: str,
) -> str:
    """Give one of the viewer's devices a name (422 ``invalid_device_name``); the name."""
    known = (current is not None and device_id == current.id) or any(
        stream.device_id == device_id for stream in await _watching(registry, viewer)
    )
    if not known and not await device_names.names_of(session, viewer.id, [device_id]):
        raise DeviceNotFound()
    named = await device_names.name_device(
        session, user_id=viewer.id, device_id=device_id, name=name
    )
    return named.name


async def _watching(registry: StreamRegistry, viewer: User) -> list[Stream]:
    """The devices watching now; none while Redis cannot be reached (the account page
    still shows, and streams start unlimited then anyway)."""
    try:
        return await registry.active(viewer)
    except RedisError:
        log.exception("stream registry unavailable; listing no devices as watching")
        return []
