from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from kushfilms.kit.clock import utcnow
from kushfilms.models.base import Base


class OutboxJob(Base):
    """A job asked for by a transaction, written in that same transaction.

    The row exists exactly when the change that caused the job was committed;
    a relay hands it to the job queue when the queue can be reached, then
    deletes it. A relay that claims rows holds them until ``claimed_until``, so
    one that dies mid-way leaves them to the next.
    """

    __tablename__ = "job_outbox"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    args: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(default=None, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
