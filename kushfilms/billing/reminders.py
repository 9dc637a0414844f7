"""Renewal reminders: billing decides who is told that their plan renews soon, and
what it will cost; notify only renders and sends the email."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.accounts import service as accounts
from kushfilms.billing.plans import plans_from
from kushfilms.config import Settings
from kushfilms.models import Plan, Subscription, SubscriptionStatus
from kushfilms.notify import service as notify
from kushfilms.notify.kinds import EmailKind

REMIND_BEFORE = timedelta(days=3)


@dataclass(frozen=True, slots=True)
class Renewal:
    subscription_id: uuid.UUID
    user_id: uuid.UUID
    plan: Plan
    scheduled_plan: Plan | None
    renews_at: datetime


async def remind_renewals(session: AsyncSession, settings: Settings, *, now: datetime) -> int:
    """Queue a reminder for each subscription renewing within three days, once a
    period, unless nothing will be charged; returns how many were queued."""
    plans = plans_from(settings)
    reminded = 0
    for renewal in await claim_renewal_reminders(session, now=now):
        offer = plans[renewal.scheduled_plan or renewal.plan]
        if not offer.price_cents:  # moving to Free: nothing will be charged
            continue
        user = await accounts.get_user(session, renewal.user_id)
        await notify.queue_email(
            session,
            EmailKind.RENEWAL_REMINDER,
            user,
            plan=offer.name,
            amount=offer.price,
            renewal_date=renewal.renews_at,
        )
        reminded += 1
    return reminded


async def claim_renewal_reminders(session: AsyncSession, *, now: datetime) -> list[Renewal]:
    """Active subscriptions renewing within three days whose period has had no reminder,
    marked as reminded. One statement claims them, so of several workers running
    this at once, each subscription goes to exactly one."""
    claimed = await session.execute(
        update(Subscription)
        .where(
            Subscription.status == SubscriptionStatus.ACTIVE,
            Subscription.cancel_at_period_end.is_(False),
            Subscription.current_period_end > now,
            Subscription.current_period_end <= now + REMIND_BEFORE,
            or_(
                Subscription.reminded_period_end.is_(None),
                Subscription.reminded_period_end != Subscription.current_period_end,
            ),
        )
        .values(reminded_period_end=Subscription.current_period_end)
        .returning(
            Subscription.id,
            Subscription.user_id,
            Subscription.plan,
            Subscription.scheduled_plan,
            Subscription.current_period_end,
        )
        .execution_options(synchronize_session=False)
    )
    return [Renewal(*row) for row in claimed.all()]
