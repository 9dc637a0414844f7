import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kushfilms.kit.clock import utcnow
from kushfilms.models.base import Base, IdMixin


class WatchHistory(IdMixin, Base):
    """How far a viewer has watched a movie."""

    __tablename__ = "watch_history"
    __table_args__ = (
        UniqueConstraint("user_id", "movie_id"),
        Index("ix_watch_history_user_id_watched_at", "user_id", "watched_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    movie_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("movies.id", ondelete="CASCADE"), index=True
    )
    progress: Mapped[int] = mapped_column(default=0)  # seconds
    completed: Mapped[bool] = mapped_column(default=False)
    watched_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
