"""The local checkout's records: Stripe-shaped objects (customers, checkout sessions,
subscriptions, invoices) kept as JSON, one row each, in ``local_payment_objects``.

A record to be changed is read under its row lock (``SELECT ... FOR UPDATE``),
held until the transaction ends; see :mod:`kushfilms.billing.local`.
"""

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from kushfilms.errors import NotFound
from kushfilms.models import LocalPaymentObject

# Columns, not the mapped object: the data comes back as a value of its own, which
# the caller may change in place (a change to a loaded object's JSON would go
# unnoticed by SQLAlchemy), and a webhook is spared loading an object per event.
_RECORD = select(LocalPaymentObject.kind, LocalPaymentObject.data).where(
    LocalPaymentObject.id == bindparam("id")
)
_LOCKED_RECORD = _RECORD.with_for_update()
# A renewal passes over a subscription that another worker (or its viewer) is changing.
_CLAIMED_RECORD = _RECORD.with_for_update(skip_locked=True)
_SUBSCRIPTIONS = (
    select(LocalPaymentObject.id, LocalPaymentObject.data)
    .where(LocalPaymentObject.kind == "subscription")
    .order_by(LocalPaymentObject.id)
)
_NEW_RECORD = {
    dialect: insert(LocalPaymentObject).on_conflict_do_nothing(index_elements=["id"])
    for dialect, insert in (("postgresql", postgresql_insert), ("sqlite", sqlite_insert))
}


def read(session: Session, object_id: str, kind: str, *, lock: bool = False) -> dict[str, Any]:
    """The record; with ``lock``, held until the transaction ends (to be changed)."""
    statement = _LOCKED_RECORD if lock else _RECORD
    found = session.execute(statement, {"id": object_id}).first()
    if found is None or found.kind != kind:
        raise NotFound(f"No such {kind.replace('_', ' ')}.")
    data: dict[str, Any] = found.data
    return data


def claim(session: Session, object_id: str) -> dict[str, Any] | None:
    """The record, locked; None when another transaction holds it now (or it is gone)."""
    found = session.execute(_CLAIMED_RECORD, {"id": object_id}).first()
    data: dict[str, Any] | None = None if found is None else found.data
    return data


async def subscriptions(session: AsyncSession) -> list[tuple[str, dict[str, Any]]]:
    """Every subscription's id and data, unlocked."""
    found = await session.execute(_SUBSCRIPTIONS)
    return [(record.id, record.data) for record in found]


async def write(session: AsyncSession, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    found = await session.get(LocalPaymentObject, data["id"])
    if found is None:
        session.add(LocalPaymentObject(id=data["id"], kind=kind, data=data))
    else:
        found.data = data
    await session.flush()
    return data


async def add_once(session: AsyncSession, kind: str, data: dict[str, Any]) -> None:
    """Add the record unless one of its id is there already (then that one stands)."""
    connection = await session.connection()
    await session.execute(
        _NEW_RECORD[connection.dialect.name], {"id": data["id"], "kind": kind, "data": data}
    )
