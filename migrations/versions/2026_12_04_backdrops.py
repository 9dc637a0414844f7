"""A film's landscape backdrop (16:9, for the hero and wide cards), beside its
portrait poster (2:3, for cards).

Added in place (``ALTER TABLE ... ADD COLUMN``), not in batch mode: rebuilding
``movies`` on SQLite would drop the search index's triggers.

Revision ID: 0009
Revises: 0008
Created: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("movies", sa.Column("backdrop_key", sa.String(1024), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE movies DROP COLUMN backdrop_key")
