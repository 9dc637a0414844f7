import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from kushfilms.models.base import Base, TimestampMixin


class Upload(TimestampMixin, Base):
    """A resumable (tus) upload: its bytes are staged under KF_UPLOAD_DIR/<id>."""

    __tablename__ = "uploads"

    # Random and unguessable; the last segment of the upload's URL.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    length: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    # What the client said about the file (tus Upload-Metadata). Shown to
    # people, never used to name stored objects.
    filename: Mapped[str] = mapped_column(String(255), default="")
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, default=None
    )
    expires_at: Mapped[datetime] = mapped_column(index=True)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    attached_at: Mapped[datetime | None] = mapped_column(default=None)
