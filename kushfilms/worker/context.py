"""The job context: what every job and housekeeping step of a worker is handed.

A worker builds one context as it starts: its settings, one database (whose
write sessions queue further jobs through the outbox), the media store, and
the queue itself. Jobs are ``async def job(context, *args)``; the queue's
consumer threads run them on the context's one event loop, so that they all
share the database's connection pool and the store's clients instead of
opening and closing their own for every job.
"""

import asyncio
import threading
from collections.abc import Coroutine, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kushfilms.config import Settings
from kushfilms.db import Database
from kushfilms.media.storage import Storage, open_storage
from kushfilms.worker.outbox import OutboxRelay
from kushfilms.worker.queue import Jobs, JobSpec, bind_jobs

T = TypeVar("T")


@dataclass
class JobContext:
    settings: Settings
    jobs: Jobs
    db: Database  # bound to ``jobs``: what a job's transaction queues is sent after commit
    storage: Storage
    relay: OutboxRelay
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> None:
        """Start the event loop that runs the jobs (on a thread of its own), for a
        process whose consumer threads call :meth:`run`."""
        loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, daemon=True, name="jobs")
        self._thread.start()
        self._loop = loop

    def run_on_this_loop(self) -> None:
        """Run jobs on the running event loop instead, for code that executes them from
        a thread while that loop stays free (a test awaiting the thread)."""
        self._loop = asyncio.get_running_loop()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the context's event loop and wait for its result (from any
        thread but that loop's)."""
        return self.submit(work).result()

    def submit(self, work: Coroutine[Any, Any, T]) -> "Future[T]":
        if self._loop is None:
            work.close()
            raise RuntimeError("this job context is not started: see JobContext.start")
        return asyncio.run_coroutine_threadsafe(work, self._loop)

    async def aclose(self) -> None:
        """Release the database (sending what the outbox still holds) and the queue."""
        await self.db.dispose()
        self.jobs.close()

    def close(self) -> None:
        """Release what the context holds and stop the event loop it started."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            raise RuntimeError("this job context is not started: await aclose() instead")
        self.run(self.aclose())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None


def open_context(settings: Settings, specs: Iterable[JobSpec]) -> JobContext:
    """A context for these jobs; the queue runs each with it. Nothing connects until
    the first job or step uses it."""
    jobs = Jobs(settings, specs)
    db = Database(settings)
    relay = bind_jobs(db, jobs)
    context = JobContext(settings, jobs, db, open_storage(settings), relay)
    jobs.context = context
    return context
