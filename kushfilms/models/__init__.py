"""Every table, one per file, on one metadata so Alembic sees them all."""

from kushfilms.models.base import Base
from kushfilms.models.category import Category
from kushfilms.models.movie import AccessLevel, Movie
from kushfilms.models.refresh_token import RefreshToken
from kushfilms.models.upload import Upload
from kushfilms.models.user import Role, User
from kushfilms.models.video import Video, VideoStatus
from kushfilms.models.watch_history import WatchHistory
from kushfilms.models.web_session import WebSession

__all__ = [
    "AccessLevel",
    "Base",
    "Category",
    "Movie",
    "RefreshToken",
    "Role",
    "Upload",
    "User",
    "Video",
    "VideoStatus",
    "WatchHistory",
    "WebSession",
]
