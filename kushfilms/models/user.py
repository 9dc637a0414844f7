import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Enum, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kushfilms.models.base import Base, IdMixin, TimestampMixin

if TYPE_CHECKING:
    from kushfilms.models.subscription import Subscription


class Role(enum.StrEnum):
    USER = "USER"
    ADMIN = "ADMIN"


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    # Stored normalised (lower case), which makes uniqueness case-insensitive.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    # When the owner followed the link sent to ``email``; None until then.
    email_verified_at: Mapped[datetime | None] = mapped_column(default=None)
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=16, create_constraint=True, name="role"),
        default=Role.USER,
    )
    # The payment provider's customer, made at the first checkout and kept.
    stripe_customer_id: Mapped[str | None] = mapped_column(
        String(255), unique=True, index=True, default=None
    )
    # Loaded only where a query asks: with the viewer behind a request, so that
    # deciding what they may watch needs no query of its own.
    subscription: Mapped["Subscription | None"] = relationship(
        viewonly=True, uselist=False, lazy="raise"
    )

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None
