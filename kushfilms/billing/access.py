"""What a viewer may watch now: their subscription read and judged in one place."""

from datetime import timedelta

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.billing.entitlements import Entitlement, entitlement
from kushfilms.billing.plans import plans_from
from kushfilms.config import Settings
from kushfilms.kit.clock import utcnow
from kushfilms.models import AccessLevel, Role, Subscription, User


async def subscription_of(session: AsyncSession, user: User) -> Subscription | None:
    found: Subscription | None = await session.scalar(
        select(Subscription).where(Subscription.user_id == user.id)
    )
    return found


async def entitlement_for(
    session: AsyncSession, viewer: User | None, level: AccessLevel, settings: Settings
) -> Entitlement:
    """The entitlement function applied to the viewer's current subscription: the one
    loaded with the viewer at the start of the request (see accounts' get_viewer),
    or else read now."""
    subscription = None
    if viewer is not None and viewer.role != Role.ADMIN:
        if "subscription" in inspect(viewer).unloaded:
            subscription = await subscription_of(session, viewer)
        else:
            subscription = viewer.subscription
    return entitlement(
        viewer,
        subscription,
        level,
        plans=plans_from(settings),
        now=utcnow(),
        grace=timedelta(days=settings.past_due_grace_days),
    )
