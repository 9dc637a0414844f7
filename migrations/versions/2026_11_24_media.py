"""Uploads, videos and watch history.

Revision ID: 0002
Revises: 0001
Created: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        _timestamp("expires_at"),
        _timestamp("completed_at", nullable=True),
        _timestamp("attached_at", nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_uploads_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
    )
    op.create_index(op.f("ix_uploads_created_by_id"), "uploads", ["created_by_id"])
    op.create_index(op.f("ix_uploads_expires_at"), "uploads", ["expires_at"])

    op.create_table(
        "videos",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("movie_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "uploaded",
                "processing",
                "ready",
                "failed",
                name="video_status",
                native_enum=False,
                length=16,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("eta_seconds", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _timestamp("lease_until", nullable=True),
        sa.Column("source_key", sa.String(512), nullable=False),
        sa.Column("source_filename", sa.String(255), nullable=False),
        sa.Column("source_size", sa.BigInteger(), nullable=False),
        sa.Column("source_sha256", sa.String(64), nullable=False),
        sa.Column("source_container", sa.String(64), nullable=False),
        sa.Column("source_video_codec", sa.String(32), nullable=False),
        sa.Column("source_width", sa.Integer(), nullable=False),
        sa.Column("source_height", sa.Integer(), nullable=False),
        sa.Column("source_frame_rate", sa.Float(), nullable=False),
        sa.Column("source_duration", sa.Float(), nullable=False),
        sa.Column("source_rotation", sa.Integer(), nullable=False),
        sa.Column("source_audio_codec", sa.String(32), nullable=True),
        sa.Column("source_audio_channels", sa.Integer(), nullable=False),
        sa.Column("source_info", sa.JSON(), nullable=False),
        sa.Column("renditions", sa.JSON(), nullable=False),
        sa.Column("poster_key", sa.String(512), nullable=True),
        sa.Column("thumbnails_key", sa.String(512), nullable=True),
        _timestamp("processing_started_at", nullable=True),
        _timestamp("ready_at", nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.ForeignKeyConstraint(
            ["movie_id"],
            ["movies.id"],
            name=op.f("fk_videos_movie_id_movies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_videos")),
        sa.UniqueConstraint("movie_id", name=op.f("uq_videos_movie_id")),
    )
    op.create_index(op.f("ix_videos_status"), "videos", ["status"])
    op.create_index(op.f("ix_videos_lease_until"), "videos", ["lease_until"])

    op.create_table(
        "watch_history",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("movie_id", sa.Uuid(), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        _timestamp("watched_at"),
        _timestamp("updated_at"),
        sa.ForeignKeyConstraint(
            ["movie_id"],
            ["movies.id"],
            name=op.f("fk_watch_history_movie_id_movies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_watch_history_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_history")),
        sa.UniqueConstraint("user_id", "movie_id", name=op.f("uq_watch_history_user_id")),
    )
    op.create_index(op.f("ix_watch_history_movie_id"), "watch_history", ["movie_id"])
    op.create_index(
        "ix_watch_history_user_id_watched_at", "watch_history", ["user_id", "watched_at"]
    )


def downgrade() -> None:
    op.drop_table("watch_history")
    op.drop_table("videos")
    op.drop_table("uploads")
