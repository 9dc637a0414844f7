import enum
import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from kushfilms.models.base import Base, IdMixin, TimestampMixin


class Plan(enum.StrEnum):
    """What a viewer pays for; ranked like the films' access levels."""

    FREE = "FREE"
    BASIC = "BASIC"
    PREMIUM = "PREMIUM"


class SubscriptionStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"  # paid (or trialing)
    PAST_DUE = "PAST_DUE"  # a renewal failed; the provider is retrying
    UNPAID = "UNPAID"  # the retries ran out
    CANCELED = "CANCELED"  # ended, or ending at the period's end
    INCOMPLETE = "INCOMPLETE"  # the first payment has not gone through


def _enum(kind: type[enum.StrEnum], name: str) -> Enum:
    return Enum(kind, native_enum=False, length=16, create_constraint=True, name=name)


class Subscription(IdMixin, TimestampMixin, Base):
    """A viewer's paid plan as the payment provider last described it (one per viewer)."""

    __tablename__ = "subscriptions"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    plan: Mapped[Plan] = mapped_column(_enum(Plan, "plan"))
    status: Mapped[SubscriptionStatus] = mapped_column(
        _enum(SubscriptionStatus, "subscription_status")
    )
    provider_subscription_id: Mapped[str] = mapped_column(String(255), unique=True)
    price_id: Mapped[str] = mapped_column(String(255), default="")
    current_period_start: Mapped[datetime]
    current_period_end: Mapped[datetime] = mapped_column(index=True)
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    # A downgrade waits for the paid period to end: the plan that starts then.
    scheduled_plan: Mapped[Plan | None] = mapped_column(_enum(Plan, "scheduled_plan"), default=None)
    past_due_since: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    started_at: Mapped[datetime]  # when the provider made it, for new and churned counts
    # The provider's creation time: of two subscriptions of one viewer, the newer wins.
    provider_created_at: Mapped[datetime]
    # The period end the renewal reminder was sent for (one reminder per period).
    reminded_period_end: Mapped[datetime | None] = mapped_column(default=None)
