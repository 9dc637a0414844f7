"""Money happens once, however many requests, events or workers race for it.

Each test fires its contenders at once (``asyncio.gather``), each in a session
of its own. SQLite takes one writer at a time, so these races are only open on
PostgreSQL; on SQLite the tests still hold, as a check of the outcome.
"""

import asyncio
import time
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select

from kushfilms.billing.local import PAYS, CheckoutNotOpen
from kushfilms.db import transaction
from kushfilms.models import LocalPaymentObject, PaymentStatus, Subscription
from tests.billing.conftest import SDK_WARNING, StripeSite, payment_rows, stored
from tests.billing.fake_stripe import Object
from tests.billing.test_local_checkout import (
    end_period,
    pay,
    payments,
    renew_due,
    start_checkout,
    status,
    subscribe,
)
from tests.conftest import Backend

AT_ONCE = 8


async def local_records(env: Backend, kind: str) -> list[dict[str, Any]]:
    async with transaction(env.app.state.db.writer) as session:
        found = await session.scalars(
            select(LocalPaymentObject.data).where(LocalPaymentObject.kind == kind)
        )
        return list(found)


async def subscription_rows(env: Backend) -> list[Subscription]:
    async with transaction(env.app.state.db.writer) as session:
        return list(await session.scalars(select(Subscription)))


async def attempts(*contenders: Any) -> list[Any]:
    """Run the contenders at once; what each returned or raised."""
    return list(await asyncio.gather(*contenders, return_exceptions=True))


# --- the local checkout ----------------------------------------------------------------


async def test_one_checkout_paid_many_times_at_once_is_paid_once(
    client: httpx.AsyncClient, viewer: dict[str, Any], env: Backend
) -> None:
    checkout_id = await start_checkout(client, viewer, "PREMIUM")

    results = await attempts(*(pay(env, checkout_id, PAYS) for _ in range(AT_ONCE)))

    assert sum(isinstance(result, str) for result in results) == 1, results
    assert sum(isinstance(result, CheckoutNotOpen) for result in results) == AT_ONCE - 1
    assert [(p["status"], p["amount"]) for p in await payments(client, viewer)] == [
        ("SUCCEEDED", 499)
    ]
    assert len(await local_records(env, "subscription")) == 1
    assert len(await local_records(env, "invoice")) == 1
    assert (await status(client, viewer))["plan"] == "PREMIUM"


async def test_two_checkouts_of_one_viewer_paid_at_once_make_one_subscription(
    client: httpx.AsyncClient, viewer: dict[str, Any], env: Backend
) -> None:
    """Two tabs, each with a checkout of its own, both paid: one subscription, one charge."""
    first = await start_checkout(client, viewer, "BASIC")
    second = await start_checkout(client, viewer, "PREMIUM")

    results = await attempts(pay(env, first, PAYS), pay(env, second, PAYS))

    assert sum(isinstance(result, str) for result in results) == 1, results
    assert sum(isinstance(result, CheckoutNotOpen) for result in results) == 1
    assert len(await payments(client, viewer)) == 1
    assert len(await local_records(env, "subscription")) == 1
    assert len(await subscription_rows(env)) == 1


async def test_a_viewer_with_a_subscription_cannot_pay_an_older_checkout(
    client: httpx.AsyncClient, viewer: dict[str, Any], env: Backend
) -> None:
    older = await start_checkout(client, viewer, "PREMIUM")
    await subscribe(client, env, viewer, "BASIC")

    refused = await attempts(pay(env, older, PAYS))

    assert isinstance(refused[0], CheckoutNotOpen)
    assert "already have a subscription" in refused[0].detail
    assert len(await payments(client, viewer)) == 1
    assert (await status(client, viewer))["plan"] == "BASIC"


async def test_first_checkouts_started_at_once_make_one_customer(
    client: httpx.AsyncClient, viewer: dict[str, Any], env: Backend
) -> None:
    checkouts = await attempts(*(start_checkout(client, viewer, "BASIC") for _ in range(AT_ONCE)))

    assert all(isinstance(checkout, str) for checkout in checkouts), checkouts
    [customer] = await local_records(env, "customer")
    user, _ = await stored(env, viewer)
    assert user.stripe_customer_id == customer["id"]
    opened = await local_records(env, "checkout_session")
    assert {checkout["customer"] for checkout in opened} == {customer["id"]}
    await pay(env, str(checkouts[-1]), PAYS)  # the customer of every checkout is the viewer's
    [payment] = await payments(client, viewer)
    assert payment["status"] == "SUCCEEDED"


async def test_renewals_run_by_two_workers_at_once_charge_the_month_once(
    client: httpx.AsyncClient, viewer: dict[str, Any], env: Backend
) -> None:
    await subscribe(client, env, viewer, "BASIC")
    await end_period(env, viewer)

    renewed = await attempts(renew_due(env), renew_due(env))

    assert sorted(renewed) == [0, 1]
    assert [p["status"] for p in await payments(client, viewer)] == ["SUCCEEDED"] * 2
    assert await renew_due(env) == 0


async def test_a_cancellation_during_a_renewal_is_kept_and_so_is_the_renewal(
    client: httpx.AsyncClient, viewer: dict[str, Any], env: Backend
) -> None:
    """Neither overwrites the other. Whichever comes first, a month renewed stays paid
    for (the subscription ends when it does), and no month is charged twice."""
    await subscribe(client, env, viewer, "BASIC")
    await end_period(env, viewer)

    _, canceled = await attempts(
        renew_due(env), client.post("/api/subscriptions/cancel", headers=viewer["headers"])
    )
    while await renew_due(env):  # what the next runs of the housekeeping find to do
        pass

    assert isinstance(canceled, httpx.Response)
    assert canceled.status_code == 200, canceled.text
    paid = len(await payments(client, viewer))
    now = await status(client, viewer)
    [record] = await local_records(env, "subscription")
    period_end = record["items"]["data"][0]["current_period_end"]
    assert datetime.fromisoformat(now["current_period_end"]).timestamp() == period_end
    if paid == 2:  # renewed first: the new month is the viewer's, then it ends
        assert (now["status"], now["plan"], now["cancel_at_period_end"]) == (
            "ACTIVE",
            "BASIC",
            True,
        )
        assert record["cancel_at_period_end"] is True
        assert period_end > time.time()
    else:  # canceled first: it ends with the month it was, uncharged
        assert paid == 1
        assert (now["status"], now["plan"]) == ("CANCELED", "FREE")


async def test_two_upgrades_at_once_charge_once(
    client: httpx.AsyncClient, viewer: dict[str, Any], env: Backend
) -> None:
    await subscribe(client, env, viewer, "BASIC")

    responses = await attempts(
        *(
            client.post(
                "/api/subscriptions/change", json={"plan": "PREMIUM"}, headers=viewer["headers"]
            )
            for _ in range(AT_ONCE)
        )
    )

    assert all(isinstance(response, httpx.Response) for response in responses), responses
    assert {response.status_code for response in responses} <= {200, 409}
    assert any(response.status_code == 200 for response in responses)
    amounts = [payment["amount"] for payment in await payments(client, viewer)]
    assert len(amounts) == 2  # the first month, and one proration
    assert 195 <= amounts[0] <= 200
    assert len(await local_records(env, "subscription")) == 1
    assert [row.plan for row in await subscription_rows(env)] == ["PREMIUM"]


# --- Stripe's webhook ----------------------------------------------------------------------


async def deliver_at_once(stripe: StripeSite, events: list[Object]) -> list[httpx.Response]:
    responses = await asyncio.gather(*(stripe.deliver(event) for event in events))
    for response in responses:
        assert response.status_code == 200, response.text
    return list(responses)


def emails_to(stripe: StripeSite, viewer: dict[str, Any]) -> list[str]:
    return sorted(kind for kind, user in stripe.emails() if user == viewer["user"]["id"])


@SDK_WARNING
async def test_one_event_delivered_many_times_at_once_is_applied_once(
    stripe: StripeSite, viewer: dict[str, Any], env: Backend
) -> None:
    events = stripe.fake.complete_checkout(await stripe.start_checkout(viewer, "BASIC"))

    responses = await deliver_at_once(stripe, [events[2]] * AT_ONCE)

    assert sorted(response.json()["duplicate"] for response in responses) == [False] + [True] * (
        AT_ONCE - 1
    )
    assert len(await payment_rows(env)) == 1
    assert emails_to(stripe, viewer) == ["payment_receipt", "subscription_started"]


@SDK_WARNING
async def test_the_events_of_one_checkout_at_once_make_one_subscription_and_one_payment(
    stripe: StripeSite, viewer: dict[str, Any], env: Backend
) -> None:
    """checkout.session.completed, customer.subscription.created and invoice.paid all
    concern the same subscription and arrive together."""
    events = stripe.fake.complete_checkout(await stripe.start_checkout(viewer, "BASIC"))

    responses = await deliver_at_once(stripe, events * 2)

    assert (
        sorted(response.json()["duplicate"] for response in responses) == [False] * 3 + [True] * 3
    )
    assert len(await subscription_rows(env)) == 1
    [payment] = await payment_rows(env)
    assert (payment.status, payment.amount) == (PaymentStatus.SUCCEEDED, 299)
    assert (await stripe.status(viewer))["status"] == "ACTIVE"
    assert emails_to(stripe, viewer) == ["payment_receipt", "subscription_started"]


@SDK_WARNING
async def test_a_refund_at_once_with_its_invoice_and_again_is_refunded_once(
    stripe: StripeSite, viewer: dict[str, Any], env: Backend
) -> None:
    events = stripe.fake.complete_checkout(await stripe.start_checkout(viewer, "BASIC"))
    [refund] = stripe.fake.refund(stripe.fake.charge_of(events[2]["data"]["object"]["id"]))
    again = {**refund, "id": refund["id"] + "_again"}  # Stripe may send two events of it

    await deliver_at_once(stripe, [events[2], refund, again, refund])

    [payment] = await payment_rows(env)
    assert (payment.status, payment.amount) == (PaymentStatus.REFUNDED, 299)
    assert payment.provider_payment_id == events[2]["data"]["object"]["id"]
    # Applied first, the invoice earns its receipt; applied after the refund, none.
    assert emails_to(stripe, viewer).count("payment_receipt") <= 1


@SDK_WARNING
async def test_first_stripe_checkouts_started_at_once_make_one_customer(
    stripe: StripeSite, viewer: dict[str, Any], env: Backend
) -> None:
    sessions = await asyncio.gather(
        *(stripe.start_checkout(viewer, "BASIC") for _ in range(AT_ONCE))
    )

    user, _ = await stored(env, viewer)
    customers = {stripe.fake.get(session)["customer"] for session in sessions}
    assert customers == {user.stripe_customer_id}
    made = [found for found in stripe.fake.objects.values() if found["object"] == "customer"]
    assert len(made) == 1


@SDK_WARNING
async def test_two_stripe_upgrades_at_once_charge_once(
    stripe: StripeSite, viewer: dict[str, Any], env: Backend
) -> None:
    await stripe.subscribe(viewer, "BASIC")

    responses = await asyncio.gather(
        *(
            stripe.http.post(
                "/api/subscriptions/change", json={"plan": "PREMIUM"}, headers=viewer["headers"]
            )
            for _ in range(2)
        )
    )

    assert {response.status_code for response in responses} <= {200, 409}
    assert any(response.status_code == 200 for response in responses)
    paid = [event for event in stripe.fake.events if event["type"] == "invoice.paid"]
    assert len(paid) == 2  # the first month, and one proration
    assert [row.plan for row in await subscription_rows(env)] == ["PREMIUM"]


@SDK_WARNING
async def test_a_cancellation_sent_twice_at_once_is_confirmed_once(
    stripe: StripeSite, viewer: dict[str, Any]
) -> None:
    await stripe.subscribe(viewer, "BASIC")

    responses = await asyncio.gather(
        *(
            stripe.http.post("/api/subscriptions/cancel", headers=viewer["headers"])
            for _ in range(2)
        )
    )

    assert [response.status_code for response in responses] == [200, 200]
    assert all(response.json()["cancel_at_period_end"] for response in responses)
    assert emails_to(stripe, viewer).count("cancellation_confirmed") == 1
