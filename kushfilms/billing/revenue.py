"""Revenue figures for the operator: subscriptions, churn, conversion and money, by UTC day.

Counted in SQL, alike on SQLite and PostgreSQL, from the subscriptions, payments
and users tables. What the words mean:

- A subscription *starts* at ``started_at`` and *ends* at ``ended_at``; one that
  is canceled or unpaid without that date ends at ``current_period_end`` (the end
  of what was paid for). An INCOMPLETE one never paid and counts nowhere.
- It is *active* at a moment when it has started and not yet ended (a past-due
  one is still active: the provider is retrying). Active at the end of a range
  means at midnight after its last day. *New* and *churned* per day are the
  starts and ends on that day, so that active at the end = active at the start
  + new - churned.
- *Revenue* is money in minus money out: a payment counts on the day it was
  paid (SUCCEEDED, or REFUNDED since), a refund on the day it was refunded (when
  the payment last changed), in the configured currency only.
- *Viewers* are accounts that are not administrators.

One row is kept per viewer (their latest subscription), so a viewer who came
back counts from their latest start only, on their latest plan.

It reads billing through its tables' models and :func:`~kushfilms.billing.plans.plans_from`
only, so it can move to an analytics domain of its own as it is.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import ColumnElement, Date, Select, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from kushfilms.billing.plans import plans_from
from kushfilms.config import Settings
from kushfilms.errors import Unprocessable
from kushfilms.models import Payment, PaymentStatus, Plan, Role, Subscription, User
from kushfilms.models import SubscriptionStatus as Status

MAX_DAYS = 366
DEFAULT_DAYS = 30
# Reports cover days the platform can have figures for: a day far outside is a
# slip of the keyboard (and 9999-12-31, the last day a date can be, has no
# midnight after it to end a range on).
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)
PAID_PLANS = (Plan.BASIC, Plan.PREMIUM)


class InvalidRange(Unprocessable):
    code = "invalid_range"
    message = f"Choose a start on or before the end, at most {MAX_DAYS} days apart."


@dataclass(frozen=True, slots=True)
class DateRange:
    """Whole UTC days, both ends included."""

    start: date
    end: date

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time(), tzinfo=UTC)

    @property
    def until(self) -> datetime:
        """Midnight after the last day (excluded)."""
        return datetime.combine(self.end + timedelta(days=1), time(), tzinfo=UTC)

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


def date_range(start: date | None, end: date | None, *, today: date) -> DateRange:
    """The range asked for: by default the 30 days ending today (or ending ``end``)."""
    for field, day in (("start", start), ("end", end)):
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            problem = f"must be a day from {FIRST_DAY} to {LAST_DAY}"
            raise InvalidRange(
                f"The {field} {problem}.", details=[{"field": field, "message": problem}]
            )
    end = end or today
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise InvalidRange("The start must be on or before the end.")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidRange(f"Choose at most {MAX_DAYS} days.")
    return DateRange(start, end)


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    new: int = 0
    churned: int = 0
    gross: int = 0  # paid in, in cents
    refunded: int = 0  # paid back, in cents

    @property
    def revenue(self) -> int:
        return self.gross - self.refunded


@dataclass(frozen=True, slots=True)
class PlanFigures:
    plan: Plan
    active: int
    mrr: int  # in cents


@dataclass(frozen=True, slots=True)
class RevenueReport:
    range: DateRange
    currency: str
    plans: list[PlanFigures]  # active at the end, each paid plan
    active_at_start: int
    viewers: int  # at the end
    signups: int  # viewers who joined in the range
    conversions: int  # of those, the ones who started a paid subscription by the end
    days: list[Day]  # every day of the range

    @property
    def active(self) -> int:
        return sum(figures.active for figures in self.plans)

    @property
    def mrr(self) -> int:
        return sum(figures.mrr for figures in self.plans)

    @property
    def arpu(self) -> int | None:
        """Monthly revenue per paying subscriber, in cents."""
        return per(self.mrr, self.active)

    @property
    def new(self) -> int:
        return sum(day.new for day in self.days)

    @property
    def churned(self) -> int:
        return sum(day.churned for day in self.days)

    @property
    def gross(self) -> int:
        return sum(day.gross for day in self.days)

    @property
    def refunded(self) -> int:
        return sum(day.refunded for day in self.days)

    @property
    def revenue(self) -> int:
        return self.gross - self.refunded

    @property
    def revenue_per_viewer(self) -> int | None:
        """The range's revenue over every viewer (paying or not), in cents."""
        return per(self.revenue, self.viewers)

    @property
    def conversion_rate(self) -> float | None:
        return rate(self.conversions, self.signups)

    @property
    def churn_rate(self) -> float | None:
        """Subscriptions that ended in the range over those active at its start."""
        return rate(self.churned, self.active_at_start)


def per(cents: int, count: int) -> int | None:
    """``cents / count`` to the nearest cent (halves away from zero); None for no one."""
    if count == 0:
        return None
    return int((Decimal(cents) / count).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def fill_days(
    days: list[date],
    *,
    new: dict[date, int],
    churned: dict[date, int],
    gross: dict[date, int],
    refunded: dict[date, int],
) -> list[Day]:
    """One entry for every day, zeros where nothing happened."""
    return [
        Day(
            day,
            new=new.get(day, 0),
            churned=churned.get(day, 0),
            gross=gross.get(day, 0),
            refunded=refunded.get(day, 0),
        )
        for day in days
    ]


# --- SQL -----------------------------------------------------------------------------


class utc_date(FunctionElement[date]):  # noqa: N801 - named like the SQL functions it stands for
    """The UTC calendar day of a timestamp column."""

    type = Date()
    inherit_cache = True


@compiles(utc_date, "sqlite")
def _utc_date_sqlite(element: utc_date, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"  # stored as UTC text


@compiles(utc_date, "postgresql")
def _utc_date_postgresql(element: utc_date, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC' AS DATE)"


def _lifetimes() -> Any:
    """Every subscription that paid, with when it started and ended (None: not yet)."""
    ended = case(
        (Subscription.ended_at.is_not(None), Subscription.ended_at),
        (
            Subscription.status.in_([Status.CANCELED, Status.UNPAID]),
            Subscription.current_period_end,
        ),
        else_=None,
    )
    return (
        select(
            Subscription.user_id,
            Subscription.plan,
            Subscription.started_at.label("started"),
            ended.label("ended"),
        )
        .where(Subscription.status != Status.INCOMPLETE)
        .cte("lifetimes")
    )


def _active_at(lives: Any, moment: datetime) -> ColumnElement[bool]:
    return and_(lives.c.started < moment, or_(lives.c.ended.is_(None), lives.c.ended >= moment))


def _within(column: Any, span: DateRange) -> ColumnElement[bool]:
    return and_(column >= span.since, column < span.until)


async def _per_day(session: AsyncSession, statement: Select[date, int]) -> dict[date, int]:
    rows = await session.execute(statement)
    return {day: int(value or 0) for day, value in rows}


async def _count(session: AsyncSession, statement: Select[Any]) -> int:
    return int(await session.scalar(statement) or 0)


async def revenue_report(
    session: AsyncSession, settings: Settings, span: DateRange
) -> RevenueReport:
    lives = _lifetimes()
    prices = plans_from(settings)
    monthly = case(
        *((lives.c.plan == plan, prices[plan].price_cents) for plan in PAID_PLANS), else_=0
    )
    by_plan = await session.execute(
        select(lives.c.plan, func.count(), func.sum(monthly))
        .where(_active_at(lives, span.until))
        .group_by(lives.c.plan)
    )
    found = {plan: (count, int(mrr or 0)) for plan, count, mrr in by_plan}
    plans = [PlanFigures(plan, *found.get(plan, (0, 0))) for plan in PAID_PLANS]

    started = utc_date(lives.c.started)
    ended = utc_date(lives.c.ended)
    new = await _per_day(
        session,
        select(started, func.count()).where(_within(lives.c.started, span)).group_by(started),
    )
    churned = await _per_day(
        session,
        select(ended, func.count())
        .where(_within(lives.c.ended, span), lives.c.ended > lives.c.started)
        .group_by(ended),
    )

    in_currency = Payment.currency == settings.currency
    paid_at = func.coalesce(Payment.paid_at, Payment.created_at)
    paid_day = utc_date(paid_at)
    gross = await _per_day(
        session,
        select(paid_day, func.sum(Payment.amount))
        .where(
            in_currency,
            Payment.status.in_([PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED]),
            _within(paid_at, span),
        )
        .group_by(paid_day),
    )
    refund_day = utc_date(Payment.updated_at)
    refunded = await _per_day(
        session,
        select(refund_day, func.sum(Payment.amount))
        .where(
            in_currency,
            Payment.status == PaymentStatus.REFUNDED,
            _within(Payment.updated_at, span),
        )
        .group_by(refund_day),
    )

    viewer = User.role != Role.ADMIN
    joined = select(func.count()).select_from(User).where(viewer, _within(User.created_at, span))
    return RevenueReport(
        range=span,
        currency=settings.currency,
        plans=plans,
        active_at_start=await _count(
            session, select(func.count()).select_from(lives).where(_active_at(lives, span.since))
        ),
        viewers=await _count(
            session,
            select(func.count()).select_from(User).where(viewer, User.created_at < span.until),
        ),
        signups=await _count(session, joined),
        conversions=await _count(
            session,
            joined.join(lives, lives.c.user_id == User.id).where(lives.c.started < span.until),
        ),
        days=fill_days(span.days, new=new, churned=churned, gross=gross, refunded=refunded),
    )
