"""Queueing emails with the transaction that causes them."""

import enum
import json
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from kushfilms.models import User
from kushfilms.notify.kinds import LETTERS, EmailKind
from kushfilms.notify.messages import new_message_id
from kushfilms.worker.queue import enqueue, jobs_of

SEND_EMAIL = "notify.send_email"
FORMER_SEND_EMAIL = "send_email"  # its name before job names had their domain


def queue_email_in(session: Session, /, kind: EmailKind | str, to: User, **context: Any) -> None:
    """Send ``to`` an email of this kind once the session's transaction commits.

    The job renders it at send time with the user's name and address as they are
    then. A context that does not fit the kind is a bug and raises at once. The
    job is written with the transaction (the outbox), so a queue that cannot be
    reached delays the email and never loses it.
    """
    kind = EmailKind(kind)
    values = email_context(kind, context)
    jobs = jobs_of(session)
    if to.id is None:  # a user added in this transaction and not flushed yet
        session.flush()
    enqueue(
        session,
        jobs,
        SEND_EMAIL,
        kind.value,
        str(to.id),
        values,
        new_message_id(jobs.settings.mail_from),
    )


async def queue_email(
    session: AsyncSession, kind: EmailKind | str, to: User, **context: Any
) -> None:
    """:func:`queue_email_in`, for a request's or job's async session."""
    await session.run_sync(queue_email_in, kind, to, **context)


def email_context(kind: EmailKind, context: dict[str, Any]) -> dict[str, Any]:
    """The context as JSON values (dates become ISO strings), checked against the kind."""
    letter = LETTERS[kind]
    missing = letter.required - context.keys()
    unknown = context.keys() - letter.fields
    if missing or unknown:
        raise TypeError(
            f"the {kind.value} email needs {sorted(letter.required)}"
            f" (and may have {sorted(letter.optional)});"
            f" missing {sorted(missing)}, unknown {sorted(unknown)}"
        )
    values: dict[str, Any] = json.loads(json.dumps(context, default=_to_json))
    return values


def _to_json(value: object) -> object:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a JSON value: {value!r}")
