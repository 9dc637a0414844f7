"""Subscriptions as viewers handle them: checkout, cancel, resume, change, status; and
what the viewer's subscription lets them watch now.

The payment provider is chosen by the caller (see :mod:`kushfilms.billing.deps`);
this module asks it, through its interface, whatever differs between providers.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.accounts import service as accounts
from kushfilms.billing import events
from kushfilms.billing.entitlements import Entitlement, entitlement, plan_in_use
from kushfilms.billing.plans import RANK, PlanOffer, Plans, plans_from
from kushfilms.billing.provider import PaymentProvider
from kushfilms.billing.stripe_objects import ProviderSubscription
from kushfilms.config import Settings
from kushfilms.errors import Conflict, Forbidden, NotFound, Unprocessable
from kushfilms.kit.clock import utcnow
from kushfilms.kit.pagination import Paged, PageRequest, paginate_scalars
from kushfilms.models import AccessLevel, Payment, Plan, Role, Subscription, User


class AlreadySubscribed(Conflict):
    code = "already_subscribed"
    message = "You already have a subscription. Change its plan instead."


class EmailNotVerified(Forbidden):
    code = "email_not_verified"
    message = (
        "Confirm your email address first: follow the link we sent you, or ask for a new"
        " one on your account page."
    )


class NoSubscription(NotFound):
    code = "no_subscription"
    message = "You have no subscription."


class NotCanceled(Conflict):
    code = "not_canceled"
    message = "Your subscription is not set to end."


class NotAPaidPlan(Unprocessable):
    code = "not_a_paid_plan"
    message = "Choose BASIC or PREMIUM. To go back to Free, cancel your subscription."


class SamePlan(Conflict):
    code = "same_plan"
    message = "You are on this plan already."


class PreviewExpired(Conflict):
    code = "preview_expired"
    message = (
        "The amount shown is out of date (it was worked out over an hour ago, or before"
        " your current period began). Look at the change again, then confirm it."
    )


class InvalidProrationDate(Unprocessable):
    code = "invalid_proration_date"
    message = "The proration date is in the future: pass the one the preview gave."


# How long a preview's amount can be confirmed: an older proration date charges for
# time already gone by (a cent or so an hour), which nobody agreed to.
PREVIEW_LIFETIME = timedelta(hours=1)
CLOCK_SKEW = timedelta(minutes=1)  # between the server that previewed and the one confirming


def _paid_offer(plans: Plans, plan: Plan) -> PlanOffer:
    if plan == Plan.FREE:
        raise NotAPaidPlan()
    return plans[plan]


def _grace(settings: Settings) -> timedelta:
    return timedelta(days=settings.past_due_grace_days)


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
        grace=_grace(settings),
    )


def is_live(subscription: Subscription | None) -> bool:
    """Still running at the provider: something to cancel, resume or change."""
    return subscription is not None and subscription.status in events.LIVE


def must_confirm_email(settings: Settings, user: User) -> bool:
    """Whether the viewer has to confirm their address before they may subscribe."""
    return settings.require_verified_email_to_subscribe and not user.email_verified


async def start_checkout(
    session: AsyncSession,
    provider: PaymentProvider,
    settings: Settings,
    *,
    user: User,
    plan: Plan,
    base_url: str,
) -> str:
    """A checkout for ``plan``; returns the URL to send the viewer to. A viewer must have
    confirmed their address first, unless KF_REQUIRE_VERIFIED_EMAIL_TO_SUBSCRIBE=false."""
    offer = _paid_offer(plans_from(settings), plan)
    if must_confirm_email(settings, user):
        raise EmailNotVerified()
    if is_live(await subscription_of(session, user)):
        raise AlreadySubscribed()
    # The viewer as this transaction sees them, so that the new customer is kept.
    user = await accounts.get_user(session, user.id)
    return await provider.create_checkout(
        customer=await _customer_of(session, provider, user),
        price_id=offer.price_id,
        user_id=str(user.id),
        success_url=f"{base_url}/account/subscription?checkout=complete",
        cancel_url=f"{base_url}/pricing?checkout=canceled",
    )


async def _customer_of(session: AsyncSession, provider: PaymentProvider, user: User) -> str:
    """The viewer's customer at the provider, made at their first checkout.

    Of first checkouts started at once, the first to record its customer wins and
    the others take that one (both providers make one customer per viewer anyway:
    Stripe by the idempotency key, the local checkout by the viewer's id)."""
    held = user.stripe_customer_id
    if held is not None and provider.can_bill(held):
        return held
    made = await provider.create_customer(email=user.email, name=user.name, user_id=str(user.id))
    await session.execute(
        update(User)
        .where(User.id == user.id, User.stripe_customer_id == held)
        .values(stripe_customer_id=made)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(user, ["stripe_customer_id"])  # ours, or the winner's
    assert user.stripe_customer_id is not None
    return user.stripe_customer_id


async def _applied(
    session: AsyncSession,
    provider: PaymentProvider,
    settings: Settings,
    held: Subscription,
    remote: ProviderSubscription,
) -> Subscription:
    """The viewer's subscription once the provider's change to it is applied here: by
    the event the provider told already (the local checkout), or else now, from what
    the provider answered (Stripe's own event, when it comes, then changes nothing)."""
    if provider.applies_its_events:
        return held
    return await session.run_sync(events.sync_subscription, remote, settings) or held


async def _live(session: AsyncSession, user: User) -> Subscription:
    subscription = await subscription_of(session, user)
    if subscription is None or not is_live(subscription):
        raise NoSubscription()
    return subscription


async def cancel(
    session: AsyncSession, provider: PaymentProvider, settings: Settings, *, user: User
) -> Subscription:
    """Cancel at the end of the paid period; the plan stays until then."""
    subscription = await _live(session, user)
    if subscription.cancel_at_period_end:
        return subscription
    remote = await provider.set_cancel_at_period_end(subscription.provider_subscription_id, True)
    return await _applied(session, provider, settings, subscription, remote)


async def resume(
    session: AsyncSession, provider: PaymentProvider, settings: Settings, *, user: User
) -> Subscription:
    """Take back a cancellation before the period ends."""
    subscription = await _live(session, user)
    if not subscription.cancel_at_period_end:
        raise NotCanceled()
    remote = await provider.set_cancel_at_period_end(subscription.provider_subscription_id, False)
    return await _applied(session, provider, settings, subscription, remote)


ChangeKind = Literal["upgrade", "downgrade", "keep"]


def _change_kind(subscription: Subscription, plan: Plan, offer: PlanOffer) -> ChangeKind:
    """An upgrade (starts now, charged pro rata), a downgrade (starts with the next
    period), or keeping the plan paid for (taking back a downgrade not yet begun)."""
    current = subscription.plan
    if plan == current:
        if subscription.scheduled_plan is None:
            raise SamePlan(f"You are on {offer.name} already.")
        return "keep"
    return "upgrade" if RANK[plan] > RANK[current] else "downgrade"


@dataclass(frozen=True, slots=True)
class ChangePreview:
    """What a change of plan does, before it is made."""

    plan: Plan  # asked for
    current: Plan  # paid for now
    kind: ChangeKind
    amount_due_now: int  # charged when confirmed (an upgrade's proration; else 0)
    currency: str
    period_start: datetime  # the period paid for now
    period_end: datetime
    proration_date: datetime  # the amount is the rest of the period from here
    next_bill_amount: int
    next_bill_at: datetime
    resumes: bool  # the change also takes back a cancellation


async def preview_change(
    session: AsyncSession,
    provider: PaymentProvider,
    settings: Settings,
    *,
    user: User,
    plan: Plan,
) -> ChangePreview:
    """What changing to ``plan`` now would charge and bill, asking the provider for an
    upgrade's proration; nothing changes. Confirming with the preview's
    ``proration_date`` (:func:`change`) charges exactly ``amount_due_now``."""
    plans = plans_from(settings)
    offer = _paid_offer(plans, plan)
    subscription = await _live(session, user)
    kind = _change_kind(subscription, plan, offer)
    at = utcnow().replace(microsecond=0)  # the providers count whole seconds
    amount = 0
    if kind == "upgrade":
        proration = await provider.preview_change(
            subscription.provider_subscription_id, offer.price_id, proration_date=at
        )
        amount = proration.amount
    return ChangePreview(
        plan=plan,
        current=subscription.plan,
        kind=kind,
        amount_due_now=amount,
        currency=offer.currency,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
        proration_date=at,
        next_bill_amount=offer.price_cents,
        next_bill_at=subscription.current_period_end,
        resumes=subscription.cancel_at_period_end,
    )


def _proration_date(subscription: Subscription, given: datetime | None) -> datetime:
    """The moment an upgrade is prorated from: the preview's, while it still holds."""
    now = utcnow()
    if given is None:
        return now.replace(microsecond=0)
    if given > now + CLOCK_SKEW:
        raise InvalidProrationDate()
    if given < now - PREVIEW_LIFETIME or given < subscription.current_period_start:
        raise PreviewExpired()
    return given


async def change(
    session: AsyncSession,
    provider: PaymentProvider,
    settings: Settings,
    *,
    user: User,
    plan: Plan,
    proration_date: datetime | None = None,
) -> Subscription:
    """An upgrade starts now, charged pro rata (as of ``proration_date``, a preview's,
    so that the charge is what the preview showed; else as of now); a downgrade starts
    with the next period."""
    plans = plans_from(settings)
    offer = _paid_offer(plans, plan)
    subscription = await _live(session, user)
    kind = _change_kind(subscription, plan, offer)
    at = _proration_date(subscription, proration_date) if kind == "upgrade" else None
    remote = await provider.change_price(
        subscription.provider_subscription_id, offer.price_id, proration_date=at
    )
    return await _applied(session, provider, settings, subscription, remote)


@dataclass(frozen=True, slots=True)
class Status:
    plan: Plan  # in use now
    subscription: Subscription | None
    next_bill_at: datetime | None
    next_bill_amount: int | None
    offer: PlanOffer


async def status(session: AsyncSession, settings: Settings, *, user: User) -> Status:
    plans = plans_from(settings)
    subscription = await subscription_of(session, user)
    plan = plan_in_use(subscription, now=utcnow(), grace=_grace(settings))
    next_at = next_amount = None
    if subscription is not None and is_live(subscription) and not subscription.cancel_at_period_end:
        next_at = subscription.current_period_end
        next_amount = plans[subscription.scheduled_plan or subscription.plan].price_cents
    return Status(plan, subscription, next_at, next_amount, plans[plan])


async def payments(session: AsyncSession, *, user: User, page: PageRequest) -> Paged[Payment]:
    statement = (
        select(Payment)
        .where(Payment.user_id == user.id)
        .order_by(Payment.created_at.desc(), Payment.id)
    )
    return await paginate_scalars(session, statement, page)


async def portal(provider: PaymentProvider, *, user: User, base_url: str) -> str:
    if user.stripe_customer_id is None:
        raise NoSubscription("You have no billing account yet.")
    return await provider.portal_url(user.stripe_customer_id, f"{base_url}/account/subscription")
