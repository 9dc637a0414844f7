"""Subscribing through Stripe: plans, checkout, what a paid plan opens, and managing it."""

from datetime import datetime
from typing import Any

import httpx

from tests.billing.conftest import (
    PRICE_BASIC,
    PRICE_PREMIUM,
    SDK_WARNING,
    StripeSite,
    stored,
    stripe_settings,
)
from tests.billing.fake_stripe import CHECKOUT_PAGE, PORTAL_PAGE
from tests.catalog.conftest import add_movie
from tests.conftest import Backend, bearer, register
from tests.films import add_video

pytestmark = SDK_WARNING


async def test_the_plans_on_sale_are_free_basic_and_premium(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/plans")

    assert response.status_code == 200
    plans = response.json()
    assert [
        (plan["plan"], plan["price"], plan["max_height"], plan["streams"], plan["ads"])
        for plan in plans
    ] == [
        ("FREE", "$0.00", 480, 1, True),
        ("BASIC", "$2.99", 720, 2, False),
        ("PREMIUM", "$4.99", 2160, 4, False),
    ]
    assert [plan["price_cents"] for plan in plans] == [0, 299, 499]
    assert all(plan["interval"] == "month" and plan["currency"] == "usd" for plan in plans)
    assert "4K" in " ".join(plans[2]["features"])


async def test_checkout_sends_the_viewer_to_stripe_as_a_customer_made_once(
    stripe: StripeSite, viewer: dict[str, Any], env: Backend
) -> None:
    first = await stripe.http.post(
        "/api/subscriptions/create-checkout", json={"plan": "BASIC"}, headers=viewer["headers"]
    )
    again = await stripe.http.post(
        "/api/subscriptions/create-checkout", json={"plan": "PREMIUM"}, headers=viewer["headers"]
    )

    assert first.status_code == again.status_code == 200, (first.text, again.text)
    customers = stripe.fake.calls_to("POST", "/v1/customers")
    assert len(customers) == 1
    assert customers[0].params["email"] == viewer["user"]["email"]
    assert customers[0].params["metadata"] == {"user_id": viewer["user"]["id"]}
    user, _ = await stored(env, viewer)
    assert user.stripe_customer_id is not None
    assert user.stripe_customer_id.startswith("cus_")
    sessions = stripe.fake.calls_to("POST", "/v1/checkout/sessions")
    assert [call.params["line_items"][0]["price"] for call in sessions] == [
        PRICE_BASIC,
        PRICE_PREMIUM,
    ]
    for call, response in zip(sessions, (first, again), strict=True):
        assert call.params["mode"] == "subscription"
        assert call.params["customer"] == user.stripe_customer_id
        assert call.params["client_reference_id"] == viewer["user"]["id"]
        assert call.params["subscription_data"] == {"metadata": {"user_id": viewer["user"]["id"]}}
        assert call.params["success_url"] == (
            "http://testserver/account/subscription?checkout=complete"
        )
        assert call.params["cancel_url"] == "http://testserver/pricing?checkout=canceled"
        url = response.json()["checkout_url"]
        assert url.startswith(CHECKOUT_PAGE)
        assert (
            stripe.fake.get(url.removeprefix(CHECKOUT_PAGE))["client_reference_id"]
            == (viewer["user"]["id"])
        )


async def test_checkout_is_for_signed_in_viewers_of_a_paid_plan_without_one(
    stripe: StripeSite, viewer: dict[str, Any]
) -> None:
    anonymous = await stripe.http.post("/api/subscriptions/create-checkout", json={"plan": "BASIC"})
    free = await stripe.http.post(
        "/api/subscriptions/create-checkout", json={"plan": "FREE"}, headers=viewer["headers"]
    )
    unknown = await stripe.http.post(
        "/api/subscriptions/create-checkout", json={"plan": "GOLD"}, headers=viewer["headers"]
    )
    await stripe.subscribe(viewer, "BASIC")
    subscribed = await stripe.http.post(
        "/api/subscriptions/create-checkout", json={"plan": "PREMIUM"}, headers=viewer["headers"]
    )

    assert anonymous.status_code == 401
    assert free.status_code == 422
    assert free.json()["error"]["code"] == "not_a_paid_plan"
    assert unknown.status_code == 422
    assert subscribed.status_code == 409
    assert subscribed.json()["error"]["code"] == "already_subscribed"
    assert len(stripe.fake.calls_to("POST", "/v1/checkout/sessions")) == 1


async def test_a_paid_viewer_plays_films_of_their_plan_and_is_told_what_opens_the_rest(
    stripe: StripeSite,
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    viewer: dict[str, Any],
    env: Backend,
) -> None:
    basic = await add_movie(client, admin, title="Members Only", access_level="BASIC")
    premium = await add_movie(client, admin, title="The Big One", access_level="PREMIUM")
    for movie in (basic, premium):
        await add_video(env, movie)
    before = await stripe.http.get(f"/api/movies/{basic['id']}/playback", headers=viewer["headers"])

    await stripe.subscribe(viewer, "BASIC")
    plays = await stripe.http.get(f"/api/movies/{basic['id']}/playback", headers=viewer["headers"])
    refused = await stripe.http.get(
        f"/api/movies/{premium['id']}/playback", headers=viewer["headers"]
    )

    assert before.status_code == 403
    assert plays.status_code == 200, plays.text
    assert plays.json()["max_height"] == 720
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "subscription_required"
    assert refused.json()["error"]["required_plan"] == "PREMIUM"
    assert refused.json()["error"]["current_plan"] == "BASIC"


async def test_a_viewer_without_a_subscription_is_on_free(
    stripe: StripeSite, viewer: dict[str, Any]
) -> None:
    status = await stripe.status(viewer)

    assert status["plan"] == "FREE"
    assert status["status"] is None
    assert (status["max_height"], status["streams"]) == (480, 1)
    assert status["next_bill_at"] is None
    assert (await stripe.http.get("/api/subscriptions/status")).status_code == 401


async def test_the_status_says_what_is_paid_for_and_when_the_next_bill_comes(
    stripe: StripeSite, viewer: dict[str, Any]
) -> None:
    subscription_id = await stripe.subscribe(viewer, "PREMIUM")

    status = await stripe.status(viewer)

    period_end = stripe.fake.get(subscription_id)["items"]["data"][0]["current_period_end"]
    assert status["plan"] == status["subscribed_plan"] == "PREMIUM"
    assert status["status"] == "ACTIVE"
    assert status["cancel_at_period_end"] is False
    assert datetime.fromisoformat(status["next_bill_at"]).timestamp() == period_end
    assert status["next_bill_amount"] == 499
    assert (status["max_height"], status["streams"]) == (2160, 4)


async def test_a_cancelled_plan_lasts_until_the_paid_period_ends(
    stripe: StripeSite,
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    viewer: dict[str, Any],
    env: Backend,
) -> None:
    movie = await add_movie(client, admin, title="Members Only", access_level="BASIC")
    await add_video(env, movie)
    subscription_id = await stripe.subscribe(viewer, "BASIC")

    canceled = await stripe.http.post("/api/subscriptions/cancel", headers=viewer["headers"])

    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["cancel_at_period_end"] is True
    assert canceled.json()["plan"] == "BASIC"
    assert canceled.json()["next_bill_at"] is None
    assert stripe.fake.get(subscription_id)["cancel_at_period_end"] is True
    playing = await stripe.http.get(
        f"/api/movies/{movie['id']}/playback", headers=viewer["headers"]
    )
    assert playing.status_code == 200
    assert [kind for kind, _ in stripe.emails()].count("cancellation_confirmed") == 1

    await stripe.deliver_all(stripe.fake.delete(subscription_id))  # the period ran out

    status = await stripe.status(viewer)
    assert (status["plan"], status["status"]) == ("FREE", "CANCELED")
    ended = await stripe.http.get(f"/api/movies/{movie['id']}/playback", headers=viewer["headers"])
    assert ended.status_code == 403
    assert [kind for kind, _ in stripe.emails()].count("cancellation_confirmed") == 1


async def test_a_cancellation_can_be_taken_back_before_the_period_ends(
    stripe: StripeSite, viewer: dict[str, Any]
) -> None:
    subscription_id = await stripe.subscribe(viewer, "BASIC")
    not_canceled = await stripe.http.post("/api/subscriptions/resume", headers=viewer["headers"])
    await stripe.http.post("/api/subscriptions/cancel", headers=viewer["headers"])

    resumed = await stripe.http.post("/api/subscriptions/resume", headers=viewer["headers"])

    assert not_canceled.status_code == 409
    assert not_canceled.json()["error"]["code"] == "not_canceled"
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["cancel_at_period_end"] is False
    assert resumed.json()["next_bill_amount"] == 299
    assert stripe.fake.get(subscription_id)["cancel_at_period_end"] is False


async def test_an_upgrade_starts_now_and_is_charged_pro_rata(
    stripe: StripeSite,
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    viewer: dict[str, Any],
    env: Backend,
) -> None:
    movie = await add_movie(client, admin, title="The Big One", access_level="PREMIUM")
    await add_video(env, movie)
    subscription_id = await stripe.subscribe(viewer, "BASIC")
    sent_before = len(stripe.fake.events)

    upgraded = await stripe.http.post(
        "/api/subscriptions/change", json={"plan": "PREMIUM"}, headers=viewer["headers"]
    )

    assert upgraded.status_code == 200, upgraded.text
    assert (upgraded.json()["plan"], upgraded.json()["scheduled_plan"]) == ("PREMIUM", None)
    [update] = stripe.fake.calls_to("POST", f"/v1/subscriptions/{subscription_id}")
    assert update.params["proration_behavior"] == "always_invoice"
    assert update.params["items"][0]["price"] == PRICE_PREMIUM
    assert update.params["items"][0]["id"].startswith("si_")
    playing = await stripe.http.get(
        f"/api/movies/{movie['id']}/playback", headers=viewer["headers"]
    )
    assert playing.status_code == 200
    assert playing.json()["max_height"] == 720  # the sharpest rung the film has

    await stripe.deliver_all(stripe.fake.events[sent_before:])  # the prorated invoice

    payments = (await stripe.payments(viewer))["items"]
    assert [payment["status"] for payment in payments] == ["SUCCEEDED", "SUCCEEDED"]
    assert 195 <= payments[0]["amount"] <= 200  # $2.00 for a month, less a few seconds
    assert (await stripe.status(viewer))["plan"] == "PREMIUM"


async def test_a_downgrade_waits_for_the_paid_period_to_end(
    stripe: StripeSite, viewer: dict[str, Any]
) -> None:
    subscription_id = await stripe.subscribe(viewer, "PREMIUM")

    downgraded = await stripe.http.post(
        "/api/subscriptions/change", json={"plan": "BASIC"}, headers=viewer["headers"]
    )

    assert downgraded.status_code == 200, downgraded.text
    body = downgraded.json()
    assert (body["plan"], body["subscribed_plan"], body["scheduled_plan"]) == (
        "PREMIUM",
        "PREMIUM",
        "BASIC",
    )
    assert body["next_bill_amount"] == 299
    [update] = stripe.fake.calls_to("POST", f"/v1/subscriptions/{subscription_id}")
    assert update.params["proration_behavior"] == "none"
    assert update.params["items"][0]["price"] == PRICE_BASIC
    await stripe.deliver_all(stripe.fake.events[-1:])  # Stripe's word on the change
    assert (await stripe.status(viewer))["plan"] == "PREMIUM"

    await stripe.deliver_all(stripe.fake.renew(subscription_id))

    status = await stripe.status(viewer)
    assert (status["plan"], status["scheduled_plan"]) == ("BASIC", None)
    payments = (await stripe.payments(viewer))["items"]
    assert [payment["amount"] for payment in payments] == [299, 499]


async def test_a_plan_change_must_be_to_another_paid_plan_of_a_live_subscription(
    stripe: StripeSite, viewer: dict[str, Any]
) -> None:
    nothing = await stripe.http.post(
        "/api/subscriptions/change", json={"plan": "PREMIUM"}, headers=viewer["headers"]
    )
    await stripe.subscribe(viewer, "BASIC")
    same = await stripe.http.post(
        "/api/subscriptions/change", json={"plan": "BASIC"}, headers=viewer["headers"]
    )
    free = await stripe.http.post(
        "/api/subscriptions/change", json={"plan": "FREE"}, headers=viewer["headers"]
    )

    assert nothing.status_code == 404
    assert nothing.json()["error"]["code"] == "no_subscription"
    assert same.status_code == 409
    assert free.status_code == 422
    assert not [
        call
        for call in stripe.fake.calls
        if call.method == "POST" and call.path.startswith("/v1/subscriptions/")
    ]


async def test_payments_come_newest_first_in_pages(
    stripe: StripeSite, viewer: dict[str, Any]
) -> None:
    subscription_id = await stripe.subscribe(viewer, "BASIC")
    for _ in range(2):
        await stripe.deliver_all(stripe.fake.renew(subscription_id))

    first = await stripe.payments(viewer, page_size=2)
    second = await stripe.payments(viewer, page_size=2, page=2)
    someone_else = await register(stripe.http)

    assert (first["total"], first["page"], first["page_size"]) == (3, 1, 2)
    assert len(first["items"]) == 2
    assert len(second["items"]) == 1
    invoices = [payment["invoice_id"] for payment in first["items"] + second["items"]]
    paid = [
        event["data"]["object"]["id"]
        for event in stripe.fake.events
        if event["type"] == "invoice.paid"
    ]
    assert invoices == paid[::-1]
    assert {payment["description"] for payment in first["items"]} == {"Kush Films Basic, monthly"}
    others = await stripe.http.get(
        "/api/user/payments", headers=bearer(someone_else["access_token"])
    )
    assert others.json()["total"] == 0


async def test_the_billing_portal_link_returns_to_the_account_page(
    stripe: StripeSite, viewer: dict[str, Any]
) -> None:
    before = await stripe.http.post("/api/subscriptions/portal", headers=viewer["headers"])
    await stripe.subscribe(viewer, "BASIC")

    portal = await stripe.http.post("/api/subscriptions/portal", headers=viewer["headers"])

    assert before.status_code == 404
    assert portal.status_code == 200, portal.text
    assert portal.json()["url"].startswith(PORTAL_PAGE)
    [call] = stripe.fake.calls_to("POST", "/v1/billing_portal/sessions")
    assert call.params["return_url"] == "http://testserver/account/subscription"
    assert call.params["customer"].startswith("cus_")


async def test_when_stripe_is_down_the_viewer_is_told_and_nothing_changes(
    stripe: StripeSite,
    client_of_app: Any,
    closed_port: str,
    viewer: dict[str, Any],
    env: Backend,
) -> None:
    other = await register(stripe.http)
    subscription_id = await stripe.subscribe(viewer, "BASIC")
    down = await client_of_app(**stripe_settings(closed_port))

    checkout = await down.post(
        "/api/subscriptions/create-checkout",
        json={"plan": "BASIC"},
        headers=bearer(other["access_token"]),
    )
    cancel = await down.post("/api/subscriptions/cancel", headers=viewer["headers"])

    for response in (checkout, cancel):
        assert response.status_code == 502, response.text
        assert response.json()["error"]["code"] == "payment_provider_unavailable"
        assert "try again" in response.json()["error"]["message"]
    user, _ = await stored(env, {"user": other["user"]})
    assert user.stripe_customer_id is None
    status = await stripe.status(viewer)
    assert (status["status"], status["cancel_at_period_end"]) == ("ACTIVE", False)
    assert stripe.fake.get(subscription_id)["cancel_at_period_end"] is False


async def test_a_wrong_stripe_key_is_a_provider_failure_not_a_crash(
    stripe: StripeSite, client_of_app: Any, viewer: dict[str, Any], env: Backend
) -> None:
    settings = stripe_settings(stripe.app.state.settings.stripe_api_base)
    misconfigured = await client_of_app(**{**settings, "stripe_secret_key": "sk_test_wrong"})

    response = await misconfigured.post(
        "/api/subscriptions/create-checkout", json={"plan": "BASIC"}, headers=viewer["headers"]
    )

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "payment_provider_unavailable"
    assert stripe.fake.calls_to("POST", "/v1/customers") == []  # refused before anything
    user, _ = await stored(env, viewer)
    assert user.stripe_customer_id is None
