"""Every job and housekeeping step of the platform, above the domains that define them.

The worker runs what this module lists (``kushfilms worker``); the app and the
CLI build their queue from it to send jobs. A new domain adds its ``JOBS`` and
steps here; the worker itself never imports a domain.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from kushfilms.accounts import tasks as account_tasks
from kushfilms.billing import tasks as billing_tasks
from kushfilms.config import Settings
from kushfilms.media import tasks as media_tasks
from kushfilms.notify import tasks as notify_tasks
from kushfilms.worker.context import JobContext, open_context
from kushfilms.worker.queue import Jobs, JobSpec
from kushfilms.worker.runner import HousekeepingStep, run_worker

# Run when a worker starts, then every half lease.
HOUSEKEEPING: tuple[HousekeepingStep, ...] = (
    media_tasks.recover_stalled,
    billing_tasks.renew_local_subscriptions,
    billing_tasks.remind_renewals,
)


def all_jobs() -> list[JobSpec]:
    return [*account_tasks.JOBS, *media_tasks.JOBS, *notify_tasks.JOBS]


def job_queue(settings: Settings) -> Jobs:
    """The queue, knowing every job: for a process that sends them."""
    return Jobs(settings, all_jobs())


@asynccontextmanager
async def job_context(settings: Settings) -> AsyncIterator[JobContext]:
    """A job context knowing every job, on the running event loop, closed on exit: for
    a command (or a test) that runs jobs itself."""
    context = open_context(settings, all_jobs())
    try:
        yield context
    finally:
        await context.aclose()


def work(settings: Settings, *, threads: int) -> None:
    """Run a worker: every job, every housekeeping step."""
    run_worker(settings, all_jobs(), HOUSEKEEPING, threads=threads)
