"""Changing plan in the browser: a confirmation page that says what is charged now and
why, and the next bill, before anything changes; and, before a first subscription, the
address to confirm, said plainly on the plans page."""

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from kushfilms.kit.clock import utcnow
from kushfilms.kit.dates import day
from tests.billing.test_plan_change import into_the_period
from tests.conftest import Backend, bearer, register
from tests.web.test_auth_pages import CSRF, form_token, sign_in
from tests.web.test_billing_pages import (
    confirm_form,
    data_testid,
    plan_card,
    post_form,
    signed_in_viewer,
    subscribe,
)

PAYMENT_ROW = re.compile(r'<tr data-testid="payment" data-status="(\w+)">(.*?)</tr>', re.S)


def text_of(markup: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


async def payments(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    page = (await client.get("/account/subscription")).text
    return [(status, text_of(row)) for status, row in PAYMENT_ROW.findall(page)]


async def test_an_upgrade_is_confirmed_with_its_amount_before_anything_is_charged(
    client: httpx.AsyncClient, env: Backend
) -> None:
    viewer = await signed_in_viewer(client)
    await subscribe(client, "BASIC")
    await into_the_period(env, viewer)
    pricing = (await client.get("/pricing")).text
    premium = plan_card(pricing, "PREMIUM")
    assert 'href="/pricing/change?plan=PREMIUM"' in premium
    assert 'action="/pricing/change"' not in premium  # a link to the confirmation, no charge

    page = await client.get("/pricing/change?plan=PREMIUM")

    assert page.status_code == 200
    text = page.text
    fields = confirm_form(text)
    moment = datetime.fromtimestamp(int(fields["proration_date"]), tz=UTC)
    assert abs(moment - utcnow()) < timedelta(minutes=5)
    end = utcnow().date() + timedelta(days=14)  # of a 30-day period 16 days old
    days = (end - moment.date()).days
    amount = data_testid(text, "amount-now")
    assert re.fullmatch(r"\$0\.9\d", amount), amount  # $2.00 a month, for 14 days of 30
    assert data_testid(text, "charge-now") == (
        f"You pay {amount} now: the difference between Basic and Premium for the {days}"
        f" days left of this period, {day(moment)} to {day(end)}."
    )
    assert data_testid(text, "next-bill") == f"{day(end)}: $4.99 for Premium, monthly"
    assert data_testid(text, "confirm") == f"Pay {amount} and switch to Premium"
    assert (fields["plan"], "csrf_token" in fields) == ("PREMIUM", True)
    assert len(await payments(client)) == 1  # looking charged nothing
    assert data_testid((await client.get("/account/subscription")).text, "plan-in-use") == "Basic"

    confirmed = await client.post("/pricing/change", data=fields)

    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == "/account/subscription?done=upgraded"
    page = (await client.get("/account/subscription")).text
    assert data_testid(page, "plan-in-use") == "Premium"
    (status, row), _ = await payments(client)
    assert status == "SUCCEEDED"
    assert f"Upgrade to Premium, prorated for {day(moment)} to {day(end)}" in row
    assert amount in row


async def test_an_upgrade_posted_without_its_preview_is_sent_to_the_confirmation(
    client: httpx.AsyncClient,
) -> None:
    await signed_in_viewer(client)
    await subscribe(client, "BASIC")
    token = await form_token(client, "/pricing")

    posted = await post_form(
        client, "/pricing/change", token, plan="PREMIUM", next="/watch/some-film"
    )

    assert posted.status_code == 303
    target = urlsplit(posted.headers["location"])
    assert target.path == "/pricing/change"
    assert parse_qs(target.query) == {"plan": ["PREMIUM"], "next": ["/watch/some-film"]}
    assert len(await payments(client)) == 1
    page = (await client.get(posted.headers["location"])).text
    assert confirm_form(page)["next"] == "/watch/some-film"


async def test_a_confirmation_grown_old_is_shown_again_afresh_and_not_charged(
    client: httpx.AsyncClient,
) -> None:
    await signed_in_viewer(client)
    await subscribe(client, "BASIC")
    fields = confirm_form((await client.get("/pricing/change?plan=PREMIUM")).text)
    hours_ago = int((utcnow() - timedelta(hours=2)).timestamp())

    stale = await client.post("/pricing/change", data={**fields, "proration_date": str(hours_ago)})

    assert stale.status_code == 409
    assert data_testid(stale.text, "notice").startswith("The amount changed since you looked")
    assert int(confirm_form(stale.text)["proration_date"]) > hours_ago  # worked out again
    assert len(await payments(client)) == 1


async def test_a_downgrade_is_confirmed_saying_nothing_is_charged_and_when_it_starts(
    client: httpx.AsyncClient,
) -> None:
    viewer = await signed_in_viewer(client)
    await subscribe(client, "PREMIUM")
    headers = bearer(viewer["access_token"])
    premium_until = (await client.get("/api/subscriptions/status", headers=headers)).json()
    assert "Switch to Basic" in plan_card((await client.get("/pricing")).text, "BASIC")

    page = (await client.get("/pricing/change?plan=BASIC")).text
    text = text_of(page)

    end = day(datetime.fromisoformat(premium_until["current_period_end"]))
    assert 'data-change="downgrade"' in page
    assert data_testid(page, "charge-now") == "Nothing is charged now, and nothing is refunded."
    assert (
        f"You keep Premium until {end}, the end of the period you paid for; Basic starts then."
        in text
    )
    assert data_testid(page, "amount-now") == "$0.00"
    assert data_testid(page, "next-bill") == f"{end}: $2.99 for Basic, monthly"
    assert data_testid(page, "confirm") == f"Switch to Basic on {end}"
    assert data_testid(page, "back") == "Keep Premium"

    confirmed = await client.post("/pricing/change", data=confirm_form(page))

    assert confirmed.headers["location"] == "/account/subscription?done=downgraded"
    summary = (await client.get("/account/subscription")).text
    assert f"Downgrade to Basic on {end}" in summary
    assert len(await payments(client)) == 1


async def test_there_is_nothing_to_confirm_without_a_subscription_or_a_change(
    client: httpx.AsyncClient,
) -> None:
    anonymous = await client.get("/pricing/change?plan=PREMIUM")
    await signed_in_viewer(client)
    unsubscribed = await client.get("/pricing/change?plan=PREMIUM")
    await subscribe(client, "BASIC")
    same = await client.get("/pricing/change?plan=BASIC")
    free = await client.get("/pricing/change?plan=FREE")

    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=")
    assert (unsubscribed.status_code, unsubscribed.headers["location"]) == (303, "/pricing")
    assert (same.status_code, same.headers["location"]) == (303, "/pricing")
    assert free.status_code == 422


async def signed_in_unconfirmed(client_of_app: Any) -> tuple[httpx.AsyncClient, str]:
    """A viewer of a site that wants confirmed addresses, who has not confirmed theirs."""
    site = await client_of_app(require_verified_email_to_subscribe=True)
    body = await register(site)
    assert (await sign_in(site, body["user"]["email"])).status_code == 303
    return site, str(body["user"]["email"])


async def test_an_unconfirmed_viewer_is_told_on_the_plans_to_confirm_their_address(
    client_of_app: Any,
) -> None:
    site, email = await signed_in_unconfirmed(client_of_app)

    pricing = (await site.get("/pricing")).text

    notice = re.search(r'<section[^>]*data-testid="confirm-email".*?</section>', pricing, re.S)
    assert notice
    assert "Confirm your email address to subscribe" in notice.group(0)
    assert email in notice.group(0)
    assert 'action="/account/verify-email"' in notice.group(0)
    assert '<input type="hidden" name="next" value="/pricing">' in notice.group(0)
    assert "Send the link again" in notice.group(0)

    token = CSRF.search(pricing)
    assert token
    refused = await post_form(site, "/pricing/checkout", token.group(1), plan="BASIC")

    assert refused.status_code == 403
    assert 'data-testid="confirm-email" role="alert"' in refused.text
    assert "Nothing was charged: a plan can be chosen once your address is confirmed." in (
        text_of(refused.text)
    )
    assert 'data-testid="confirm-refused"' not in pricing
    assert 'data-testid="plans"' in refused.text  # the plans again, not an error page

    resent = await post_form(site, "/account/verify-email", token.group(1), next="/pricing")

    assert resent.status_code == 303
    assert resent.headers["location"] == "/pricing?verification=sent"
    again = (await site.get(resent.headers["location"])).text
    assert f"A new link is on its way to {email}" in text_of(again)


async def test_confirmed_viewers_and_visitors_see_no_such_notice(
    client: httpx.AsyncClient, client_of_app: Any
) -> None:
    await signed_in_viewer(client)  # the tests' site asks for no confirmed address
    strict = await client_of_app(require_verified_email_to_subscribe=True)

    assert 'data-testid="confirm-email"' not in (await client.get("/pricing")).text
    assert 'data-testid="confirm-email"' not in (await strict.get("/pricing")).text
