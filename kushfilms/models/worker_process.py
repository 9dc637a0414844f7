from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from kushfilms.kit.clock import utcnow
from kushfilms.models.base import Base


class WorkerProcess(Base):
    """A running job worker, as it last reported itself (its heartbeat).

    Readiness looks here for a live worker, and leases held by a worker whose
    heartbeat has stopped (or whose process is gone) are given up at once.
    """

    __tablename__ = "worker_processes"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)  # host:pid:random
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
