"""A movie stores its poster's key in the media store, not the URL it is served at.

``movies.thumbnail_url`` held ``/media/art/<movie>/<stem>-780.jpg``, which code then
parsed back into a key; it becomes ``movies.poster_key`` holding
``art/<movie>/<stem>-780.jpg``, and the URL is made from it where it is shown.

The column is renamed in place (``ALTER TABLE ... RENAME COLUMN``, on SQLite as on
PostgreSQL) rather than in batch mode: rebuilding ``movies`` on SQLite would drop the
search index's triggers.

Revision ID: 0006
Revises: 0005
Created: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE movies RENAME COLUMN thumbnail_url TO poster_key")
    # Only the app ever wrote the column, always a URL under /media/ (7 characters);
    # anything else would name no object of the store, so it is no poster.
    op.execute(
        "UPDATE movies SET poster_key = CASE WHEN poster_key LIKE '/media/%'"
        " THEN substr(poster_key, 8) ELSE NULL END WHERE poster_key IS NOT NULL"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE movies SET poster_key = '/media/' || poster_key WHERE poster_key IS NOT NULL"
    )
    op.execute("ALTER TABLE movies RENAME COLUMN poster_key TO thumbnail_url")
