"""The built-in local checkout (no Stripe keys): the same flow, paid with test cards."""

import copy
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from kushfilms.billing.local import (
    DECLINED,
    PAYS,
    RENEWALS_FAIL,
    CardDeclined,
    CheckoutNotOpen,
    LocalProvider,
)
from kushfilms.billing.tasks import renew_local_subscriptions
from kushfilms.db import transaction
from kushfilms.jobs import job_context
from kushfilms.models import LocalPaymentObject, Subscription
from tests.billing.conftest import stored
from tests.conftest import Backend


async def start_checkout(client: httpx.AsyncClient, viewer: dict[str, Any], plan: str) -> str:
    response = await client.post(
        "/api/subscriptions/create-checkout", json={"plan": plan}, headers=viewer["headers"]
    )
    assert response.status_code == 200, response.text
    url: str = response.json()["checkout_url"]
    assert url.startswith("http://testserver/billing/checkout/cs_local_")
    return url.rsplit("/", 1)[1]


async def pay(env: Backend, checkout_id: str, card: str) -> str:
    """Pay on the checkout page, as its form does: in a transaction of its own."""
    async with transaction(env.app.state.db.writer) as session:
        return await LocalProvider(session, env.settings).complete_checkout(
            checkout_id, card_number=card
        )


async def subscribe(
    client: httpx.AsyncClient, env: Backend, viewer: dict[str, Any], plan: str, card: str = PAYS
) -> None:
    await pay(env, await start_checkout(client, viewer, plan), card)


async def renew_due(env: Backend) -> int:
    """The worker's housekeeping step that renews the local checkout's subscriptions."""
    async with job_context(env.settings) as context:
        return await renew_local_subscriptions(context)


async def end_period(env: Backend, viewer: dict[str, Any]) -> None:
    """Move the paid period into the past, as if the month had gone by."""
    async with transaction(env.app.state.db.writer) as session:
        subscription = await session.scalar(
            select(Subscription).where(Subscription.user_id == uuid.UUID(viewer["user"]["id"]))
        )
        assert subscription is not None
        record = await session.get(LocalPaymentObject, subscription.provider_subscription_id)
        assert record is not None
        data = copy.deepcopy(record.data)
        item = data["items"]["data"][0]
        shift = item["current_period_end"] - (int(time.time()) - 60)
        item["current_period_start"] -= shift
        item["current_period_end"] -= shift
        record.data = data
        subscription.current_period_start -= timedelta(seconds=shift)
        subscription.current_period_end -= timedelta(seconds=shift)


async def status(client: httpx.AsyncClient, viewer: dict[str, Any]) -> dict[str, Any]:
    response = await client.get("/api/subscriptions/status", headers=viewer["headers"])
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def payments(client: httpx.AsyncClient, viewer: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.get("/api/user/payments", headers=viewer["headers"])
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_without_stripe_the_viewer_pays_on_our_own_checkout_page(
    client: httpx.AsyncClient, viewer: dict[str, Any], env: Backend
) -> None:
    checkout_id = await start_checkout(client, viewer, "BASIC")
    assert (await status(client, viewer))["status"] is None

    back_to = await pay(env, checkout_id, "4242 4242 4242 4242")

    assert back_to == "http://testserver/account/subscription?checkout=complete"
    now = await status(client, viewer)
    assert (now["plan"], now["status"], now["max_height"]) == ("BASIC", "ACTIVE", 720)
    assert now["next_bill_amount"] == 299
    [payment] = await payments(client, viewer)
    assert (payment["status"], payment["amount"]) == ("SUCCEEDED", 299)
    assert payment["description"] == "Kush Films Basic, monthly"
    user, _ = await stored(env, viewer)
    assert user.stripe_customer_id is not None
    assert user.stripe_customer_id.startswith("cus_local_")
    with pytest.raises(CheckoutNotOpen):
        await pay(env, checkout_id, PAYS)
    again = await client.post(
        "/api/subscriptions/create-checkout", json={"plan": "PREMIUM"}, headers=viewer["headers"]
    )
    assert again.status_code == 409
    portal = await client.post("/api/subscriptions/portal", headers=viewer["headers"])
    assert portal.json()["url"] == "http://testserver/account/subscription"


@pytest.mark.parametrize("card", [DECLINED, "4111 1111 1111 1111"])
async def test_a_declined_card_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, viewer: dict[str, Any], env: Backend, card: str
) -> None:
    checkout_id = await start_checkout(client, viewer, "PREMIUM")

    with pytest.raises(CardDeclined):
        await pay(env, checkout_id, card)

    assert (await status(client, viewer))["status"] is None
    assert await payments(client, viewer) == []
    await pay(env, checkout_id, PAYS)  # the checkout is still open for another card
    assert (await status(client, viewer))["plan"] == "PREMIUM"


async def test_each_month_renews_and_is_paid_with_the_good_card(
    client: httpx.AsyncClient, viewer: dict[str, Any], env: Backend
) -> None:
    await subscribe(client, env, viewer, "BASIC")
    assert await renew_due(env) == 0  # nothing is due yet

    ends = []
    for _ in range(2):
        await end_period(env, viewer)
        assert await renew_due(env) == 1
        ends.append(datetime.fromisoformat((await status(client, viewer))["current_period_end"]))

    for end in ends:
        assert end - datetime.now(end.tzinfo) > timedelta(days=27)
    assert await renew_due(env) == 0  # each month is charged once
    assert (await status(client, viewer))["status"] == "ACTIVE"
    assert [payment["status"] for payment in await payments(client, viewer)] == ["SUCCEEDED"] * 3


async def test_with_the_0341_card_a_renewal_fails_and_the_subscription_is_past_due(
    client: httpx.AsyncClient, viewer: dict[str, Any], env: Backend
) -> None:
    await subscribe(client, env, viewer, "BASIC", RENEWALS_FAIL)
    await end_period(env, viewer)

    assert await renew_due(env) == 1

    now = await status(client, viewer)
    assert (now["status"], now["plan"]) == ("PAST_DUE", "BASIC")  # within the grace period
    assert [(p["status"], p["amount"]) for p in await payments(client, viewer)] == [
        ("FAILED", 299),
        ("SUCCEEDED", 299),
    ]
    assert await renew_due(env) == 0  # the next attempt waits a few days


async def test_a_cancelled_subscription_ends_with_its_period(
    client: httpx.AsyncClient, viewer: dict[str, Any], env: Backend
) -> None:
    await subscribe(client, env, viewer, "BASIC")
    canceled = await client.post("/api/subscriptions/cancel", headers=viewer["headers"])
    assert canceled.status_code == 200, canceled.text
    assert (canceled.json()["plan"], canceled.json()["cancel_at_period_end"]) == ("BASIC", True)
    await end_period(env, viewer)

    assert await renew_due(env) == 1

    now = await status(client, viewer)
    assert (now["status"], now["plan"]) == ("CANCELED", "FREE")
    assert len(await payments(client, viewer)) == 1
    assert await renew_due(env) == 0


async def test_an_upgrade_is_charged_now_and_renews_at_the_new_price(
    client: httpx.AsyncClient, viewer: dict[str, Any], env: Backend
) -> None:
    await subscribe(client, env, viewer, "BASIC")

    upgraded = await client.post(
        "/api/subscriptions/change", json={"plan": "PREMIUM"}, headers=viewer["headers"]
    )
    await end_period(env, viewer)
    await renew_due(env)

    assert upgraded.status_code == 200, upgraded.text
    assert upgraded.json()["plan"] == "PREMIUM"
    amounts = [payment["amount"] for payment in await payments(client, viewer)]
    assert amounts[0] == 499
    assert 195 <= amounts[1] <= 200  # $2.00 for the rest of the month
    assert amounts[2] == 299
    assert (await status(client, viewer))["plan"] == "PREMIUM"
