"""Running consumers: ``kushfilms worker``, and the one ``kushfilms serve`` starts."""

import asyncio
import logging
import threading

from kushfilms.billing import tasks as billing_tasks
from kushfilms.config import Settings
from kushfilms.db import Database
from kushfilms.media import tasks as media_tasks
from kushfilms.notify import tasks as notify_tasks
from kushfilms.worker.heartbeat import Heartbeat
from kushfilms.worker.outbox import relay_in_thread
from kushfilms.worker.queue import Jobs, JobSpec, bind_jobs

log = logging.getLogger(__name__)
UPLOAD_SWEEP_SECONDS = 600
HOUSEKEEPING = (
    media_tasks.recover_stalled,
    billing_tasks.renew_local_subscriptions,
    notify_tasks.remind_renewals,
)


def all_jobs() -> list[JobSpec]:
    return [*media_tasks.JOBS, *notify_tasks.JOBS]


def run_worker(settings: Settings, *, threads: int) -> None:
    """Consume jobs until interrupted, and keep house meanwhile (at once, first: the
    leases of workers known dead are given up as this one starts)."""
    jobs = Jobs(settings, all_jobs())
    heartbeat = Heartbeat(settings)
    stop = threading.Event()
    relaying: threading.Thread | None = None
    try:  # from the start: a Ctrl-C may come while it starts, and must stop it all
        heartbeat.start()  # registered before it claims anything
        keeper = threading.Thread(
            target=_keep_house, args=(jobs, stop), daemon=True, name="housekeeping"
        )
        keeper.start()
        # Jobs queued by transactions whose process could not send them (the queue was
        # down, or the process died) are swept up and sent from here too.
        relaying = relay_in_thread(bind_jobs(Database(settings), jobs), stop)
        jobs.consumer(threads).run()
    finally:
        stop.set()
        if relaying is not None:
            relaying.join(timeout=10)
        heartbeat.stop()


def _keep_house(jobs: Jobs, stop: threading.Event) -> None:
    """Every half lease: give stalled videos to another attempt, drop stale uploads,
    renew the local checkout's subscriptions, remind subscribers whose plan renews soon."""
    interval = max(1.0, jobs.settings.job_lease_seconds / 2)
    while True:
        for step in HOUSEKEEPING:
            try:
                asyncio.run(step(jobs))
            except Exception:
                log.exception(
                    "housekeeping (%s) failed; trying again in %.0f s", step.__name__, interval
                )
        if stop.wait(interval):
            return
