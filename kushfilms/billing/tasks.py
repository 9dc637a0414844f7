"""Billing's part of the worker's housekeeping."""

import logging

from kushfilms.billing.local import LocalProvider
from kushfilms.db import transaction
from kushfilms.worker.queue import Jobs

log = logging.getLogger(__name__)


async def renew_local_subscriptions(jobs: Jobs) -> int:
    """Without Stripe, the local checkout's subscriptions renew (or end) here when
    their period is over, as Stripe would renew them. With Stripe, Stripe does it."""
    if jobs.settings.uses_stripe:
        return 0
    db = jobs.database()
    try:
        async with transaction(db.writer) as session:
            renewed = await LocalProvider(session, jobs.settings).renew_due()
    finally:
        await db.dispose()
    if renewed:
        log.info("rolled over %d local subscriptions", renewed)
    return renewed
