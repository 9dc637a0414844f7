"""Every table, one per file, on one metadata so Alembic sees them all."""

from kushfilms.models.base import Base
from kushfilms.models.category import Category
from kushfilms.models.movie import AccessLevel, Movie
from kushfilms.models.refresh_token import RefreshToken
from kushfilms.models.user import Role, User

__all__ = ["AccessLevel", "Base", "Category", "Movie", "RefreshToken", "Role", "User"]
