"""Every table, one per file, on one metadata so Alembic sees them all."""

from kushfilms.models.base import Base
from kushfilms.models.billing_event import BillingEvent
from kushfilms.models.category import Category
from kushfilms.models.device_name import DeviceName
from kushfilms.models.local_payment import LocalPaymentObject
from kushfilms.models.movie import AccessLevel, Movie
from kushfilms.models.outbox_job import OutboxJob
from kushfilms.models.payment import Payment, PaymentStatus
from kushfilms.models.refresh_token import RefreshToken
from kushfilms.models.stream_session import StreamSession
from kushfilms.models.subscription import Plan, Subscription, SubscriptionStatus
from kushfilms.models.upload import Upload
from kushfilms.models.user import Role, User
from kushfilms.models.video import Video, VideoStatus
from kushfilms.models.watch_history import WatchHistory
from kushfilms.models.web_session import WebSession
from kushfilms.models.worker_process import WorkerProcess

__all__ = [
    "AccessLevel",
    "Base",
    "BillingEvent",
    "Category",
    "DeviceName",
    "LocalPaymentObject",
    "Movie",
    "OutboxJob",
    "Payment",
    "PaymentStatus",
    "Plan",
    "RefreshToken",
    "Role",
    "StreamSession",
    "Subscription",
    "SubscriptionStatus",
    "Upload",
    "User",
    "Video",
    "VideoStatus",
    "WatchHistory",
    "WebSession",
    "WorkerProcess",
]
