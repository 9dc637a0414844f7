from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from kushfilms.kit.clock import utcnow
from kushfilms.models.base import Base


class BillingEvent(Base):
    """A payment provider's event that has been applied: each one exactly once."""

    __tablename__ = "billing_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
