"""Changing plan through the API, on both providers: a preview of what the change charges
now and bills next, which changes nothing, and a change that charges what it showed."""

import copy
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from kushfilms.db import transaction
from kushfilms.kit.clock import utcnow
from kushfilms.kit.dates import day
from kushfilms.models import LocalPaymentObject, Subscription
from tests.billing.conftest import PRICE_PREMIUM, SDK_WARNING, StripeSite
from tests.billing.fake_stripe import FakeStripe
from tests.billing.test_local_checkout import subscribe
from tests.conftest import Backend

pytestmark = SDK_WARNING
PREVIEW = "/api/subscriptions/change-preview"
CHANGE = "/api/subscriptions/change"
DAY = 86400
PREVIEW_FIELDS = {
    "plan",
    "current_plan",
    "change",
    "amount_due_now",
    "currency",
    "period_start",
    "period_end",
    "proration_date",
    "starts_at",
    "next_bill_amount",
    "next_bill_at",
    "resumes",
}


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def into_the_period(
    env: Backend, viewer: dict[str, Any], fake: FakeStripe | None = None
) -> None:
    """Move the viewer's 30-day period so that 16 days of it are gone and 14 are left,
    at the provider (the local checkout's records, or the fake Stripe) and here."""
    start = int(time.time()) - 16 * DAY
    async with transaction(env.app.state.db.writer) as session:
        subscription = await session.scalar(
            select(Subscription).where(Subscription.user_id == uuid.UUID(viewer["user"]["id"]))
        )
        assert subscription is not None
        subscription.current_period_start = datetime.fromtimestamp(start, tz=utcnow().tzinfo)
        subscription.current_period_end = subscription.current_period_start + timedelta(days=30)
        if fake is None:
            record = await session.get(LocalPaymentObject, subscription.provider_subscription_id)
            assert record is not None
            data = copy.deepcopy(record.data)
            data["items"]["data"][0].update(
                current_period_start=start, current_period_end=start + 30 * DAY
            )
            record.data = data
        else:
            item = fake.objects[subscription.provider_subscription_id]["items"]["data"][0]
            item.update(current_period_start=start, current_period_end=start + 30 * DAY)


def prorated(preview: dict[str, Any], old: int, new: int) -> int:
    """Stripe's proration, worked out here: the new price's remaining time charged and
    the old one's credited, each by the second and rounded to the cent."""
    start, end = when(preview["period_start"]), when(preview["period_end"])
    share = (end - when(preview["proration_date"])) / (end - start)
    return round(new * share) - round(old * share)


async def preview_of(http: httpx.AsyncClient, viewer: dict[str, Any], plan: str) -> dict[str, Any]:
    response = await http.get(PREVIEW, params={"plan": plan}, headers=viewer["headers"])
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def payments_of(http: httpx.AsyncClient, viewer: dict[str, Any]) -> list[dict[str, Any]]:
    response = await http.get("/api/user/payments", headers=viewer["headers"])
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def upgrade_wording(preview: dict[str, Any]) -> str:
    span = f"{day(when(preview['proration_date']))} to {day(when(preview['period_end']))}"
    return f"Upgrade to Premium, prorated for {span}"


def assert_upgrade_preview(preview: dict[str, Any], status: dict[str, Any]) -> None:
    assert set(preview) == PREVIEW_FIELDS
    assert (preview["plan"], preview["current_plan"], preview["change"]) == (
        "PREMIUM",
        "BASIC",
        "upgrade",
    )
    assert preview["currency"] == "usd"
    assert preview["amount_due_now"] == prorated(preview, 299, 499)
    assert 90 <= preview["amount_due_now"] <= 95  # $2.00 a month, for 14 days of 30
    assert when(preview["period_start"]) == when(status["current_period_start"])
    assert when(preview["period_end"]) == when(status["current_period_end"])
    assert (preview["next_bill_amount"], preview["next_bill_at"]) == (
        499,
        preview["period_end"],
    )
    assert preview["starts_at"] == preview["proration_date"]
    assert abs(when(preview["proration_date"]) - utcnow()) < timedelta(minutes=5)
    assert preview["resumes"] is False


async def test_the_local_checkout_charges_an_upgrade_what_its_preview_showed(
    client: httpx.AsyncClient, viewer: dict[str, Any], env: Backend
) -> None:
    await subscribe(client, env, viewer, "BASIC")
    await into_the_period(env, viewer)
    status = (await client.get("/api/subscriptions/status", headers=viewer["headers"])).json()

    preview = await preview_of(client, viewer, "premium")  # any case

    assert_upgrade_preview(preview, status)
    assert len(await payments_of(client, viewer)) == 1  # nothing charged by looking
    after_looking = await client.get("/api/subscriptions/status", headers=viewer["headers"])
    assert after_looking.json()["plan"] == "BASIC"

    changed = await client.post(
        CHANGE,
        json={"plan": "PREMIUM", "proration_date": preview["proration_date"]},
        headers=viewer["headers"],
    )

    assert changed.status_code == 200, changed.text
    assert changed.json()["plan"] == "PREMIUM"
    upgrade, first = await payments_of(client, viewer)
    assert (upgrade["amount"], upgrade["status"]) == (preview["amount_due_now"], "SUCCEEDED")
    assert upgrade["description"] == upgrade_wording(preview)
    assert first["description"] == "Kush Films Basic, monthly"


async def test_stripe_charges_an_upgrade_what_its_invoice_preview_showed(
    stripe: StripeSite, viewer: dict[str, Any], env: Backend
) -> None:
    subscription_id = await stripe.subscribe(viewer, "BASIC")
    await into_the_period(env, viewer, stripe.fake)
    status = await stripe.status(viewer)
    sent_before = len(stripe.fake.events)

    preview = await preview_of(stripe.http, viewer, "PREMIUM")

    assert_upgrade_preview(preview, status)
    [asked] = stripe.fake.calls_to("POST", "/v1/invoices/create_preview")
    proration_date = int(when(preview["proration_date"]).timestamp())
    assert asked.params["subscription"] == subscription_id
    details = asked.params["subscription_details"]
    assert details["proration_date"] == str(proration_date)
    assert details["proration_behavior"] == "always_invoice"
    assert details["items"][0]["price"] == PRICE_PREMIUM
    # Looking changed nothing at Stripe, and charged nothing.
    assert stripe.fake.calls_to("POST", f"/v1/subscriptions/{subscription_id}") == []
    assert len(stripe.fake.events) == sent_before
    assert len((await stripe.payments(viewer))["items"]) == 1

    changed = await stripe.http.post(
        CHANGE,
        json={"plan": "PREMIUM", "proration_date": preview["proration_date"]},
        headers=viewer["headers"],
    )
    await stripe.deliver_all(stripe.fake.events[sent_before:])  # the prorated invoice

    assert changed.status_code == 200, changed.text
    [update] = stripe.fake.calls_to("POST", f"/v1/subscriptions/{subscription_id}")
    assert update.params["proration_date"] == str(proration_date)
    upgrade, _ = (await stripe.payments(viewer))["items"]
    assert (upgrade["amount"], upgrade["status"]) == (preview["amount_due_now"], "SUCCEEDED")
    assert upgrade["description"] == upgrade_wording(preview)
    assert (await stripe.status(viewer))["plan"] == "PREMIUM"


async def test_a_downgrade_preview_charges_nothing_and_starts_when_the_period_ends(
    client: httpx.AsyncClient, viewer: dict[str, Any], env: Backend
) -> None:
    await subscribe(client, env, viewer, "PREMIUM")
    await client.post("/api/subscriptions/cancel", headers=viewer["headers"])

    preview = await preview_of(client, viewer, "BASIC")
    changed = await client.post(
        CHANGE,
        json={"plan": "BASIC", "proration_date": preview["proration_date"]},
        headers=viewer["headers"],
    )

    assert (preview["change"], preview["amount_due_now"]) == ("downgrade", 0)
    assert preview["starts_at"] == preview["period_end"] == preview["next_bill_at"]
    assert preview["next_bill_amount"] == 299
    assert preview["resumes"] is True  # the change takes back the cancellation
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["plan"], body["scheduled_plan"], body["cancel_at_period_end"]) == (
        "PREMIUM",
        "BASIC",
        False,
    )
    assert (body["next_bill_at"], body["next_bill_amount"]) == (preview["next_bill_at"], 299)
    assert len(await payments_of(client, viewer)) == 1
    kept = await preview_of(client, viewer, "PREMIUM")
    assert (kept["change"], kept["amount_due_now"], kept["next_bill_amount"]) == ("keep", 0, 499)


async def test_a_stripe_downgrade_is_previewed_without_asking_stripe_for_an_invoice(
    stripe: StripeSite, viewer: dict[str, Any]
) -> None:
    await stripe.subscribe(viewer, "PREMIUM")

    preview = await preview_of(stripe.http, viewer, "BASIC")

    assert (preview["change"], preview["amount_due_now"], preview["next_bill_amount"]) == (
        "downgrade",
        0,
        299,
    )
    assert stripe.fake.calls_to("POST", "/v1/invoices/create_preview") == []


@pytest.mark.parametrize(
    ("plan", "status", "code"),
    [
        ("GOLD", 422, "validation_error"),
        ("", 422, "validation_error"),
        ("FREE", 422, "not_a_paid_plan"),
        ("BASIC", 409, "same_plan"),
    ],
)
async def test_a_preview_of_no_real_change_is_refused(
    client: httpx.AsyncClient,
    viewer: dict[str, Any],
    env: Backend,
    plan: str,
    status: int,
    code: str,
) -> None:
    await subscribe(client, env, viewer, "BASIC")

    response = await client.get(PREVIEW, params={"plan": plan}, headers=viewer["headers"])

    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


async def test_a_preview_needs_a_viewer_with_a_subscription(
    client: httpx.AsyncClient, viewer: dict[str, Any]
) -> None:
    anonymous = await client.get(PREVIEW, params={"plan": "PREMIUM"})
    unsubscribed = await client.get(PREVIEW, params={"plan": "PREMIUM"}, headers=viewer["headers"])

    assert anonymous.status_code == 401
    assert unsubscribed.status_code == 404
    assert unsubscribed.json()["error"]["code"] == "no_subscription"


@pytest.mark.parametrize(
    ("proration_date", "status", "code"),
    [
        (timedelta(hours=1), 422, "invalid_proration_date"),  # from now: in the future
        (timedelta(hours=-2), 409, "preview_expired"),
        ("2026-01-20T10:00:00", 422, "validation_error"),  # no time zone
        ("soon", 422, "validation_error"),
    ],
)
async def test_an_upgrade_with_a_proration_date_that_does_not_hold_changes_nothing(
    client: httpx.AsyncClient,
    viewer: dict[str, Any],
    env: Backend,
    proration_date: str | timedelta,
    status: int,
    code: str,
) -> None:
    await subscribe(client, env, viewer, "BASIC")
    if isinstance(proration_date, timedelta):
        proration_date = (utcnow() + proration_date).isoformat()

    response = await client.post(
        CHANGE,
        json={"plan": "PREMIUM", "proration_date": proration_date},
        headers=viewer["headers"],
    )

    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert len(await payments_of(client, viewer)) == 1
    after = await client.get("/api/subscriptions/status", headers=viewer["headers"])
    assert after.json()["plan"] == "BASIC"


async def test_a_preview_from_before_the_period_began_is_out_of_date(
    client: httpx.AsyncClient, viewer: dict[str, Any], env: Backend
) -> None:
    await subscribe(client, env, viewer, "BASIC")
    preview = await preview_of(client, viewer, "PREMIUM")
    async with transaction(env.app.state.db.writer) as session:  # the period rolled over
        subscription = await session.scalar(
            select(Subscription).where(Subscription.user_id == uuid.UUID(viewer["user"]["id"]))
        )
        assert subscription is not None
        subscription.current_period_start = utcnow()

    response = await client.post(
        CHANGE,
        json={"plan": "PREMIUM", "proration_date": preview["proration_date"]},
        headers=viewer["headers"],
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "preview_expired"
    assert len(await payments_of(client, viewer)) == 1
