"""Renewal reminders: three days ahead, one per period, skipped when nothing will renew."""

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from kushfilms.billing.tasks import remind_renewals
from kushfilms.db import transaction
from kushfilms.jobs import all_jobs
from kushfilms.models import Plan, Subscription, SubscriptionStatus
from kushfilms.worker.context import open_context
from tests.notify.conftest import DAY, Inbox, Mail, Mailroom


async def new_period(mail: Mail, subscription: Subscription, *, ends: datetime) -> None:
    async with transaction(mail.db.writer) as session:
        current = await session.get(Subscription, subscription.id)
        assert current is not None
        current.current_period_start = current.current_period_end
        current.current_period_end = ends


def reminders(mail: Mail) -> list[tuple[str, dict[str, Any]]]:
    queued = mail.queued()
    assert all(kind == "renewal_reminder" for kind, *_ in queued)
    return [(user_id, context) for _, user_id, context, _ in queued]


async def test_one_reminder_per_period_however_often_the_step_runs(mailroom: Mailroom) -> None:
    mail = await mailroom()
    subscription = await mail.subscribe(ends_in=2 * DAY)

    assert await remind_renewals(mail.context) == 1
    assert await remind_renewals(mail.context) == 0

    [(user_id, context)] = reminders(mail)
    assert user_id == str(subscription.user_id)
    assert context["plan"] == "Premium"
    assert context["amount"] == "$4.99"
    assert datetime.fromisoformat(context["renewal_date"]) == subscription.current_period_end

    # The renewal went through: the next period gets its own reminder, in its time.
    next_end = subscription.current_period_end + 30 * DAY
    await new_period(mail, subscription, ends=next_end)
    assert await remind_renewals(mail.context) == 0  # 32 days ahead
    assert await remind_renewals(mail.context, now=next_end - 2 * DAY) == 1
    assert await remind_renewals(mail.context, now=next_end - DAY) == 0
    assert len(mail.queued()) == 2


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"status": SubscriptionStatus.CANCELED}, id="canceled"),
        pytest.param({"status": SubscriptionStatus.PAST_DUE}, id="past-due"),
        pytest.param({"status": SubscriptionStatus.INCOMPLETE}, id="incomplete"),
        pytest.param({"cancel_at_period_end": True}, id="ending"),
        pytest.param({"ends_in": 4 * DAY}, id="not-yet"),
        pytest.param({"ends_in": -DAY}, id="period-over"),
        pytest.param({"scheduled_plan": Plan.FREE}, id="moving-to-free"),
    ],
)
async def test_nothing_to_remind(mailroom: Mailroom, fields: dict[str, Any]) -> None:
    mail = await mailroom()
    await mail.subscribe(**{"ends_in": 2 * DAY, **fields})

    await remind_renewals(mail.context)

    assert mail.queued() == []


async def test_a_scheduled_downgrade_is_reminded_at_its_new_price(mailroom: Mailroom) -> None:
    mail = await mailroom()
    await mail.subscribe(ends_in=3 * DAY - timedelta(minutes=1), scheduled_plan=Plan.BASIC)

    await remind_renewals(mail.context)

    [(_, context)] = reminders(mail)
    assert (context["plan"], context["amount"]) == ("Basic", "$2.99")


async def test_workers_running_the_step_at_once_remind_once(mailroom: Mailroom) -> None:
    mail = await mailroom()
    for _ in range(3):
        await mail.subscribe(ends_in=DAY)
    other = open_context(mail.settings, all_jobs())  # another worker on the same database

    try:
        counts = await asyncio.gather(
            *(remind_renewals(context) for context in (mail.context, other) * 3)
        )
    finally:
        await other.aclose()

    assert sum(counts) == 3
    assert len({user_id for user_id, _ in reminders(mail)}) == 3


async def test_the_reminder_reaches_the_subscriber(mailroom: Mailroom, inbox: Inbox) -> None:
    mail = await mailroom()
    subscription = await mail.subscribe(ends_in=DAY, plan=Plan.BASIC)

    await remind_renewals(mail.context)
    await mail.run()

    [message] = inbox.messages
    day = subscription.current_period_end
    assert message["Subject"] == f"Your Basic plan renews on {day.day} {day:%B %Y}"
    assert "for $2.99" in message.get_body(("plain",)).get_content()
