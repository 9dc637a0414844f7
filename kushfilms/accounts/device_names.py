"""The names viewers give their devices ("Living-room TV"), shown beside the name read
from the User-Agent, so that two laptops that both read "Chrome on Linux" can be told
apart. A name is kept while its device comes and goes from the list of devices watching.

A name is one line of plain text, 1 to :data:`NAME_LENGTH` characters once trimmed:
no control or text-direction characters (it is shown to people, beside other text).
"""

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.errors import NotFound, Unprocessable
from kushfilms.kit.clock import utcnow
from kushfilms.kit.text import check_name
from kushfilms.models import DeviceName

NAME_LENGTH = 60  # as long as the column


class InvalidDeviceName(Unprocessable):
    code = "invalid_device_name"
    message = f"A device's name is 1 to {NAME_LENGTH} characters of text on one line."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, field="name")


class DeviceNotFound(NotFound):
    code = "device_not_found"
    message = "None of your devices has that id."


def check_device_name(name: str) -> str:
    """The name, trimmed, if it is one; else :class:`InvalidDeviceName` saying why."""
    trimmed = name.strip()
    if not trimmed:
        raise InvalidDeviceName("Give the device a name.")
    if len(trimmed) > NAME_LENGTH:
        raise InvalidDeviceName(f"Use at most {NAME_LENGTH} characters.")
    try:
        return check_name(trimmed)
    except ValueError as error:
        raise InvalidDeviceName(f"A device's name {error}.") from error


async def names_of(
    session: AsyncSession, user_id: uuid.UUID, device_ids: Iterable[str]
) -> dict[str, str]:
    """The names the viewer gave those of ``device_ids`` that have one."""
    wanted = list(set(device_ids))
    if not wanted:
        return {}
    rows = await session.scalars(
        select(DeviceName).where(DeviceName.user_id == user_id, DeviceName.device_id.in_(wanted))
    )
    return {row.device_id: row.name for row in rows}


async def name_device(
    session: AsyncSession, *, user_id: uuid.UUID, device_id: str, name: str
) -> DeviceName:
    """Give one of the viewer's devices a name (checked: :func:`check_device_name`)."""
    name = check_device_name(name)
    row = await session.get(DeviceName, (user_id, device_id))
    if row is None:
        row = DeviceName(user_id=user_id, device_id=device_id, name=name)
        try:
            async with session.begin_nested():
                session.add(row)
        except IntegrityError:  # named at the same moment elsewhere: this name wins
            row = await session.get(DeviceName, (user_id, device_id), populate_existing=True)
            assert row is not None
    row.name = name
    row.updated_at = utcnow()
    await session.flush()
    return row
