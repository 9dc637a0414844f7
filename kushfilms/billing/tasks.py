"""Billing's part of the worker's housekeeping: local renewals and renewal reminders."""

import logging
from datetime import datetime

from kushfilms.billing import reminders
from kushfilms.billing.local import LocalProvider
from kushfilms.db import transaction
from kushfilms.kit.clock import utcnow
from kushfilms.worker.context import JobContext

log = logging.getLogger(__name__)


async def renew_local_subscriptions(context: JobContext) -> int:
    """Without Stripe, the local checkout's subscriptions renew (or end) here when
    their period is over, as Stripe would renew them. With Stripe, Stripe does it."""
    if context.settings.uses_stripe:
        return 0
    async with transaction(context.db.writer) as session:
        renewed = await LocalProvider(session, context.settings).renew_due()
    if renewed:
        log.info("rolled over %d local subscriptions", renewed)
    return renewed


async def remind_renewals(context: JobContext, *, now: datetime | None = None) -> int:
    """Remind subscribers whose plan renews within three days, once a period."""
    async with transaction(context.db.writer) as session:
        reminded = await reminders.remind_renewals(session, context.settings, now=now or utcnow())
    if reminded:
        log.info("queued %d renewal reminders", reminded)
    return reminded
