"""queue_email through the job: sent after commit, never after a rollback, retried on failure."""

import logging
from datetime import date

import pytest
from sqlalchemy import select

from kushfilms.accounts import service as accounts
from kushfilms.db import transaction
from kushfilms.models import OutboxJob
from kushfilms.notify import EmailKind, queue_email
from kushfilms.notify.service import SEND_EMAIL
from tests.notify.conftest import PUBLIC_URL, Inbox, Mailroom, free_port, parse, start_smtp


async def test_a_committed_email_is_sent_by_the_job(mailroom: Mailroom, inbox: Inbox) -> None:
    mail = await mailroom()
    user = await mail.add_user("<b>Eve</b>")

    async with transaction(mail.db.writer) as session:
        await queue_email(
            session,
            "subscription_started",
            user,
            plan="Premium",
            amount="$4.99",
            next_bill_date=date(2026, 12, 25),
        )
        assert mail.queued() == []  # not before the commit

    [(kind, user_id, context, message_id)] = mail.queued()
    assert (kind, user_id) == ("subscription_started", str(user.id))
    assert context == {"plan": "Premium", "amount": "$4.99", "next_bill_date": "2026-12-25"}
    assert await mail.run() == 1
    [message] = inbox.messages
    assert message["Message-ID"] == message_id
    assert message["To"].addresses[0].addr_spec == user.email
    assert message["Subject"] == "Your Premium subscription has started"
    html = message.get_body(("html",)).get_content()
    assert "Thanks, &lt;b&gt;Eve&lt;/b&gt;." in html
    assert f'href="{PUBLIC_URL}/account/subscription"' in html
    assert "25 December 2026" in message.get_body(("plain",)).get_content()
    assert mail.retrying() == []
    assert await mail.run() == 0  # sent once, and only once


async def test_the_email_goes_to_the_name_and_address_of_send_time(
    mailroom: Mailroom, inbox: Inbox
) -> None:
    mail = await mailroom()
    user = await mail.add_user("Eve")
    async with transaction(mail.db.writer) as session:
        await queue_email(session, EmailKind.WELCOME, user)
    async with transaction(mail.db.writer) as session:
        await accounts.rename(session, user.id, "Evelyn <3")
        await accounts.change_email(
            session, await accounts.get_user(session, user.id), "evelyn@example.com"
        )

    await mail.run()

    [message] = inbox.messages
    assert message["To"].addresses[0].addr_spec == "evelyn@example.com"
    assert "Welcome, Evelyn &lt;3!" in message.get_body(("html",)).get_content()


async def test_a_rolled_back_transaction_sends_nothing(mailroom: Mailroom, inbox: Inbox) -> None:
    mail = await mailroom()
    user = await mail.add_user()

    async def failing_request() -> None:
        async with transaction(mail.db.writer) as session:
            await queue_email(session, EmailKind.WELCOME, user)
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError, match="the request failed"):
        await failing_request()

    assert mail.queued() == []
    assert await mail.run() == 0
    assert inbox.messages == []


async def test_a_bad_context_fails_at_once_and_queues_nothing(mailroom: Mailroom) -> None:
    mail = await mailroom()
    user = await mail.add_user()

    async with transaction(mail.db.writer) as session:
        with pytest.raises(TypeError, match="renewal_date"):
            await queue_email(session, EmailKind.RENEWAL_REMINDER, user, plan="Basic", amount="$1")
        with pytest.raises(ValueError, match="'postcard' is not a valid EmailKind"):
            await queue_email(session, "postcard", user)

    assert mail.queued() == []


async def test_a_failed_send_is_retried_and_then_delivered_once(mailroom: Mailroom) -> None:
    port = free_port()  # nothing listens here yet: connection refused
    mail = await mailroom(smtp_url=f"smtp://127.0.0.1:{port}")
    user = await mail.add_user()
    async with transaction(mail.db.writer) as session:
        await queue_email(session, EmailKind.WELCOME, user)

    assert await mail.run() == 1
    [retry] = mail.retrying()
    assert retry.retries == 7  # 8 retries, one used
    assert retry.retry_delay == 60  # the next wait doubles
    controller, late_inbox = start_smtp(port)  # the server comes back
    try:
        assert await mail.run_retries() == 1
    finally:
        controller.stop()

    [message] = late_inbox.messages
    assert message["To"].addresses[0].addr_spec == user.email
    assert mail.retrying() == []
    assert mail.queued() == []


async def test_a_refused_recipient_is_logged_and_not_retried(
    mailroom: Mailroom, inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    mail = await mailroom()
    user = await mail.add_user(email="nobody@example.com")
    inbox.refuse.add("nobody@example.com")
    async with transaction(mail.db.writer) as session:
        await queue_email(session, EmailKind.WELCOME, user)

    with caplog.at_level(logging.WARNING, logger="kushfilms"):
        await mail.run()

    assert inbox.messages == []
    assert mail.retrying() == []
    assert "was refused" in caplog.text


async def test_nothing_is_sent_to_a_deleted_user(mailroom: Mailroom, inbox: Inbox) -> None:
    mail = await mailroom()
    user = await mail.add_user()
    async with transaction(mail.db.writer) as session:
        await queue_email(session, EmailKind.WELCOME, user)
        await session.delete(await accounts.get_user(session, user.id))

    await mail.run()

    assert inbox.messages == []
    assert mail.retrying() == []


async def test_a_queue_that_is_down_keeps_the_email_with_the_transaction(
    mailroom: Mailroom, caplog: pytest.LogCaptureFixture
) -> None:
    down = await mailroom(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    user = await down.add_user()

    with caplog.at_level(logging.WARNING, logger="kushfilms"):
        async with transaction(down.db.writer) as session:
            await queue_email(session, EmailKind.WELCOME, user)
            me = await accounts.get_user(session, user.id)
            me.name = "Saved anyway"

    assert "send_email is kept in the outbox" in caplog.text
    async with transaction(down.db.writer) as session:
        assert (await accounts.get_user(session, user.id)).name == "Saved anyway"
        [kept] = (await session.scalars(select(OutboxJob))).all()
    assert kept.name == SEND_EMAIL
    assert kept.args[:2] == [EmailKind.WELCOME.value, str(user.id)]


async def test_the_file_backend_writes_the_email_through_the_job(mailroom: Mailroom) -> None:
    mail = await mailroom(mail_backend="file")
    user = await mail.add_user()
    async with transaction(mail.db.writer) as session:
        await queue_email(session, EmailKind.WELCOME, user)

    await mail.run()

    [path] = (mail.settings.data_dir / "mail").glob("*-welcome-*.eml")
    message = parse(path.read_bytes())
    assert message["To"].addresses[0].addr_spec == user.email
    assert message["Subject"] == "Welcome to Kush Films"
