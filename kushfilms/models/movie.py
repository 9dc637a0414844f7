import enum
import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kushfilms.media.layout import art_url
from kushfilms.models.base import Base, IdMixin, TimestampMixin
from kushfilms.models.category import Category


class AccessLevel(enum.StrEnum):
    FREE = "FREE"
    BASIC = "BASIC"
    PREMIUM = "PREMIUM"


class Movie(IdMixin, TimestampMixin, Base):
    __tablename__ = "movies"
    __table_args__ = (
        Index("ix_movies_published_published_at", "published", "published_at", "id"),
        Index("ix_movies_published_view_count", "published", "view_count"),
    )

    title: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(220), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # The pictures' keys in the media store, at their widest (kushfilms.media.layout):
    # the poster (2:3) and the backdrop (16:9), given or derived (kushfilms.media.pictures).
    poster_key: Mapped[str | None] = mapped_column(String(1024), default=None)
    backdrop_key: Mapped[str | None] = mapped_column(String(1024), default=None)
    duration: Mapped[int] = mapped_column(default=0)  # seconds
    release_year: Mapped[int | None] = mapped_column(default=None)
    published: Mapped[bool] = mapped_column(default=False)
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    access_level: Mapped[AccessLevel] = mapped_column(
        Enum(
            AccessLevel, native_enum=False, length=16, create_constraint=True, name="access_level"
        ),
        default=AccessLevel.FREE,
    )
    category_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("categories.id", ondelete="SET NULL"), index=True, default=None
    )
    view_count: Mapped[int] = mapped_column(default=0)

    category: Mapped[Category | None] = relationship(lazy="raise")

    @property
    def thumbnail_url(self) -> str | None:
        """Where the poster is served, for the API and the pages."""
        return art_url(self.poster_key) if self.poster_key else None

    @property
    def poster_url(self) -> str | None:
        return self.thumbnail_url

    @property
    def backdrop_url(self) -> str | None:
        """Where the backdrop is served."""
        return art_url(self.backdrop_key) if self.backdrop_key else None
