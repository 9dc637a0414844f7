"""Views, counted in memory and written in batches.

Every playback start is a view; writing each one would put a write on the
path of every viewer. Counts are kept per process and added to the database
every few seconds (and at shutdown). A crash loses at most those seconds of
counts, which popularity can afford.
"""

import asyncio
import logging
import uuid
from collections import Counter

from kushfilms.catalog import service
from kushfilms.db import Database, transaction

log = logging.getLogger(__name__)
FLUSH_SECONDS = 5.0


class ViewCounter:
    def __init__(self) -> None:
        self.pending: Counter[uuid.UUID] = Counter()

    def count(self, movie_id: uuid.UUID) -> None:
        self.pending[movie_id] += 1

    async def flush(self, db: Database) -> int:
        """Write the counts so far; returns how many views were written."""
        if not self.pending:
            return 0
        batch, self.pending = self.pending, Counter()
        try:
            async with transaction(db.writer) as session:
                await service.add_views(session, batch)
        except Exception:
            self.pending.update(batch)  # keep them for the next attempt
            raise
        return batch.total()

    async def keep_flushing(self, db: Database, every: float = FLUSH_SECONDS) -> None:
        """Flush every few seconds until cancelled, then once more."""
        try:
            while True:
                await asyncio.sleep(every)
                try:
                    await self.flush(db)
                except Exception:
                    log.exception("could not record views; will try again")
        finally:
            await self.flush(db)
