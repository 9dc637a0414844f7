"""The entitlement function: every plan, every access level, every subscription state."""

from datetime import UTC, datetime, timedelta

import pytest

from kushfilms.billing.entitlements import UNLIMITED_HEIGHT, Entitlement, entitlement, plan_in_use
from kushfilms.billing.plans import plans_from
from kushfilms.config import Settings
from kushfilms.models import AccessLevel, Plan, Role, Subscription, SubscriptionStatus, User

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
GRACE = timedelta(days=7)
PLANS = plans_from(Settings(secret_key="x" * 40))
RANK = {Plan.FREE: 0, Plan.BASIC: 1, Plan.PREMIUM: 2}
LEVEL = {AccessLevel.FREE: 0, AccessLevel.BASIC: 1, AccessLevel.PREMIUM: 2}
HEIGHT = {Plan.FREE: 480, Plan.BASIC: 720, Plan.PREMIUM: 2160}
STREAMS = {Plan.FREE: 1, Plan.BASIC: 2, Plan.PREMIUM: 4}


def user(role: Role = Role.USER) -> User:
    return User(email="x@example.com", name="X", password_hash="-", role=role)


def subscription(
    plan: Plan,
    status: SubscriptionStatus,
    *,
    period_end: datetime = NOW + timedelta(days=20),
    **fields: object,
) -> Subscription:
    return Subscription(
        plan=plan,
        status=status,
        provider_subscription_id="sub_1",
        current_period_start=period_end - timedelta(days=30),
        current_period_end=period_end,
        started_at=period_end - timedelta(days=30),
        **fields,
    )


def decide(viewer: User | None, held: Subscription | None, level: AccessLevel) -> Entitlement:
    return entitlement(viewer, held, level, plans=PLANS, now=NOW, grace=GRACE)


# Each state of a paid subscription, and whether it still gives the plan's use now.
STATES = {
    "active": (SubscriptionStatus.ACTIVE, {}, True),
    "canceled, inside the paid period": (SubscriptionStatus.CANCELED, {}, True),
    "canceled, period over": (
        SubscriptionStatus.CANCELED,
        {"period_end": NOW - timedelta(days=1)},
        False,
    ),
    "canceled at once (refund)": (
        SubscriptionStatus.CANCELED,
        {"ended_at": NOW - timedelta(hours=1)},
        False,
    ),
    "past due, inside the grace": (
        SubscriptionStatus.PAST_DUE,
        {"past_due_since": NOW - timedelta(days=2)},
        True,
    ),
    "past due, grace over": (
        SubscriptionStatus.PAST_DUE,
        {"past_due_since": NOW - timedelta(days=8)},
        False,
    ),
    "unpaid": (SubscriptionStatus.UNPAID, {}, False),
    "incomplete": (SubscriptionStatus.INCOMPLETE, {}, False),
}


@pytest.mark.parametrize("state", list(STATES))
@pytest.mark.parametrize("level", list(AccessLevel))
@pytest.mark.parametrize("plan", list(Plan))
def test_the_plan_opens_its_levels_while_the_subscription_is_good(
    plan: Plan, level: AccessLevel, state: str
) -> None:
    status, fields, good = STATES[state]
    held = subscription(plan, status, **fields)  # type: ignore[arg-type]

    decision = decide(user(), held, level)

    in_use = plan if good else Plan.FREE
    assert decision.plan == in_use
    assert decision.allowed == (RANK[in_use] >= LEVEL[level])
    assert decision.streams == STREAMS[in_use]
    if decision.allowed:
        assert decision.max_height == HEIGHT[in_use]
        assert decision.required_plan is None
    else:
        assert decision.required_plan == Plan(level.value)


@pytest.mark.parametrize("level", list(AccessLevel))
def test_without_a_subscription_only_free_films_play_at_480p(level: AccessLevel) -> None:
    for viewer in (None, user()):
        decision = decide(viewer, None, level)

        assert decision.allowed == (level == AccessLevel.FREE)
        assert decision.max_height == (480 if level == AccessLevel.FREE else 0)


def test_a_signed_out_viewer_gets_nothing_from_someone_elses_subscription() -> None:
    held = subscription(Plan.PREMIUM, SubscriptionStatus.ACTIVE)

    assert not decide(None, held, AccessLevel.PREMIUM).allowed


@pytest.mark.parametrize("level", list(AccessLevel))
def test_admins_watch_everything_at_every_quality(level: AccessLevel) -> None:
    decision = decide(user(Role.ADMIN), None, level)

    assert decision.allowed
    assert decision.max_height == UNLIMITED_HEIGHT


def test_a_downgrade_keeps_the_paid_plan_until_the_period_ends() -> None:
    held = subscription(Plan.PREMIUM, SubscriptionStatus.ACTIVE, scheduled_plan=Plan.BASIC)

    assert plan_in_use(held, now=NOW, grace=GRACE) == Plan.PREMIUM
    later = held.current_period_end + timedelta(seconds=1)
    assert plan_in_use(held, now=later, grace=GRACE) == Plan.BASIC


def test_the_caps_come_from_the_settings() -> None:
    plans = plans_from(
        Settings(secret_key="x" * 40, basic_max_height=1080, basic_streams=3, free_max_height=360)
    )
    held = subscription(Plan.BASIC, SubscriptionStatus.ACTIVE)

    decision = entitlement(user(), held, AccessLevel.BASIC, plans=plans, now=NOW, grace=GRACE)

    assert (decision.max_height, decision.streams) == (1080, 3)
    assert plans[Plan.FREE].max_height == 360
