import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from kushfilms.kit.clock import utcnow
from kushfilms.models.base import Base


class DeviceName(Base):
    """The name a viewer gave one of their devices ("Living-room TV"), kept while
    the device comes and goes from the stream list."""

    __tablename__ = "device_names"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
