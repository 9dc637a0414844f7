"""Stripe's webhook: signed events, each applied once, in whatever order they come."""

import json
import time
from typing import Any

from sqlalchemy import func, select

from kushfilms.db import transaction
from kushfilms.models import BillingEvent
from tests.billing.conftest import (
    PRICE_BASIC,
    PRICE_RETIRED,
    SDK_WARNING,
    WEBHOOK,
    StripeSite,
    payment_rows,
    stored,
    stripe_settings,
)
from tests.billing.fake_stripe import Object
from tests.conftest import Backend

pytestmark = SDK_WARNING


def kinds(events: list[Object]) -> list[str]:
    return [event["type"] for event in events]


def emails_to(stripe: StripeSite, viewer: dict[str, Any]) -> list[str]:
    return [kind for kind, user in stripe.emails() if user == viewer["user"]["id"]]


async def recorded_events(env: Backend) -> int:
    async with transaction(env.app.state.db.writer) as session:
        return int(await session.scalar(select(func.count()).select_from(BillingEvent)) or 0)


async def test_a_completed_checkout_starts_the_plan_with_a_paid_invoice_and_two_emails(
    stripe: StripeSite, viewer: dict[str, Any], env: Backend
) -> None:
    events = stripe.fake.complete_checkout(await stripe.start_checkout(viewer, "BASIC"))
    assert kinds(events) == [
        "checkout.session.completed",
        "customer.subscription.created",
        "invoice.paid",
    ]

    await stripe.deliver_all(events)

    status = await stripe.status(viewer)
    assert (status["plan"], status["status"], status["subscribed_plan"]) == (
        "BASIC",
        "ACTIVE",
        "BASIC",
    )
    [payment] = (await stripe.payments(viewer))["items"]
    invoice = events[2]["data"]["object"]
    assert payment["invoice_id"] == invoice["id"]
    assert (payment["status"], payment["amount"], payment["currency"]) == ("SUCCEEDED", 299, "usd")
    assert payment["description"] == "Kush Films Basic, monthly"
    assert payment["paid_at"] is not None
    assert emails_to(stripe, viewer) == ["subscription_started", "payment_receipt"]
    _, subscription = await stored(env, viewer)
    assert subscription is not None
    assert subscription.price_id == PRICE_BASIC
    assert subscription.provider_subscription_id == events[1]["data"]["object"]["id"]


async def test_each_event_alone_brings_the_subscription_up_to_date(
    stripe: StripeSite, viewer: dict[str, Any]
) -> None:
    """The checkout's event, or the subscription's, or the invoice's: whichever comes first."""
    events = stripe.fake.complete_checkout(await stripe.start_checkout(viewer, "PREMIUM"))

    for event in events:
        await stripe.deliver_all([event])
        status = await stripe.status(viewer)
        assert (status["plan"], status["status"]) == ("PREMIUM", "ACTIVE"), event["type"]


async def test_a_failed_renewal_is_past_due_with_a_failed_payment_and_an_email(
    stripe: StripeSite, viewer: dict[str, Any]
) -> None:
    subscription_id = await stripe.subscribe(viewer, "BASIC")
    events = stripe.fake.fail_renewal(subscription_id)
    assert kinds(events) == ["invoice.payment_failed", "customer.subscription.updated"]

    await stripe.deliver_all(events)

    status = await stripe.status(viewer)
    assert status["status"] == "PAST_DUE"
    assert status["plan"] == "BASIC"  # Stripe is retrying; the grace period lasts a week
    payments = (await stripe.payments(viewer))["items"]
    assert [(payment["status"], payment["amount"]) for payment in payments] == [
        ("FAILED", 299),
        ("SUCCEEDED", 299),
    ]
    assert payments[0]["paid_at"] is None
    assert emails_to(stripe, viewer).count("payment_failed") == 1

    await stripe.deliver_all(stripe.fake.pay_invoice(events[0]["data"]["object"]["id"]))

    assert (await stripe.status(viewer))["status"] == "ACTIVE"
    payments = (await stripe.payments(viewer))["items"]
    assert [payment["status"] for payment in payments] == ["SUCCEEDED", "SUCCEEDED"]


async def test_a_refunded_charge_shows_as_refunded(
    stripe: StripeSite, viewer: dict[str, Any]
) -> None:
    await stripe.subscribe(viewer, "BASIC")
    [paid] = [event for event in stripe.fake.events if event["type"] == "invoice.paid"]
    events = stripe.fake.refund(stripe.fake.charge_of(paid["data"]["object"]["id"]))
    assert kinds(events) == ["charge.refunded"]
    # As Stripe sends them now: the invoice names no payment, the charge no invoice.
    assert "payments" not in paid["data"]["object"]
    assert "invoice" not in events[0]["data"]["object"]

    await stripe.deliver_all(events)

    [payment] = (await stripe.payments(viewer))["items"]
    assert (payment["status"], payment["amount"]) == ("REFUNDED", 299)
    asked = stripe.fake.calls_to("GET", "/v1/invoice_payments")
    assert [call.params.get("payment") for call in asked][-1] == {
        "type": "payment_intent",
        "payment_intent": events[0]["data"]["object"]["payment_intent"],
    }


async def test_a_deleted_subscription_ends_the_plan(
    stripe: StripeSite, viewer: dict[str, Any]
) -> None:
    subscription_id = await stripe.subscribe(viewer, "PREMIUM")
    events = stripe.fake.delete(subscription_id)
    assert kinds(events) == ["customer.subscription.deleted"]

    await stripe.deliver_all(events)

    status = await stripe.status(viewer)
    assert (status["plan"], status["status"], status["next_bill_at"]) == ("FREE", "CANCELED", None)
    assert emails_to(stripe, viewer).count("cancellation_confirmed") == 1


async def test_event_types_we_do_not_handle_are_acknowledged(
    stripe: StripeSite, viewer: dict[str, Any], env: Backend
) -> None:
    await stripe.subscribe(viewer, "BASIC")
    before = await stripe.status(viewer)
    event = {**stripe.fake.events[0], "id": "evt_unhandled_1", "type": "customer.updated"}
    event["data"] = {"object": {"id": "cus_x", "object": "customer", "email": "x@example.com"}}

    response = await stripe.deliver(event)

    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False}
    assert await stripe.status(viewer) == before
    assert await recorded_events(env) == 4


async def test_a_duplicate_delivery_changes_nothing(
    stripe: StripeSite, viewer: dict[str, Any], env: Backend
) -> None:
    events = stripe.fake.complete_checkout(await stripe.start_checkout(viewer, "BASIC"))
    await stripe.deliver_all(events)
    emails = emails_to(stripe, viewer)

    again = [await stripe.deliver(event) for event in events + events]

    assert [response.status_code for response in again] == [200] * 6
    assert all(response.json() == {"received": True, "duplicate": True} for response in again)
    assert len(await payment_rows(env)) == 1
    assert emails_to(stripe, viewer) == emails
    assert sorted(emails) == ["payment_receipt", "subscription_started"]


async def test_a_cancellation_that_overtakes_the_creation_still_ends_canceled(
    stripe: StripeSite, viewer: dict[str, Any]
) -> None:
    created = stripe.fake.complete_checkout(await stripe.start_checkout(viewer, "BASIC"))
    subscription_id = created[1]["data"]["object"]["id"]
    canceled = stripe.fake.delete(subscription_id)
    canceled[0]["type"] = "customer.subscription.updated"  # as an update with status canceled
    assert canceled[0]["data"]["object"]["status"] == "canceled"

    await stripe.deliver_all(canceled + created[::-1])

    status = await stripe.status(viewer)
    assert (status["plan"], status["status"]) == ("FREE", "CANCELED")
    assert "subscription_started" not in emails_to(stripe, viewer)


async def test_a_refund_that_overtakes_the_invoice_stays_refunded(
    stripe: StripeSite, viewer: dict[str, Any], env: Backend
) -> None:
    events = stripe.fake.complete_checkout(await stripe.start_checkout(viewer, "BASIC"))
    refund = stripe.fake.refund(stripe.fake.charge_of(events[2]["data"]["object"]["id"]))

    await stripe.deliver_all(refund + events[::-1])

    [payment] = (await stripe.payments(viewer))["items"]
    assert (payment["status"], payment["amount"]) == ("REFUNDED", 299)
    assert payment["invoice_id"] == events[2]["data"]["object"]["id"]
    assert payment["description"] == "Kush Films Basic, monthly"
    assert len(await payment_rows(env)) == 1
    assert "payment_receipt" not in emails_to(stripe, viewer)


async def test_a_late_failure_does_not_undo_a_later_success(
    stripe: StripeSite, viewer: dict[str, Any], env: Backend
) -> None:
    subscription_id = await stripe.subscribe(viewer, "BASIC")
    failed = stripe.fake.fail_renewal(subscription_id)
    retried = stripe.fake.pay_invoice(failed[0]["data"]["object"]["id"])

    await stripe.deliver_all(retried + failed)

    assert (await stripe.status(viewer))["status"] == "ACTIVE"
    payments = (await stripe.payments(viewer))["items"]
    assert [payment["status"] for payment in payments] == ["SUCCEEDED", "SUCCEEDED"]
    assert len(await payment_rows(env)) == 2
    assert "payment_failed" not in emails_to(stripe, viewer)


async def test_unsigned_wrongly_signed_and_stale_events_are_refused_and_change_nothing(
    stripe: StripeSite, viewer: dict[str, Any], env: Backend
) -> None:
    events = stripe.fake.complete_checkout(await stripe.start_checkout(viewer, "BASIC"))
    payload = json.dumps(events[1]).encode()
    tolerance = stripe.app.state.settings.stripe_webhook_tolerance
    tampered = json.dumps({**events[1], "id": "evt_forged"}).encode()

    refused = [
        await stripe.deliver(events[1], signature=""),
        await stripe.deliver(events[1], signature="t=1,v1=00"),
        await stripe.deliver(events[1], signature="nonsense"),
        await stripe.deliver(events[1], signature=stripe.fake.sign(payload, secret="whsec_other")),
        await stripe.deliver(
            events[1],
            signature=stripe.fake.sign(payload, timestamp=int(time.time()) - tolerance - 30),
        ),
        await stripe.deliver(events[1], body=tampered, signature=stripe.fake.sign(payload)),
    ]

    for response in refused:
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid_signature"
    assert (await stripe.status(viewer))["status"] is None
    assert await recorded_events(env) == 0
    assert stripe.emails() == []


async def test_a_signed_body_that_is_no_event_is_a_bad_request(stripe: StripeSite) -> None:
    for body in (b"[1, 2]", b"{not json", b'{"id": "evt_1", "type": "invoice.paid", "data": [1]}'):
        response = await stripe.deliver({}, body=body, signature=stripe.fake.sign(body))
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "bad_request"


async def test_an_event_that_cannot_be_applied_is_refused_whole_and_applies_once_put_right(
    stripe: StripeSite, viewer: dict[str, Any], env: Backend, client_of_app: Any
) -> None:
    subscription_id = await stripe.subscribe(viewer, "BASIC")
    # An operator moves the subscription to a price no plan here sells; it renews.
    stripe.fake.set_price(subscription_id, PRICE_RETIRED)
    [_, paid] = stripe.fake.renew(subscription_id)
    recorded = await recorded_events(env)

    failed = await stripe.deliver(paid)

    assert failed.status_code == 500
    assert failed.json()["error"]["code"] == "webhook_failed"
    assert len(await payment_rows(env)) == 1  # the renewal's payment was not kept either
    assert await recorded_events(env) == recorded
    _, subscription = await stored(env, viewer)
    assert subscription is not None
    assert subscription.price_id == PRICE_BASIC

    # The operator sells Basic at that price now; Stripe sends the event again.
    fixed = await client_of_app(
        **stripe_settings(
            stripe.app.state.settings.stripe_api_base, stripe_price_basic=PRICE_RETIRED
        )
    )
    payload = json.dumps(paid).encode()
    redelivered = await fixed.post(
        WEBHOOK, content=payload, headers={"Stripe-Signature": stripe.fake.sign(payload)}
    )

    assert redelivered.status_code == 200, redelivered.text
    assert redelivered.json()["duplicate"] is False
    assert len(await payment_rows(env)) == 2
    _, subscription = await stored(env, viewer)
    assert subscription is not None
    assert subscription.price_id == PRICE_RETIRED
