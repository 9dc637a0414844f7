import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kushfilms.models.base import Base, IdMixin, TimestampMixin


class VideoStatus(enum.StrEnum):
    UPLOADED = "uploaded"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class Video(IdMixin, TimestampMixin, Base):
    """A movie's video: the stored source and, once processed, its HLS ladder.

    Every object of a video lives under its prefix in the store (see
    ``kushfilms.media.layout``); a new upload makes a new video, so a movie's old
    and new outputs never mix.
    """

    __tablename__ = "videos"

    movie_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("movies.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[VideoStatus] = mapped_column(
        Enum(
            VideoStatus,
            native_enum=False,
            length=16,
            create_constraint=True,
            name="video_status",
            values_callable=lambda statuses: [s.value for s in statuses],
        ),
        default=VideoStatus.UPLOADED,
        index=True,
    )
    progress: Mapped[float] = mapped_column(default=0.0)  # percent
    eta_seconds: Mapped[int | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    # A worker holds a lease while it transcodes; an expired lease means the
    # worker died and the job may be taken up again.
    lease_until: Mapped[datetime | None] = mapped_column(default=None, index=True)
    # The worker (WorkerProcess.id) holding the lease: when it is known dead, the
    # lease is given up at once instead of waiting for it to run out.
    lease_owner: Mapped[str | None] = mapped_column(String(100), default=None)

    source_key: Mapped[str] = mapped_column(String(512))
    source_filename: Mapped[str] = mapped_column(String(255), default="")
    source_size: Mapped[int] = mapped_column(BigInteger, default=0)
    source_sha256: Mapped[str] = mapped_column(String(64), default="")
    source_container: Mapped[str] = mapped_column(String(64), default="")
    source_video_codec: Mapped[str] = mapped_column(String(32), default="")
    source_width: Mapped[int] = mapped_column(default=0)
    source_height: Mapped[int] = mapped_column(default=0)
    source_frame_rate: Mapped[float] = mapped_column(default=0.0)
    source_duration: Mapped[float] = mapped_column(default=0.0)
    source_rotation: Mapped[int] = mapped_column(default=0)
    source_audio_codec: Mapped[str | None] = mapped_column(String(32), default=None)
    source_audio_channels: Mapped[int] = mapped_column(default=0)
    source_info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    renditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    poster_key: Mapped[str | None] = mapped_column(String(512), default=None)
    thumbnails_key: Mapped[str | None] = mapped_column(String(512), default=None)
    processing_started_at: Mapped[datetime | None] = mapped_column(default=None)
    ready_at: Mapped[datetime | None] = mapped_column(default=None)
