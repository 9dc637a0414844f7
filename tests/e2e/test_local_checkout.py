"""Paying for a plan in the browser with the built-in test checkout, then the operator's
revenue page drawing it."""

import re
from typing import Any

from playwright.async_api import expect

from tests.e2e.journey import PHONE, OpenBrowser, new_email, register, sign_in, site_link


async def test_a_viewer_subscribes_with_a_test_card_cancels_and_resumes(
    open_browser: OpenBrowser,
) -> None:
    viewer = await open_browser("subscriber", PHONE)
    page = viewer.page
    await register(viewer, name="Ada Subscriber", email=new_email())

    await viewer.press(site_link(page, "Plans"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Plans")
    await expect(page.get_by_test_id("plan")).to_have_count(3)
    await expect(page.locator('[data-plan="FREE"]')).to_have_attribute("data-current", "true")
    await viewer.press(page.get_by_role("button", name="Choose Basic"))

    await expect(page).to_have_url(re.compile(r"/billing/checkout/cs_local_\w+$"))
    checkout = page.url
    await expect(page.get_by_test_id("checkout-plan")).to_have_text("Kush Films Basic")
    await expect(page.get_by_test_id("test-mode")).to_contain_text("4242 4242 4242 4242")
    await page.get_by_label("Card number").fill("4000 0000 0000 0002")
    await page.get_by_label("Expiry (MM/YY)").fill("12/40")
    await page.get_by_label("CVC").fill("123")
    await viewer.press(page.get_by_test_id("pay"))
    await expect(page.get_by_role("alert")).to_have_text("The card was declined. Try another card.")
    await expect(page.get_by_label("Card number")).to_have_value("4000 0000 0000 0002")
    await expect(page.get_by_label("Expiry (MM/YY)")).to_have_value("12/40")
    await expect(page.get_by_label("CVC")).to_have_value("")
    await expect(page.get_by_label("Name on the card")).to_have_value("Ada Subscriber")

    await page.get_by_label("Card number").fill("4242 4242 4242 4242")
    await page.get_by_label("CVC").fill("123")
    await viewer.press(page.get_by_test_id("pay"))
    await expect(page).to_have_url(re.compile(r"/account/subscription\?checkout=complete$"))
    await expect(page.get_by_test_id("checkout-complete")).to_have_text(
        "Payment received. Welcome to Basic!"
    )
    await expect(page.get_by_test_id("subscription-status")).to_have_text("Active")
    await expect(page.get_by_test_id("payment")).to_have_count(1)
    await expect(page.get_by_test_id("payment")).to_contain_text("Succeeded")

    await viewer.press(page.get_by_test_id("cancel"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Cancel Basic?")
    await viewer.press(page.get_by_test_id("confirm"))
    await expect(page.get_by_test_id("subscription-status")).to_have_text("Canceled")
    await viewer.press(page.get_by_test_id("resume"))
    await expect(page.get_by_test_id("subscription-status")).to_have_text("Active")

    # The only thing that went wrong on the way was the declined card's answer
    # (the response, and the console's note of it).
    problems = viewer.recording.problems
    assert any("422 POST" in line for line in problems)
    assert all(checkout in line and "422" in line for line in problems), problems


async def test_the_operator_sees_the_subscription_in_the_revenue_charts(
    open_browser: OpenBrowser, admin: dict[str, Any]
) -> None:
    viewer = await open_browser("subscriber")
    page = viewer.page
    await register(viewer, name="Basil Subscriber", email=new_email())
    await page.goto("/pricing")
    await viewer.press(page.get_by_role("button", name="Choose Premium"))
    await page.get_by_label("Card number").fill("4242424242424242")
    await page.get_by_label("Expiry (MM/YY)").fill("01/39")
    await page.get_by_label("CVC").fill("4321")
    await viewer.press(page.get_by_test_id("pay"))
    await expect(page.get_by_test_id("subscription-status")).to_have_text("Active")

    operator = await open_browser("operator")
    console = operator.page
    await console.goto("/admin/revenue")
    await sign_in(operator, email=admin["user"]["email"], lands_on="/admin/revenue")
    await expect(console.get_by_test_id("figure-mrr")).to_contain_text("$4.99")
    await expect(console.get_by_test_id("figure-active")).to_contain_text("1")
    drawn = await console.wait_for_function(
        """() => {
          const charts = ["chart-movement", "chart-revenue", "chart-plans"].map(
            (id) => window.Chart && Chart.getChart(document.getElementById(id)));
          if (charts.some((chart) => !chart)) return null;
          const total = (chart, i) => chart.data.datasets[i].data.reduce((a, b) => a + b, 0);
          return [total(charts[0], 0), total(charts[1], 0), charts[2].data.datasets[0].data];
        }"""
    )
    new, revenue, by_plan = await drawn.json_value()
    assert (new, revenue, by_plan) == (1, 4.99, [0, 1])
    viewer.recording.assert_clean()
    operator.recording.assert_clean()
