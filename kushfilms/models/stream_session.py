import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kushfilms.kit.clock import utcnow
from kushfilms.models.base import Base, IdMixin


class StreamSession(IdMixin, Base):
    """A device playing a film for a viewer, alive while its heartbeats keep coming.

    Kept here when there is no Redis; with Redis the sessions live there instead.
    """

    __tablename__ = "stream_sessions"
    __table_args__ = (UniqueConstraint("user_id", "device_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    device_id: Mapped[str] = mapped_column(String(64))
    movie_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    label: Mapped[str] = mapped_column(String(255), default="")  # "Chrome on Linux"
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
