"""Email jobs: send one email, and remind subscribers of a renewal.

A send that fails for a reason that may pass (the server is down, a timeout)
raises, and the queue tries again with backoff; a recipient refused for good
is logged and dropped.
"""

import asyncio
import logging
import uuid
from datetime import datetime
from typing import Any

from kushfilms.accounts import service as accounts
from kushfilms.billing.plans import plans_from
from kushfilms.config import Settings
from kushfilms.db import Database, transaction
from kushfilms.kit.clock import utcnow
from kushfilms.notify import service as notify
from kushfilms.notify.kinds import EmailKind
from kushfilms.notify.mailers import Undeliverable, open_mailer
from kushfilms.notify.messages import Recipient, compose, render, site_url
from kushfilms.worker.queue import Jobs, JobSpec

log = logging.getLogger(__name__)


def send_email(
    jobs: Jobs, kind: str, user_id: str, context: dict[str, Any], message_id: str
) -> None:
    asyncio.run(
        _send_email(jobs.settings, EmailKind(kind), uuid.UUID(user_id), context, message_id)
    )


async def _send_email(
    settings: Settings,
    kind: EmailKind,
    user_id: uuid.UUID,
    context: dict[str, Any],
    message_id: str,
) -> None:
    recipient = await _recipient(settings, user_id)
    if recipient is None:
        log.info("not sending the %s email %s: user %s is gone", kind, message_id, user_id)
        return
    rendered = render(kind, context, recipient=recipient, site=site_url(settings))
    message = compose(
        rendered,
        kind=kind,
        sender=settings.mail_from,
        recipient=recipient,
        message_id=message_id,
        sent_at=utcnow(),
    )
    try:
        await open_mailer(settings).send(message)
    except Undeliverable as error:
        log.warning("the %s email %s to user %s was refused: %s", kind, message_id, user_id, error)
        return
    log.info("sent the %s email %s to user %s", kind, message_id, user_id)


async def _recipient(settings: Settings, user_id: uuid.UUID) -> Recipient | None:
    """The user's name and address as they are now."""
    db = Database(settings)
    try:
        async with db.reader() as session:
            user = await accounts.get_user(session, user_id)
    except accounts.UserNotFound:
        return None
    finally:
        await db.dispose()
    return Recipient(user.name, user.email)


async def remind_renewals(jobs: Jobs, *, now: datetime | None = None) -> int:
    """Queue a reminder for each subscription renewing within three days, once a period."""
    plans = plans_from(jobs.settings)
    db = jobs.database()
    reminded = 0
    try:
        async with transaction(db.writer) as session:
            for renewal in await notify.claim_renewal_reminders(session, now=now or utcnow()):
                offer = plans[renewal.scheduled_plan or renewal.plan]
                if not offer.price_cents:  # moving to Free: nothing will be charged
                    continue
                user = await accounts.get_user(session, renewal.user_id)
                await notify.queue_email(
                    session,
                    EmailKind.RENEWAL_REMINDER,
                    user,
                    plan=offer.name,
                    amount=offer.price,
                    renewal_date=renewal.renews_at,
                )
                reminded += 1
    finally:
        await db.dispose()
    if reminded:
        log.info("queued %d renewal reminders", reminded)
    return reminded


# Retries wait 30 s, 1 min, 2 min, ... about two hours in all.
JOBS = (JobSpec(notify.SEND_EMAIL, send_email, retries=8, retry_delay=30, retry_backoff=2),)
