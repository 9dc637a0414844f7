"""Every kind of email renders, escapes what people typed, links absolutely, and composes."""

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from kushfilms.notify.kinds import LETTERS, EmailKind
from kushfilms.notify.messages import (
    KIND_HEADER,
    Recipient,
    compose,
    day,
    new_message_id,
    render,
    site_url,
)
from kushfilms.notify.service import email_context
from tests.conftest import make_settings
from tests.notify.conftest import PUBLIC_URL, parse

EVE = Recipient("<b>Eve</b> & co", "eve@example.com")
CONTEXTS: dict[EmailKind, dict[str, Any]] = {
    EmailKind.WELCOME: {},
    EmailKind.SUBSCRIPTION_STARTED: {
        "plan": "Premium",
        "amount": "$4.99",
        "next_bill_date": date(2026, 12, 25),
    },
    EmailKind.PAYMENT_RECEIPT: {
        "plan": "Premium",
        "amount": "$4.99",
        "currency": "usd",
        "payment_id": "in_1QxYz",
        "description": "Kush Films Premium, monthly",
        "period_start": datetime(2026, 11, 25, 9, 30, tzinfo=UTC),
        "period_end": datetime(2026, 12, 25, 9, 30, tzinfo=UTC),
        "paid_at": datetime(2026, 11, 25, 9, 31, tzinfo=UTC),
    },
    EmailKind.PAYMENT_FAILED: {
        "plan": "Basic",
        "amount": "$2.99",
        "next_attempt": date(2026, 11, 28),
        "access_until": date(2026, 12, 2),
    },
    EmailKind.CANCELLATION_CONFIRMED: {"plan": "Basic", "access_until": date(2026, 12, 25)},
    EmailKind.RENEWAL_REMINDER: {
        "plan": "Premium",
        "amount": "$4.99",
        "renewal_date": "2026-12-25T09:30:00+00:00",
    },
    EmailKind.PASSWORD_RESET: {"link": "/reset-password?token=abc.def", "valid_minutes": 60},
    EmailKind.VERIFY_EMAIL: {"link": "/verify-email?token=abc.def"},
    EmailKind.CONFIRM_EMAIL_CHANGE: {
        "link": "/account/email/confirm?token=abc.def",
        "new_email": "<i>eve</i>@example.org",
    },
    EmailKind.EMAIL_CHANGED: {
        "old_email": "eve@example.com",
        "new_email": "<i>eve</i>@example.org",
    },
}
# What each kind must tell the reader, in both parts.
FACTS: dict[EmailKind, list[str]] = {
    EmailKind.WELCOME: ["Start watching", f"{PUBLIC_URL}/pricing"],
    EmailKind.SUBSCRIPTION_STARTED: ["Premium", "$4.99", "25 December 2026"],
    EmailKind.PAYMENT_RECEIPT: [
        "$4.99 (USD)",
        "in_1QxYz",
        "Kush Films Premium, monthly",
        "25 November 2026 to 25 December 2026",
    ],
    EmailKind.PAYMENT_FAILED: ["$2.99", "Basic", "28 November 2026", "2 December 2026"],
    EmailKind.CANCELLATION_CONFIRMED: ["Basic", "25 December 2026"],
    EmailKind.RENEWAL_REMINDER: ["Premium", "$4.99", "25 December 2026"],
    EmailKind.PASSWORD_RESET: [f"{PUBLIC_URL}/reset-password?token=abc.def", "60 minutes"],
    EmailKind.VERIFY_EMAIL: [f"{PUBLIC_URL}/verify-email?token=abc.def"],
    EmailKind.CONFIRM_EMAIL_CHANGE: [f"{PUBLIC_URL}/account/email/confirm?token=abc.def"],
    EmailKind.EMAIL_CHANGED: ["eve@example.com", f"{PUBLIC_URL}/forgot-password"],
}
SUBJECTS = {
    EmailKind.WELCOME: "Welcome to Kush Films",
    EmailKind.SUBSCRIPTION_STARTED: "Your Premium subscription has started",
    EmailKind.PAYMENT_RECEIPT: "Your Kush Films receipt: $4.99",
    EmailKind.PAYMENT_FAILED: "We could not take your payment of $2.99",
    EmailKind.CANCELLATION_CONFIRMED: "Your Basic subscription is cancelled",
    EmailKind.RENEWAL_REMINDER: "Your Premium plan renews on 25 December 2026",
    EmailKind.PASSWORD_RESET: "Reset your Kush Films password",
    EmailKind.VERIFY_EMAIL: "Confirm your email address for Kush Films",
    EmailKind.CONFIRM_EMAIL_CHANGE: "Confirm your new email address for Kush Films",
    EmailKind.EMAIL_CHANGED: "Your Kush Films email address was changed",
}
LINK = re.compile(r'href="([^"]*)"')


def rendered(kind: EmailKind) -> Any:
    return render(kind, email_context(kind, CONTEXTS[kind]), recipient=EVE, site=PUBLIC_URL)


def test_every_kind_has_a_case() -> None:
    assert set(CONTEXTS) == set(EmailKind) == set(LETTERS)


@pytest.mark.parametrize("kind", list(EmailKind))
def test_each_kind_renders_a_subject_a_text_and_an_html_part(kind: EmailKind) -> None:
    email = rendered(kind)

    assert email.subject == SUBJECTS[kind]
    for fact in FACTS[kind]:
        assert fact in email.text
        assert fact.replace("&", "&amp;") in email.html
    assert email.html.startswith("<!DOCTYPE html>")
    assert f"<title>{email.subject.replace('&', '&amp;')}</title>" in email.html
    assert "{{" not in email.text + email.html


@pytest.mark.parametrize("kind", list(EmailKind))
def test_what_people_typed_is_escaped_in_html_and_kept_in_text(kind: EmailKind) -> None:
    email = rendered(kind)

    assert "<b>Eve</b>" not in email.html
    assert "eve@example.com" in email.html
    if kind in (EmailKind.WELCOME, EmailKind.SUBSCRIPTION_STARTED):
        assert "&lt;b&gt;Eve&lt;/b&gt; &amp; co" in email.html
        assert "<b>Eve</b> & co" in email.text


@pytest.mark.parametrize("kind", list(EmailKind))
def test_links_are_absolute(kind: EmailKind) -> None:
    email = rendered(kind)

    links = LINK.findall(email.html)
    assert links
    assert all(link.startswith(f"{PUBLIC_URL}/") for link in links)
    assert f"{PUBLIC_URL}/account" in links
    urls = re.findall(r"https?://\S+", email.text)
    assert urls
    assert all(url.startswith(f"{PUBLIC_URL}/") for url in urls)


@pytest.mark.parametrize(
    "kind",
    [
        EmailKind.SUBSCRIPTION_STARTED,
        EmailKind.PAYMENT_RECEIPT,
        EmailKind.PAYMENT_FAILED,
        EmailKind.CANCELLATION_CONFIRMED,
        EmailKind.RENEWAL_REMINDER,
    ],
)
def test_subscription_emails_link_to_the_subscription_page(kind: EmailKind) -> None:
    email = rendered(kind)

    assert f'href="{PUBLIC_URL}/account/subscription"' in email.html
    assert f"{PUBLIC_URL}/account/subscription" in email.text


def test_optional_facts_are_left_out_when_not_given() -> None:
    context = email_context(EmailKind.PAYMENT_FAILED, {"amount": "$2.99"})

    email = render(EmailKind.PAYMENT_FAILED, context, recipient=EVE, site=PUBLIC_URL)

    assert "We could not take $2.99." in email.text
    assert "try again" not in email.text
    assert "keep watching until" not in email.html


def test_a_receipt_with_only_the_essentials() -> None:
    context = email_context(
        EmailKind.PAYMENT_RECEIPT,
        {"amount": "€4.99", "payment_id": "in_2", "period_start": "", "period_end": ""},
    )

    email = render(EmailKind.PAYMENT_RECEIPT, context, recipient=EVE, site=PUBLIC_URL)

    assert "We have received €4.99." in email.text
    assert "  Amount:     €4.99\n  Reference:  in_2\n" in email.text
    assert "Period" not in email.text + email.html
    assert "Plan" not in email.html


def test_links_fall_back_to_the_address_the_server_listens_on(tmp_path: Path) -> None:
    assert site_url(make_settings(tmp_path, host="10.0.0.5", port=8080)) == "http://10.0.0.5:8080"
    public = make_settings(tmp_path, public_url="https://films.example/")
    assert site_url(public) == "https://films.example"


def test_dates_read_as_people_write_them() -> None:
    assert day("2026-12-05") == "5 December 2026"
    assert day("2026-12-05T23:10:00+00:00") == "5 December 2026"
    assert day(date(2027, 1, 1)) == "1 January 2027"
    assert day("soon") == "soon"


def test_a_context_that_does_not_fit_the_kind_fails_when_queued() -> None:
    with pytest.raises(TypeError, match="missing \\['amount'\\]"):
        email_context(EmailKind.RENEWAL_REMINDER, {"plan": "Basic", "renewal_date": "2026-12-01"})
    with pytest.raises(TypeError, match="unknown \\['planx'\\]"):
        email_context(
            EmailKind.CANCELLATION_CONFIRMED, {"planx": "B", "plan": "B", "access_until": "x"}
        )
    with pytest.raises(TypeError, match="not a JSON value"):
        email_context(EmailKind.CANCELLATION_CONFIRMED, {"plan": object(), "access_until": "x"})


def test_a_context_becomes_json_values() -> None:
    context = email_context(
        EmailKind.CANCELLATION_CONFIRMED,
        {"plan": EmailKind.WELCOME, "access_until": datetime(2026, 12, 25, 9, 30, tzinfo=UTC)},
    )

    assert context == {"plan": "welcome", "access_until": "2026-12-25T09:30:00+00:00"}


def test_the_message_is_multipart_alternative_with_ids_and_dates() -> None:
    email = rendered(EmailKind.RENEWAL_REMINDER)
    message_id = new_message_id("Kush Films <no-reply@films.example>")
    sent_at = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)

    message = compose(
        email,
        kind=EmailKind.RENEWAL_REMINDER,
        sender="Kush Films <no-reply@films.example>",
        recipient=EVE,
        message_id=message_id,
        sent_at=sent_at,
    )
    parsed = parse(message.as_bytes())

    assert re.fullmatch(r"<[0-9a-f]{32}@films\.example>", message_id)
    assert parsed.get_content_type() == "multipart/alternative"
    text, html = parsed.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    assert text.get_content() == email.text  # type: ignore[attr-defined]
    assert html.get_content() == email.html  # type: ignore[attr-defined]
    assert parsed["Message-ID"] == message_id
    assert parsed["Date"].datetime == sent_at
    assert parsed["Subject"] == email.subject
    assert parsed["From"].addresses[0].addr_spec == "no-reply@films.example"
    assert parsed["To"].addresses[0].display_name == "<b>Eve</b> & co"
    assert parsed["To"].addresses[0].addr_spec == "eve@example.com"
    assert parsed[KIND_HEADER] == "renewal_reminder"


def test_a_name_cannot_add_headers() -> None:
    message = compose(
        rendered(EmailKind.WELCOME),
        kind=EmailKind.WELCOME,
        sender="Kush Films <no-reply@films.example>",
        recipient=Recipient("Eve\r\nBcc: everyone@example.com", "eve@example.com"),
        message_id="<1@films.example>",
        sent_at=datetime(2026, 11, 25, tzinfo=UTC),
    )
    parsed = parse(message.as_bytes())

    assert parsed["Bcc"] is None
    assert [address.addr_spec for address in parsed["To"].addresses] == ["eve@example.com"]
