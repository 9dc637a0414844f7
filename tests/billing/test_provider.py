"""What differs between the payment providers, as the service asks it: which customers
each can bill, and how a change made through each reaches the viewer's subscription."""

from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from kushfilms.billing import events
from kushfilms.billing.stripe_objects import ProviderSubscription
from kushfilms.config import Settings
from kushfilms.db import transaction
from kushfilms.models import BillingEvent, LocalPaymentObject, Subscription
from tests.billing.conftest import SDK_WARNING, StripeSite, stored
from tests.billing.test_local_checkout import start_checkout, subscribe
from tests.conftest import Backend

pytestmark = SDK_WARNING


async def event_types(env: Backend) -> Counter[str]:
    async with transaction(env.app.state.db.writer) as session:
        return Counter(await session.scalars(select(BillingEvent.type)))


@pytest.fixture
def applied(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The provider subscriptions applied to viewers' rows, once per application,
    by any path (an event, or the service itself)."""
    seen: list[str] = []
    apply = events.sync_subscription

    def counted(
        session: Session, remote: ProviderSubscription, settings: Settings
    ) -> Subscription | None:
        seen.append(remote.id)
        return apply(session, remote, settings)

    monkeypatch.setattr(events, "sync_subscription", counted)
    return seen


async def cancel(client: httpx.AsyncClient, viewer: dict[str, Any]) -> httpx.Response:
    return await client.post("/api/subscriptions/cancel", headers=viewer["headers"])


async def resume(client: httpx.AsyncClient, viewer: dict[str, Any]) -> httpx.Response:
    await cancel(client, viewer)
    return await client.post("/api/subscriptions/resume", headers=viewer["headers"])


async def downgrade(client: httpx.AsyncClient, viewer: dict[str, Any]) -> httpx.Response:
    return await client.post(
        "/api/subscriptions/change", json={"plan": "BASIC"}, headers=viewer["headers"]
    )


async def upgrade(client: httpx.AsyncClient, viewer: dict[str, Any]) -> httpx.Response:
    return await client.post(
        "/api/subscriptions/change", json={"plan": "PREMIUM"}, headers=viewer["headers"]
    )


@pytest.mark.parametrize(
    ("plan", "change", "told"),
    [
        ("PREMIUM", cancel, {"customer.subscription.updated": 1}),
        ("PREMIUM", resume, {"customer.subscription.updated": 2}),
        ("PREMIUM", downgrade, {"customer.subscription.updated": 1}),
        # The rest of the month charged: the invoice's event applies the subscription too.
        ("BASIC", upgrade, {"invoice.paid": 1, "customer.subscription.updated": 1}),
    ],
)
async def test_a_change_through_the_local_checkout_is_applied_once_by_its_event(
    client: httpx.AsyncClient,
    viewer: dict[str, Any],
    env: Backend,
    applied: list[str],
    plan: str,
    change: Any,
    told: dict[str, int],
) -> None:
    """Each event the local checkout tells applies the subscription once, and the
    service that asked for the change applies nothing again."""
    await subscribe(client, env, viewer, plan)
    before = await event_types(env)
    applied.clear()

    response = await change(client, viewer)

    assert response.status_code == 200, response.text
    assert response.json()["plan"] == "PREMIUM"
    new = await event_types(env) - before
    assert new == Counter(told)
    _, subscription = await stored(env, viewer)
    assert subscription is not None
    assert applied == [subscription.provider_subscription_id] * new.total()


async def test_the_local_checkout_keeps_a_customer_made_at_stripe(
    stripe: StripeSite, client: httpx.AsyncClient, viewer: dict[str, Any], env: Backend
) -> None:
    """A site that sold through Stripe and then runs without its keys: the viewer keeps
    the customer they have, and pays on the local checkout under it."""
    made = await stripe.http.post(
        "/api/subscriptions/create-checkout", json={"plan": "BASIC"}, headers=viewer["headers"]
    )
    assert made.status_code == 200, made.text
    at_stripe, _ = await stored(env, viewer)

    checkout_id = await start_checkout(client, viewer, "PREMIUM")

    user, _ = await stored(env, viewer)
    assert user.stripe_customer_id == at_stripe.stripe_customer_id
    assert not str(user.stripe_customer_id).startswith("cus_local_")
    async with transaction(env.app.state.db.writer) as session:
        checkout = await session.get(LocalPaymentObject, checkout_id)
        assert checkout is not None
        assert checkout.data["customer"] == user.stripe_customer_id


async def test_stripe_makes_a_real_customer_for_one_of_the_local_checkout(
    stripe: StripeSite, client: httpx.AsyncClient, viewer: dict[str, Any], env: Backend
) -> None:
    """A site that ran on the local checkout and then gets Stripe's keys: a customer
    the local checkout made means nothing to Stripe, so the viewer gets a real one."""
    await start_checkout(client, viewer, "BASIC")
    local, _ = await stored(env, viewer)
    assert str(local.stripe_customer_id).startswith("cus_local_")

    made = await stripe.http.post(
        "/api/subscriptions/create-checkout", json={"plan": "BASIC"}, headers=viewer["headers"]
    )

    assert made.status_code == 200, made.text
    assert len(stripe.fake.calls_to("POST", "/v1/customers")) == 1
    user, _ = await stored(env, viewer)
    assert user.stripe_customer_id is not None
    assert user.stripe_customer_id.startswith("cus_")
    assert not user.stripe_customer_id.startswith("cus_local_")
    [session] = stripe.fake.calls_to("POST", "/v1/checkout/sessions")
    assert session.params["customer"] == user.stripe_customer_id
