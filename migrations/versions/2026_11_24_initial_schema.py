"""Users, categories, movies, refresh tokens, and full-text search.

Revision ID: 0001
Revises:
Created: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=16, create_constraint=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", _enum("role", "USER", "ADMIN"), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "categories",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("slug", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categories")),
        sa.UniqueConstraint("name", name=op.f("uq_categories_name")),
        sa.UniqueConstraint("slug", name=op.f("uq_categories_slug")),
    )
    op.create_table(
        "movies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("slug", sa.String(220), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("thumbnail_url", sa.String(1024), nullable=True),
        sa.Column("duration", sa.Integer(), nullable=False),
        sa.Column("release_year", sa.Integer(), nullable=True),
        sa.Column("published", sa.Boolean(), nullable=False),
        _timestamp("published_at", nullable=True),
        sa.Column(
            "access_level", _enum("access_level", "FREE", "BASIC", "PREMIUM"), nullable=False
        ),
        sa.Column("category_id", sa.Uuid(), nullable=True),
        sa.Column("view_count", sa.Integer(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_movies_category_id_categories"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_movies")),
        sa.UniqueConstraint("slug", name=op.f("uq_movies_slug")),
    )
    op.create_index(op.f("ix_movies_category_id"), "movies", ["category_id"])
    op.create_index(
        "ix_movies_published_published_at", "movies", ["published", "published_at", "id"]
    )
    op.create_index("ix_movies_published_view_count", "movies", ["published", "view_count"])
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        _timestamp("created_at"),
        _timestamp("expires_at"),
        _timestamp("used_at", nullable=True),
        _timestamp("revoked_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_refresh_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
    )
    op.create_index(op.f("ix_refresh_tokens_family_id"), "refresh_tokens", ["family_id"])
    op.create_index(op.f("ix_refresh_tokens_user_id"), "refresh_tokens", ["user_id"])

    if op.get_bind().dialect.name == "sqlite":
        _create_sqlite_search()
    else:
        _create_postgres_search()


def _create_sqlite_search() -> None:
    # A standalone FTS5 table fed by triggers. Note: a later batch migration that
    # rebuilds `movies` drops these triggers and must create them again.
    op.execute(
        "CREATE VIRTUAL TABLE movie_search USING fts5("
        "movie_id UNINDEXED, title, description, "
        "tokenize = 'unicode61 remove_diacritics 2')"
    )
    op.execute("CREATE VIRTUAL TABLE movie_search_vocab USING fts5vocab(movie_search, col)")
    op.execute(
        "CREATE TRIGGER movie_search_insert AFTER INSERT ON movies BEGIN "
        "INSERT INTO movie_search (movie_id, title, description) "
        "VALUES (new.id, new.title, new.description); END"
    )
    op.execute(
        "CREATE TRIGGER movie_search_update AFTER UPDATE OF title, description ON movies BEGIN "
        "UPDATE movie_search SET title = new.title, description = new.description "
        "WHERE movie_id = old.id; END"
    )
    op.execute(
        "CREATE TRIGGER movie_search_delete AFTER DELETE ON movies BEGIN "
        "DELETE FROM movie_search WHERE movie_id = old.id; END"
    )


def _create_postgres_search() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public")
    # unaccent() is only STABLE; an IMMUTABLE wrapper with a fixed dictionary
    # may be used in a generated column.
    op.execute(
        "CREATE OR REPLACE FUNCTION kf_unaccent(text) RETURNS text "
        "LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT "
        "AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$"
    )
    op.execute(
        "ALTER TABLE movies ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
        "setweight(to_tsvector('simple', kf_unaccent(title)), 'A') || "
        "setweight(to_tsvector('simple', kf_unaccent(description)), 'B')) STORED"
    )
    op.execute("CREATE INDEX ix_movies_search_vector ON movies USING gin (search_vector)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("movie_search_insert", "movie_search_update", "movie_search_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS movie_search_vocab")
        op.execute("DROP TABLE IF EXISTS movie_search")
    op.drop_table("refresh_tokens")
    op.drop_table("movies")
    op.drop_table("categories")
    op.drop_table("users")
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS kf_unaccent(text)")
