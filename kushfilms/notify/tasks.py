"""Email jobs: render and send one email.

A send that fails for a reason that may pass (the server is down, a timeout)
raises, and the queue tries again with backoff; a recipient refused for good
is logged and dropped.
"""

import logging
import uuid
from typing import Any

from kushfilms.accounts import service as accounts
from kushfilms.kit.clock import utcnow
from kushfilms.notify import service as notify
from kushfilms.notify.kinds import LETTERS, EmailKind
from kushfilms.notify.mailers import Undeliverable, open_mailer
from kushfilms.notify.messages import Recipient, compose, render, site_url
from kushfilms.worker.context import JobContext
from kushfilms.worker.queue import JobSpec

log = logging.getLogger(__name__)


async def send_email(
    context: JobContext, kind: str, user_id: str, context_values: dict[str, Any], message_id: str
) -> None:
    settings, email = context.settings, EmailKind(kind)
    recipient = await _recipient(context, uuid.UUID(user_id))
    if recipient is None:
        log.info("not sending the %s email %s: user %s is gone", email, message_id, user_id)
        return
    if (field := LETTERS[email].send_to) is not None:
        recipient = Recipient(recipient.name, str(context_values[field]))
    rendered = render(email, context_values, recipient=recipient, site=site_url(settings))
    message = compose(
        rendered,
        kind=email,
        sender=settings.mail_from,
        recipient=recipient,
        message_id=message_id,
        sent_at=utcnow(),
    )
    try:
        await open_mailer(settings).send(message)
    except Undeliverable as error:
        log.warning("the %s email %s to user %s was refused: %s", email, message_id, user_id, error)
        return
    log.info("sent the %s email %s to user %s", email, message_id, user_id)


async def _recipient(context: JobContext, user_id: uuid.UUID) -> Recipient | None:
    """The user's name and address as they are now."""
    try:
        async with context.db.reader() as session:
            user = await accounts.get_user(session, user_id)
    except accounts.UserNotFound:
        return None
    return Recipient(user.name, user.email)


# Retries wait 30 s, 1 min, 2 min, ... about two hours in all.
JOBS = (
    JobSpec(
        notify.SEND_EMAIL,
        send_email,
        retries=8,
        retry_delay=30,
        retry_backoff=2,
        former_names=(notify.FORMER_SEND_EMAIL,),
    ),
)
