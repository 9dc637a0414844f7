"""Running a consumer: ``kushfilms worker``, and the one ``kushfilms serve`` starts.

The runner knows no domain: the jobs and the housekeeping steps it runs are
handed to it (``kushfilms.jobs`` lists them), so the domains depend on the
worker's queue and never the other way round.
"""

import logging
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence

from kushfilms.config import Settings
from kushfilms.worker.context import JobContext, open_context
from kushfilms.worker.heartbeat import Heartbeat
from kushfilms.worker.queue import JobSpec

log = logging.getLogger(__name__)

HousekeepingStep = Callable[[JobContext], Awaitable[object]]


def run_worker(
    settings: Settings,
    specs: Iterable[JobSpec],
    housekeeping: Sequence[HousekeepingStep],
    *,
    threads: int,
) -> None:
    """Consume jobs until interrupted, and keep house meanwhile (at once, first: the
    leases of workers known dead are given up as this one starts)."""
    context = open_context(settings, specs)
    heartbeat = Heartbeat(settings)
    stop = threading.Event()
    context.start()
    try:  # from the start: a Ctrl-C may come while it starts, and must stop it all
        heartbeat.start()  # registered before it claims anything
        keeper = threading.Thread(
            target=_keep_house, args=(context, housekeeping, stop), daemon=True, name="housekeeping"
        )
        keeper.start()
        # Jobs queued by transactions whose process could not send them (the queue was
        # down, or the process died) are swept up and sent from here too.
        relaying = context.submit(context.relay.run())
        try:
            context.jobs.consumer(threads).run()
        finally:
            relaying.cancel()  # before the context closes, sending what was left to send
    finally:
        stop.set()
        heartbeat.stop()
        context.close()


def _keep_house(
    context: JobContext, steps: Sequence[HousekeepingStep], stop: threading.Event
) -> None:
    """Run every step at once, then every half lease, until ``stop`` is set."""
    interval = max(1.0, context.settings.job_lease_seconds / 2)
    while not stop.is_set():
        for step in steps:
            try:
                context.run(_step(step, context))
            except Exception:
                log.exception(
                    "housekeeping (%s) failed; trying again in %.0f s", step.__name__, interval
                )
        if stop.wait(interval):
            return


async def _step(step: HousekeepingStep, context: JobContext) -> None:
    await step(context)
