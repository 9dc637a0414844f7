from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from kushfilms.kit.clock import utcnow
from kushfilms.models.base import Base


class LocalPaymentObject(Base):
    """The built-in local checkout's own records (used when no Stripe key is set):
    customers, checkout sessions, subscriptions and invoices, in Stripe's shapes."""

    __tablename__ = "local_payment_objects"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # "sub_local_..."
    kind: Mapped[str] = mapped_column(String(32), index=True)  # "subscription", ...
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
