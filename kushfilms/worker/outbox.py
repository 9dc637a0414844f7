"""The job outbox: a job is written in the transaction that causes it, and relayed
to the queue once that transaction has committed.

A request either fully happens or not at all: the job's row commits or rolls
back with the change that asked for it, whatever the state of the queue. Right
after the commit the job is sent (the fast path, as cheap as sending it
directly) and its row is deleted a moment later, in a batch. When the queue
cannot be reached (Redis down), the row stays; every process that runs a relay
sweeps up rows older than :data:`GRACE` and sends them as soon as the queue is
back. A relay claims the rows it sweeps for :data:`CLAIM`, so two relays never
send one row at once, and one that dies mid-way leaves them to the next.

Delivery is at least once: a process killed between sending a job and deleting
its row has that job sent again after the grace. Jobs are written to bear that
(a transcode takes a lease, a deletion is idempotent).
"""

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from kushfilms.db import Database, after_commit, transaction
from kushfilms.kit.clock import utcnow
from kushfilms.models import OutboxJob

log = logging.getLogger(__name__)

GRACE = timedelta(seconds=10)  # a row this old was not sent by its own process
CLAIM = timedelta(seconds=15)  # how long a sweeping relay holds the rows it took
POLL_SECONDS = 2.0  # how often a relay looks for rows left behind
QUEUE_DOWN_SECONDS = 5.0  # after a failed send, leave sending to the sweep this long
BATCH = 200


class OutboxRelay:
    """Sends the outbox's jobs to the queue for one database, and deletes the sent rows.

    ``send(name, *args)`` is the queue's own send (``Jobs.send``), which raises when
    the queue cannot be reached.
    """

    def __init__(self, db: Database, send: Any) -> None:
        self.db = db
        self._send = send
        self._lock = threading.Lock()
        self._sent: list[int] = []
        self._queue_down_until = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    def record(self, session: AsyncSession | Session, name: str, args: Sequence[Any]) -> None:
        """Write a job into the session's transaction; it is sent once that commits."""
        row = OutboxJob(name=name, args=list(args), created_at=utcnow())
        session.add(row)
        after_commit(session, lambda: self._send_committed(row))

    def _send_committed(self, row: OutboxJob) -> None:
        # Runs right after the commit, on whatever thread committed.
        if time.monotonic() < self._queue_down_until:
            return  # the queue was down a moment ago: the sweep will send it
        try:
            self._send(row.name, *row.args)
        except Exception:
            self._queue_down_until = time.monotonic() + QUEUE_DOWN_SECONDS
            log.warning(
                "the job queue cannot be reached; %s is kept in the outbox and sent when it is",
                row.name,
                exc_info=True,
            )
            return
        with self._lock:
            self._sent.append(row.id)
        self.wake()

    def wake(self) -> None:
        """Have the running relay look at once (from any thread)."""
        loop, event = self._loop, self._wake
        if loop is not None and event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(event.set)

    async def run(self, *, poll_seconds: float = POLL_SECONDS) -> None:
        """Delete what was sent and sweep up what was not, until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        try:
            while True:
                try:
                    await self.relay_once()
                except Exception:
                    log.exception("the outbox relay failed; trying again in %.0f s", poll_seconds)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), poll_seconds)
                self._wake.clear()
        finally:
            self._loop = self._wake = None

    async def relay_once(self, *, now: datetime | None = None) -> int:
        """Delete the rows sent so far, then send the rows left behind; returns how
        many of those were sent."""
        await self.flush()
        return await self._sweep(now or utcnow())

    async def flush(self) -> None:
        """Delete the rows of the jobs this process has sent."""
        with self._lock:
            sent, self._sent = self._sent, []
        if not sent:
            return
        try:
            async with transaction(self.db.writer) as session:
                await session.execute(delete(OutboxJob).where(OutboxJob.id.in_(sent)))
        except BaseException:
            with self._lock:  # try again next time; until GRACE nobody else sends them
                self._sent[:0] = sent
            raise

    async def _sweep(self, now: datetime) -> int:
        left = (
            OutboxJob.created_at < now - GRACE,
            or_(OutboxJob.claimed_until.is_(None), OutboxJob.claimed_until < now),
        )
        async with self.db.reader() as session:  # most of the time there is nothing
            if not await session.scalar(select(exists().where(*left))):
                return 0
        async with transaction(self.db.writer) as session:
            claimable = (
                select(OutboxJob.id)
                .where(*left)
                .order_by(OutboxJob.id)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
            claimed = (
                await session.execute(
                    update(OutboxJob)
                    .where(OutboxJob.id.in_(claimable.scalar_subquery()))
                    .values(claimed_until=now + CLAIM, attempts=OutboxJob.attempts + 1)
                    .returning(OutboxJob.id, OutboxJob.name, OutboxJob.args)
                    .execution_options(synchronize_session=False)
                )
            ).all()
        sent: list[int] = []
        for row_id, name, args in sorted(claimed):
            try:
                await asyncio.to_thread(self._send, name, *args)
            except Exception as error:
                log.warning(
                    "the job queue cannot be reached (%s); %d jobs wait in the outbox",
                    error,
                    len(claimed) - len(sent),
                )
                break
            sent.append(row_id)
        if sent:
            self._queue_down_until = 0.0  # it answers again: back to sending at once
            async with transaction(self.db.writer) as session:
                await session.execute(delete(OutboxJob).where(OutboxJob.id.in_(sent)))
            log.info("sent %d jobs left in the outbox", len(sent))
        return len(sent)


def relay_in_thread(relay: OutboxRelay, stop: threading.Event) -> threading.Thread:
    """Run ``relay`` on a thread with an event loop of its own until ``stop`` is set,
    then close its database (for processes without an event loop: the job worker)."""

    async def serve() -> None:
        running = asyncio.create_task(relay.run())
        await asyncio.to_thread(stop.wait)
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await relay.db.dispose()  # which deletes the last sent rows first

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True, name="outbox")
    thread.start()
    return thread
