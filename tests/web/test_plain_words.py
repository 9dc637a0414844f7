"""The small things a first-time viewer reads: the next bill, dates, devices, their plan,
the way back to the film that asked for an upgrade, and what comes after a film ends."""

import html
import re
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import update

from kushfilms.db import transaction
from kushfilms.models import Payment, Subscription, User
from tests.catalog.conftest import add_category
from tests.conftest import Backend
from tests.films import add_video, film
from tests.web.test_auth_pages import CSRF, form_token, sign_in
from tests.web.test_billing_pages import (
    card,
    confirm_form,
    data_testid,
    post_form,
    signed_in_viewer,
    start_checkout,
    subscribe,
)
from tests.web.test_viewer_pages import tv_watching

# One way of writing a date on every page: "3 Dec 2026" (no leading zero, no weekday).
A_DAY = re.compile(r"[1-9]\d? (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4}")
PADDED_DAY = re.compile(r"\b0\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4}")
THIRD = datetime(2031, 1, 3, 12, tzinfo=UTC)


def section(page: str, testid: str) -> str:
    found = re.search(rf'<(\w+)[^>]*data-testid="{testid}".*?</\1>', page, re.S)
    assert found, f"no {testid}"
    return found.group(0)


def text_of(markup: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


async def on_the_third(env: Backend, user_id: str) -> None:
    """The viewer's payment, period end and sign-up all fall on 3 Jan 2031."""
    async with transaction(env.app.state.db.writer) as session:
        owner = uuid.UUID(user_id)
        await session.execute(
            update(Payment).where(Payment.user_id == owner).values(paid_at=THIRD, created_at=THIRD)
        )
        await session.execute(
            update(Subscription)
            .where(Subscription.user_id == owner)
            .values(current_period_end=THIRD)
        )
        await session.execute(update(User).where(User.id == owner).values(created_at=THIRD))


# The next bill, and dates


async def test_after_canceling_the_next_bill_says_there_is_none_and_when_the_plan_ends(
    client: httpx.AsyncClient,
) -> None:
    await signed_in_viewer(client)
    await subscribe(client, "BASIC")
    token = await form_token(client, "/account/subscription/cancel")
    await post_form(client, "/account/subscription/cancel", token)

    page = (await client.get("/account/subscription")).text
    next_bill = data_testid(page, "next-bill")

    assert next_bill != "None"
    assert next_bill.startswith("No next bill: Basic ends on "), next_bill
    assert A_DAY.fullmatch(next_bill.removeprefix("No next bill: Basic ends on "))


async def test_a_free_viewer_is_told_there_is_no_bill_to_come(client: httpx.AsyncClient) -> None:
    await signed_in_viewer(client)

    page = (await client.get("/account/subscription")).text

    assert data_testid(page, "next-bill") == "No next bill: Free costs nothing"


async def test_dates_are_written_one_way_on_every_page(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, client_from: Any
) -> None:
    viewer = await signed_in_viewer(client)
    await subscribe(client, "BASIC")
    await on_the_third(env, viewer["user"]["id"])

    subscription = (await client.get("/account/subscription")).text
    cancel = (await client.get("/account/subscription/cancel")).text
    pricing = (await client.get("/pricing")).text
    operator = client_from("198.51.100.30")
    await sign_in(operator, admin["user"]["email"])
    await on_the_third(env, admin["user"]["id"])
    users = (await operator.get("/admin/users")).text
    revenue = (await operator.get("/admin/revenue?start=2031-01-02&end=2031-01-04")).text

    assert "Active: renews on 3 Jan 2031 for $2.99." in subscription
    assert data_testid(subscription, "next-bill") == "3 Jan 2031, $2.99"
    assert '<td data-label="Date">3 Jan 2031</td>' in subscription
    assert "<strong>3 Jan 2031</strong>" in cancel
    assert '<td data-label="Joined">3 Jan 2031</td>' in users
    assert data_testid(revenue, "revenue-span") == "2 Jan 2031 to 4 Jan 2031 (UTC)"
    assert '<th scope="row">3 Jan 2031</th>' in revenue
    for page in (subscription, cancel, pricing, users, revenue):
        assert not PADDED_DAY.search(page), PADDED_DAY.search(page)


# Devices


async def test_one_device_in_the_way_is_spoken_of_in_the_singular(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, client_from: Any
) -> None:
    watching = await tv_watching(client, admin, env, client_from)

    page = (await client.get(f"/watch/{watching.movie['slug']}")).text

    assert watching.playing.status_code == 200
    assert "You are watching on 1 device, the most your plan allows" in page
    assert "one of them" not in page
    assert "Stop watching on that device to watch “Night Train” here." in page


# The plan on the account page


async def test_the_account_page_names_the_current_plan_with_a_way_to_manage_it(
    client: httpx.AsyncClient,
) -> None:
    await signed_in_viewer(client)

    free = section((await client.get("/account")).text, "account-plan")
    await subscribe(client, "PREMIUM")
    premium = section((await client.get("/account")).text, "account-plan")

    assert "Your plan: Free" in text_of(free)
    assert 'href="/account/subscription"' in free
    assert 'href="/pricing"' in free
    assert "Your plan: Premium" in text_of(premium)
    assert re.search(r"renews on " + A_DAY.pattern, text_of(premium))
    assert 'href="/account/subscription"' in premium


# Back to the film after paying


async def test_after_paying_a_link_leads_back_to_the_film_that_asked_for_the_upgrade(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    movie = await film(client, admin, env, "Members <Night>", access_level="BASIC")
    await add_video(env, movie)
    await signed_in_viewer(client)
    back = f"/watch/{movie['slug']}"

    watch = (await client.get(back)).text
    upgrade = re.search(r'href="([^"]+)"[^>]*data-testid="upgrade-link"', watch)
    assert upgrade
    pricing_url = html.unescape(upgrade.group(1))
    assert urlsplit(pricing_url).path == "/pricing"
    pricing = (await client.get(pricing_url)).text
    assert f'<input type="hidden" name="next" value="{back}">' in pricing
    token = CSRF.search(pricing)
    assert token
    chosen = await post_form(client, "/pricing/checkout", token.group(1), plan="BASIC", next=back)
    checkout = urlsplit(chosen.headers["location"]).path
    paid = await post_form(client, checkout, await form_token(client, checkout), **card())
    landed = (await client.get(paid.headers["location"])).text
    later = (await client.get("/account/subscription")).text

    assert data_testid(landed, "checkout-complete").startswith("Payment received.")
    link = section(landed, "back-to-film")
    assert f'href="{back}"' in link
    assert "Watch “Members &lt;Night&gt;” now" in link
    assert 'data-testid="back-to-film"' not in later  # said once, after paying


async def test_a_subscriber_who_upgrades_for_a_film_is_led_back_to_it(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    movie = await film(client, admin, env, "Grand Finale", access_level="PREMIUM")
    await add_video(env, movie)
    await signed_in_viewer(client)
    await subscribe(client, "BASIC")
    back = f"/watch/{movie['slug']}"

    pricing = (await client.get(f"/pricing?next={back}")).text
    switch = re.search(r'href="([^"]+)" data-testid="plan-action">Switch to Premium', pricing)
    assert switch
    confirmation = (await client.get(html.unescape(switch.group(1)))).text
    changed = await client.post("/pricing/change", data=confirm_form(confirmation))
    landed = (await client.get(changed.headers["location"])).text

    assert changed.status_code == 303
    assert urlsplit(changed.headers["location"]).path == "/account/subscription"
    assert "Upgraded" in landed
    assert f'href="{back}"' in section(landed, "back-to-film")


async def test_a_return_path_that_is_not_a_film_here_is_ignored(
    client: httpx.AsyncClient,
) -> None:
    await signed_in_viewer(client)

    for target in ("//evil.example/watch/x", "https://evil.example/", "/account", "/watch/"):
        pricing = (await client.get("/pricing", params={"next": target})).text
        assert 'name="next"' not in pricing, target
    token = await form_token(client, "/pricing")
    chosen = await post_form(
        client, "/pricing/checkout", token, plan="BASIC", next="//evil.example/watch/x"
    )
    path = urlsplit(chosen.headers["location"]).path
    paid = await post_form(client, path, await form_token(client, path), **card())
    landed = (await client.get(paid.headers["location"])).text

    assert "evil.example" not in landed
    assert 'data-testid="back-to-film"' not in landed


# The end of a film


async def test_the_end_of_a_film_offers_watch_again_and_more_to_watch(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    drama = await add_category(client, admin, "Drama")
    others = [
        await film(client, admin, env, f"Drama {number}", category_id=drama["id"])
        for number in range(1, 6)
    ]
    watching = await film(client, admin, env, "This Drama", category_id=drama["id"])
    await add_video(env, watching)

    page = (await client.get(f"/watch/{watching['slug']}")).text
    end = section(page, "player-end")

    assert " hidden" in end.split(">", 1)[0]  # until the film ends
    again = re.search(r'<button[^>]*data-testid="player-again".*?</button>', end, re.S)
    assert again
    assert text_of(again.group(0)) == "Watch again"
    offered = re.findall(r'href="/watch/([^"]+)"', end)
    assert offered == [other["slug"] for other in reversed(others)][:4]
    assert watching["slug"] not in offered
    assert 'href="/movies"' in end


async def test_starting_a_checkout_still_works_without_a_film_to_go_back_to(
    client: httpx.AsyncClient,
) -> None:
    await signed_in_viewer(client)
    path = await start_checkout(client, "BASIC")
    paid = await post_form(client, path, await form_token(client, path), **card())
    landed = (await client.get(paid.headers["location"])).text
    assert 'data-testid="back-to-film"' not in landed
