"""The emails we send, and what each needs to know."""

import enum
from dataclasses import dataclass


class EmailKind(enum.StrEnum):
    WELCOME = "welcome"
    SUBSCRIPTION_STARTED = "subscription_started"
    PAYMENT_RECEIPT = "payment_receipt"
    PAYMENT_FAILED = "payment_failed"
    CANCELLATION_CONFIRMED = "cancellation_confirmed"
    RENEWAL_REMINDER = "renewal_reminder"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a kind of email
    VERIFY_EMAIL = "verify_email"
    CONFIRM_EMAIL_CHANGE = "confirm_email_change"
    EMAIL_CHANGED = "email_changed"


@dataclass(frozen=True, slots=True)
class Letter:
    """One kind of email: its subject (a template) and the context it takes.

    Amounts are text as people read them ("$4.99"); dates are ISO dates or
    datetimes (``date`` and ``datetime`` values are converted when queued).
    An optional fact left out, or given as "", is not mentioned.
    """

    subject: str
    required: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()
    # The context field holding the address to write to, when it is not the
    # account's own (a new address being confirmed, the old one being told).
    send_to: str | None = None

    @property
    def fields(self) -> frozenset[str]:
        return self.required | self.optional


LETTERS: dict[EmailKind, Letter] = {
    EmailKind.WELCOME: Letter("Welcome to Kush Films", optional=frozenset({"verify_link"})),
    EmailKind.SUBSCRIPTION_STARTED: Letter(
        "Your {{ plan }} subscription has started",
        required=frozenset({"plan", "amount", "next_bill_date"}),
    ),
    EmailKind.PAYMENT_RECEIPT: Letter(
        "Your Kush Films receipt: {{ amount }}",
        required=frozenset({"amount", "payment_id"}),
        optional=frozenset(
            {"plan", "description", "currency", "period_start", "period_end", "paid_at"}
        ),
    ),
    EmailKind.PAYMENT_FAILED: Letter(
        "We could not take your payment of {{ amount }}",
        required=frozenset({"amount"}),
        optional=frozenset({"plan", "next_attempt", "access_until"}),
    ),
    EmailKind.CANCELLATION_CONFIRMED: Letter(
        "Your {{ plan }} subscription is cancelled",
        required=frozenset({"plan", "access_until"}),
    ),
    EmailKind.RENEWAL_REMINDER: Letter(
        "Your {{ plan }} plan renews on {{ renewal_date | day }}",
        required=frozenset({"plan", "amount", "renewal_date"}),
    ),
    EmailKind.PASSWORD_RESET: Letter(
        "Reset your Kush Films password", required=frozenset({"link", "valid_minutes"})
    ),
    EmailKind.VERIFY_EMAIL: Letter(
        "Confirm your email address for Kush Films", required=frozenset({"link"})
    ),
    EmailKind.CONFIRM_EMAIL_CHANGE: Letter(
        "Confirm your new email address for Kush Films",
        required=frozenset({"link", "new_email"}),
        send_to="new_email",
    ),
    EmailKind.EMAIL_CHANGED: Letter(
        "Your Kush Films email address was changed",
        required=frozenset({"old_email", "new_email"}),
        send_to="old_email",
    ),
}
