"""The one place that decides whether a viewer may play a film, and how sharp.

Playback, pages and the API all ask :func:`entitlement`, with the viewer's
subscription as the payment provider last described it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from kushfilms.billing.plans import PLAN_FOR_LEVEL, Plans
from kushfilms.models import AccessLevel, Plan, Role, Subscription, SubscriptionStatus, User

UNLIMITED_HEIGHT = 4320
UNLIMITED_STREAMS = 1000


@dataclass(frozen=True, slots=True)
class Entitlement:
    allowed: bool
    plan: Plan  # the plan the viewer has the use of now
    max_height: int  # the tallest rung (short side, in pixels) the viewer may watch
    streams: int  # devices that may play at once
    required_plan: Plan | None = None  # what would open the film, when refused


def plan_in_use(subscription: Subscription | None, *, now: datetime, grace: timedelta) -> Plan:
    """The plan a subscription gives the use of at ``now``: Free unless it is paid up.

    Paid up means active; or canceled but inside the period already paid for;
    or past due for less than the grace period while the provider retries.
    A downgrade takes effect when the paid period ends.
    """
    if subscription is None:
        return Plan.FREE
    status = subscription.status
    in_period = now < subscription.current_period_end
    if status == SubscriptionStatus.ACTIVE:
        good = True
    elif status == SubscriptionStatus.CANCELED:
        good = in_period and (subscription.ended_at is None or now < subscription.ended_at)
    elif status == SubscriptionStatus.PAST_DUE:
        since = subscription.past_due_since or subscription.current_period_end
        good = now < since + grace
    else:  # UNPAID, INCOMPLETE
        good = False
    if not good:
        return Plan.FREE
    if subscription.scheduled_plan is not None and not in_period:
        return subscription.scheduled_plan
    return subscription.plan


def entitlement(
    viewer: User | None,
    subscription: Subscription | None,
    level: AccessLevel,
    *,
    plans: Plans,
    now: datetime,
    grace: timedelta,
) -> Entitlement:
    if viewer is not None and viewer.role == Role.ADMIN:
        return Entitlement(True, Plan.PREMIUM, UNLIMITED_HEIGHT, UNLIMITED_STREAMS)
    plan = plan_in_use(subscription if viewer is not None else None, now=now, grace=grace)
    offer = plans[plan]
    if offer.opens(level):
        return Entitlement(True, plan, offer.max_height, offer.streams)
    return Entitlement(False, plan, 0, offer.streams, required_plan=PLAN_FOR_LEVEL[level])
