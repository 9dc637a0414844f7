import enum
import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from kushfilms.models.base import Base, IdMixin, TimestampMixin


class PaymentStatus(enum.StrEnum):
    PENDING = "PENDING"
    FAILED = "FAILED"
    SUCCEEDED = "SUCCEEDED"
    REFUNDED = "REFUNDED"


# Events may arrive in any order: a payment only moves forward along this list
# (a late "failed" never undoes "succeeded", a refund is final).
PAYMENT_PROGRESS = list(PaymentStatus)


class Payment(IdMixin, TimestampMixin, Base):
    """One invoice of a subscription, as charged."""

    __tablename__ = "payments"
    __table_args__ = (Index("ix_payments_user_id_created_at", "user_id", "created_at"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    provider_payment_id: Mapped[str] = mapped_column(String(255), unique=True)  # the invoice
    provider_charge_id: Mapped[str | None] = mapped_column(String(255), index=True, default=None)
    provider_subscription_id: Mapped[str | None] = mapped_column(String(255), default=None)
    amount: Mapped[int]  # in the currency's smallest unit (cents)
    currency: Mapped[str] = mapped_column(String(3), default="usd")
    status: Mapped[PaymentStatus] = mapped_column(
        Enum(
            PaymentStatus,
            native_enum=False,
            length=16,
            create_constraint=True,
            name="payment_status",
        )
    )
    description: Mapped[str] = mapped_column(String(255), default="")
    paid_at: Mapped[datetime | None] = mapped_column(default=None)
