"""Revenue analytics: the figures and the per-day series, from rows put on known days."""

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from kushfilms.billing import revenue
from kushfilms.billing.revenue import DateRange, Day, PlanFigures, RevenueReport
from kushfilms.db import transaction
from kushfilms.kit.clock import utcnow
from kushfilms.models import (
    Payment,
    PaymentStatus,
    Plan,
    Role,
    Subscription,
    SubscriptionStatus,
    User,
)
from tests.conftest import Backend

MARCH = DateRange(date(2026, 3, 1), date(2026, 3, 10))


def at(day: int, hour: int = 12, minute: int = 0, second: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


# --- the pure parts -----------------------------------------------------------------


def test_a_range_is_whole_utc_days_with_both_ends_included() -> None:
    assert MARCH.since == at(1, 0)
    assert MARCH.until == at(11, 0)
    assert MARCH.days[0] == date(2026, 3, 1)
    assert MARCH.days[-1] == date(2026, 3, 10)
    assert len(MARCH.days) == 10
    assert DateRange(date(2026, 2, 28), date(2026, 2, 28)).days == [date(2026, 2, 28)]


def test_the_default_range_is_the_last_30_days() -> None:
    today = date(2026, 3, 31)
    assert revenue.date_range(None, None, today=today) == DateRange(date(2026, 3, 2), today)
    ending = revenue.date_range(None, date(2026, 1, 30), today=today)
    assert ending == DateRange(date(2026, 1, 1), date(2026, 1, 30))
    starting = revenue.date_range(date(2026, 3, 20), None, today=today)
    assert starting == DateRange(date(2026, 3, 20), today)


@pytest.mark.parametrize(
    ("start", "end", "valid"),
    [
        (date(2026, 3, 1), date(2026, 3, 1), True),
        (date(2026, 3, 2), date(2026, 3, 1), False),
        (date(2025, 1, 1), date(2025, 12, 31), True),  # 365 days
        (date(2024, 1, 1), date(2024, 12, 31), True),  # 366 days, a leap year
        (date(2025, 1, 1), date(2026, 1, 1), True),  # 366 days
        (date(2025, 1, 1), date(2026, 1, 2), False),  # 367 days
    ],
)
def test_a_range_runs_forwards_for_at_most_366_days(start: date, end: date, valid: bool) -> None:
    if valid:
        assert revenue.date_range(start, end, today=end) == DateRange(start, end)
    else:
        with pytest.raises(revenue.InvalidRange):
            revenue.date_range(start, end, today=end)


@pytest.mark.parametrize(
    ("cents", "count", "expected"),
    [(1596, 4, 399), (698, 12, 58), (5, 2, 3), (-5, 2, -3), (7, 2, 4), (1, 3, 0), (0, 5, 0)],
)
def test_per_rounds_to_the_nearest_cent_halves_away_from_zero(
    cents: int, count: int, expected: int
) -> None:
    assert revenue.per(cents, count) == expected


def test_nothing_is_divided_by_no_one() -> None:
    assert revenue.per(100, 0) is None
    assert revenue.rate(1, 0) is None
    assert revenue.rate(0, 3) == 0
    assert revenue.rate(1, 3) == 0.3333
    assert revenue.rate(3, 4) == 0.75


def test_every_day_of_the_range_gets_an_entry_zeros_included() -> None:
    days = revenue.fill_days(
        MARCH.days,
        new={date(2026, 3, 3): 2},
        churned={date(2026, 3, 10): 1},
        gross={date(2026, 3, 1): 299, date(2026, 2, 28): 1},  # outside: dropped
        refunded={date(2026, 3, 1): 99},
    )
    assert [day.day for day in days] == MARCH.days
    assert days[0] == Day(date(2026, 3, 1), gross=299, refunded=99)
    assert days[0].revenue == 200
    assert days[2] == Day(date(2026, 3, 3), new=2)
    assert days[9] == Day(date(2026, 3, 10), churned=1)
    assert all(day == Day(day.day) for day in days[3:9] + days[1:2])


def test_the_report_adds_up_its_parts() -> None:
    report = RevenueReport(
        range=MARCH,
        currency="usd",
        plans=[PlanFigures(Plan.BASIC, 3, 897), PlanFigures(Plan.PREMIUM, 1, 499)],
        active_at_start=5,
        viewers=10,
        signups=4,
        conversions=1,
        days=revenue.fill_days(
            MARCH.days,
            new={date(2026, 3, 2): 1},
            churned={date(2026, 3, 2): 1, date(2026, 3, 5): 1},
            gross={date(2026, 3, 2): 1000},
            refunded={date(2026, 3, 3): 299},
        ),
    )
    assert (report.active, report.mrr, report.arpu) == (4, 1396, 349)
    assert (report.new, report.churned) == (1, 2)
    assert (report.gross, report.refunded, report.revenue) == (1000, 299, 701)
    assert report.revenue_per_viewer == 70
    assert report.conversion_rate == 0.25
    assert report.churn_rate == 0.4


# --- from the database ------------------------------------------------------------------


async def seed(env: Backend) -> None:
    """Viewers, subscriptions and payments around March 1-10, 2026 (see the figures below)."""
    users: dict[str, User] = {}
    rows: list[Any] = []

    def user(key: str, joined: datetime, role: Role = Role.USER) -> User:
        found = User(
            email=f"{key}-{uuid.uuid4().hex[:6]}@example.com",
            name=key,
            password_hash="-",
            role=role,
            created_at=joined,
            updated_at=joined,
        )
        users[key] = found
        rows.append(found)
        return found

    def subscribe(
        key: str,
        plan: Plan,
        status: SubscriptionStatus,
        started: datetime,
        *,
        period_end: datetime | None = None,
        ended: datetime | None = None,
        cancel_at_period_end: bool = False,
    ) -> None:
        rows.append(
            Subscription(
                user_id=users[key].id,
                plan=plan,
                status=status,
                provider_subscription_id=f"sub_{key}",
                price_id=f"price_{plan.lower()}",
                current_period_start=started,
                current_period_end=period_end or started + timedelta(days=30),
                cancel_at_period_end=cancel_at_period_end,
                ended_at=ended,
                started_at=started,
                provider_created_at=started,
            )
        )

    def pay(
        key: str,
        amount: int,
        status: PaymentStatus,
        *,
        paid: datetime | None = None,
        created: datetime | None = None,
        changed: datetime | None = None,
        currency: str = "usd",
    ) -> None:
        created = created or paid or at(1)
        rows.append(
            Payment(
                user_id=users[key].id,
                provider_payment_id=f"in_{uuid.uuid4().hex}",
                amount=amount,
                currency=currency,
                status=status,
                paid_at=paid,
                created_at=created,
                updated_at=changed or created,
            )
        )

    user("u1", at(10, month=2))
    user("u2", at(15, month=2))
    user("u3", at(2, 8))
    user("u4", at(5))
    user("u5", at(6, 0))
    user("u6", at(7))
    user("u7", at(1, month=1))
    user("u8", at(8, 9))
    user("u9", at(10, 23, 59, 59))  # the last second of the range
    user("u10", at(11, 0))  # the first second after it
    user("u11", at(1, month=2))
    user("u12", at(5, month=1))
    user("u13", at(1, month=2))
    user("admin", at(2), role=Role.ADMIN)

    async with transaction(env.app.state.db.writer) as session:
        session.add_all(rows)
        await session.flush()
        rows.clear()
        active = SubscriptionStatus.ACTIVE
        subscribe("u1", Plan.BASIC, active, at(10, 10, month=2))
        subscribe("u2", Plan.PREMIUM, SubscriptionStatus.CANCELED, at(15, month=2), ended=at(4, 9))
        subscribe("u3", Plan.BASIC, active, at(3, 23, 30))  # late on the 3rd, UTC
        subscribe("u5", Plan.PREMIUM, SubscriptionStatus.PAST_DUE, at(6, 0))
        subscribe("u6", Plan.BASIC, SubscriptionStatus.INCOMPLETE, at(7))
        subscribe("u7", Plan.BASIC, SubscriptionStatus.UNPAID, at(1, month=1), period_end=at(8, 12))
        subscribe("u8", Plan.PREMIUM, SubscriptionStatus.CANCELED, at(8, 10), ended=at(9, 10))
        subscribe("u11", Plan.BASIC, active, at(11, 1))  # after the range
        subscribe(
            "u12",
            Plan.BASIC,
            SubscriptionStatus.CANCELED,
            at(5, month=1),
            period_end=at(20, month=2),
        )
        subscribe("u13", Plan.PREMIUM, active, at(1, month=2), cancel_at_period_end=True)

        succeeded, refunded = PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED
        pay("u1", 299, succeeded, paid=at(1, 0))  # the first second of the range
        pay("u3", 299, succeeded, paid=at(3, 23, 30))
        pay("u5", 499, PaymentStatus.FAILED, created=at(6, 0))
        pay("u8", 499, refunded, paid=at(8, 10), changed=at(9, 10))
        pay("u2", 499, refunded, paid=at(15, month=2), changed=at(2, 7))  # paid before
        pay("u13", 499, succeeded, paid=at(10, 23, 59, 59))
        pay("u11", 299, succeeded, paid=at(11, 1))  # after the range
        pay("u1", 500, succeeded, paid=at(4), currency="eur")  # another currency
        pay("u5", 499, PaymentStatus.PENDING, created=at(6, 1))
        pay("u4", 100, succeeded, created=at(5, 12))  # no paid_at: its creation counts
        session.add_all(rows)


EXPECTED_DAYS = {
    "2026-03-01": {"new": 0, "churned": 0, "gross": 299, "refunded": 0, "revenue": 299},
    "2026-03-02": {"new": 0, "churned": 0, "gross": 0, "refunded": 499, "revenue": -499},
    "2026-03-03": {"new": 1, "churned": 0, "gross": 299, "refunded": 0, "revenue": 299},
    "2026-03-04": {"new": 0, "churned": 1, "gross": 0, "refunded": 0, "revenue": 0},
    "2026-03-05": {"new": 0, "churned": 0, "gross": 100, "refunded": 0, "revenue": 100},
    "2026-03-06": {"new": 1, "churned": 0, "gross": 0, "refunded": 0, "revenue": 0},
    "2026-03-07": {"new": 0, "churned": 0, "gross": 0, "refunded": 0, "revenue": 0},
    "2026-03-08": {"new": 1, "churned": 1, "gross": 499, "refunded": 0, "revenue": 499},
    "2026-03-09": {"new": 0, "churned": 1, "gross": 0, "refunded": 499, "revenue": -499},
    "2026-03-10": {"new": 0, "churned": 0, "gross": 499, "refunded": 0, "revenue": 499},
}


async def test_the_figures_from_rows_on_known_days(client: httpx.AsyncClient, env: Backend) -> None:
    await seed(env)
    async with env.app.state.db.reader() as session:
        if env.name == "postgres":  # days are UTC days whatever the server's zone
            await session.execute(text("SET TIME ZONE 'Pacific/Auckland'"))
        report = await revenue.revenue_report(session, env.settings, MARCH)

    assert report.plans == [PlanFigures(Plan.BASIC, 2, 598), PlanFigures(Plan.PREMIUM, 2, 998)]
    assert (report.active, report.mrr, report.arpu) == (4, 1596, 399)
    assert report.active_at_start == 4  # u1, u2, u7, u13
    assert (report.new, report.churned) == (3, 3)
    assert report.active == report.active_at_start + report.new - report.churned
    assert report.churn_rate == 0.75
    assert (report.signups, report.conversions, report.conversion_rate) == (6, 3, 0.5)
    assert report.viewers == 12
    assert (report.gross, report.refunded, report.revenue) == (1696, 998, 698)
    assert report.revenue_per_viewer == round(Decimal(698) / 12)
    got = {
        day.day.isoformat(): {
            "new": day.new,
            "churned": day.churned,
            "gross": day.gross,
            "refunded": day.refunded,
            "revenue": day.revenue,
        }
        for day in report.days
    }
    assert got == EXPECTED_DAYS


async def test_the_api_sends_the_same_figures(
    client: httpx.AsyncClient, env: Backend, admin: dict[str, Any]
) -> None:
    await seed(env)
    response = await client.get(
        "/api/admin/analytics/revenue",
        params={"start": "2026-03-01", "end": "2026-03-10"},
        headers=admin["headers"],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    days = {day.pop("date"): day for day in body.pop("days")}
    assert days == EXPECTED_DAYS
    assert body == {
        "start": "2026-03-01",
        "end": "2026-03-10",
        "currency": "usd",
        "active_subscriptions": 4,
        "active_by_plan": [
            {"plan": "BASIC", "active": 2, "mrr": 598},
            {"plan": "PREMIUM", "active": 2, "mrr": 998},
        ],
        "mrr": 1596,
        "arpu": 399,
        "new_subscriptions": 3,
        "churned_subscriptions": 3,
        "active_at_start": 4,
        "churn_rate": 0.75,
        "gross_revenue": 1696,
        "refunded": 998,
        "revenue": 698,
        "viewers": 12,  # not the administrators
        "revenue_per_viewer": 58,
        "signups": 6,
        "conversions": 3,
        "conversion_rate": 0.5,
    }


async def test_an_empty_range_is_zeros_every_day(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    response = await client.get(
        "/api/admin/analytics/revenue",
        params={"start": "2020-02-27", "end": "2020-03-01"},
        headers=admin["headers"],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [day["date"] for day in body["days"]] == [
        "2020-02-27",
        "2020-02-28",
        "2020-02-29",
        "2020-03-01",
    ]
    assert all(day["new"] == day["churned"] == day["revenue"] == 0 for day in body["days"])
    assert body["active_by_plan"] == [
        {"plan": "BASIC", "active": 0, "mrr": 0},
        {"plan": "PREMIUM", "active": 0, "mrr": 0},
    ]
    assert body["arpu"] is None
    assert body["churn_rate"] is None
    assert body["conversion_rate"] is None


async def test_by_default_the_last_30_days(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    response = await client.get("/api/admin/analytics/revenue", headers=admin["headers"])
    assert response.status_code == 200, response.text
    body = response.json()
    today = utcnow().date()
    assert body["end"] == today.isoformat()
    assert body["start"] == (today - timedelta(days=29)).isoformat()
    assert len(body["days"]) == 30
    assert body["signups"] == 0  # the administrator is not a viewer


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"start": "2026-03-02", "end": "2026-03-01"}, "invalid_range"),
        ({"start": "2025-01-01", "end": "2026-01-02"}, "invalid_range"),
        ({"start": "2026-13-01"}, "validation_error"),
        ({"end": "yesterday"}, "validation_error"),
    ],
)
async def test_a_backwards_too_long_or_malformed_range_is_refused(
    client: httpx.AsyncClient, admin: dict[str, Any], params: dict[str, str], code: str
) -> None:
    response = await client.get(
        "/api/admin/analytics/revenue", params=params, headers=admin["headers"]
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code


async def test_only_administrators_see_revenue(
    client: httpx.AsyncClient, viewer: dict[str, Any]
) -> None:
    anonymous = await client.get("/api/admin/analytics/revenue")
    assert anonymous.status_code == 401
    refused = await client.get("/api/admin/analytics/revenue", headers=viewer["headers"])
    assert refused.status_code == 403
