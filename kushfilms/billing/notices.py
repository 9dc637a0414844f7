"""What a viewer is told of their billing: the emails an applied event queues.

Each is queued with the transaction that made the change, and only on the
change itself (a subscription that starts, a cancellation, a payment that goes
through or fails), so an event applied again, or a second event saying the
same, tells nobody twice. notify renders and sends them.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from kushfilms.billing.plans import PlanOffer, plans_from
from kushfilms.billing.stripe_objects import Invoice
from kushfilms.config import Settings
from kushfilms.kit.clock import utcnow
from kushfilms.kit.money import money
from kushfilms.models import Payment, PaymentStatus, Subscription, SubscriptionStatus, User
from kushfilms.notify import EmailKind, queue_email_in


@dataclass(frozen=True, slots=True)
class Before:
    """A subscription's state before an event changed it."""

    status: SubscriptionStatus | None  # None: the viewer had no subscription
    cancel_at_period_end: bool

    @classmethod
    def of(cls, row: Subscription | None) -> "Before":
        if row is None:
            return cls(None, False)
        return cls(row.status, row.cancel_at_period_end)


def tell_subscription_change(
    session: Session, user: User, row: Subscription, before: Before, offer: PlanOffer
) -> None:
    """A subscription that started, or that is now set to end."""
    if row.status == SubscriptionStatus.ACTIVE and before.status in (
        None,
        SubscriptionStatus.INCOMPLETE,
    ):
        queue_email_in(
            session,
            EmailKind.SUBSCRIPTION_STARTED,
            user,
            plan=offer.name,
            amount=offer.price,
            next_bill_date=_date(row.current_period_end),
        )
    ending = row.cancel_at_period_end or row.status == SubscriptionStatus.CANCELED
    was_ending = before.cancel_at_period_end or before.status == SubscriptionStatus.CANCELED
    if ending and not was_ending and before.status is not None:
        access_until = row.ended_at or row.current_period_end
        queue_email_in(
            session,
            EmailKind.CANCELLATION_CONFIRMED,
            user,
            plan=offer.name,
            access_until=_date(access_until),
        )


def tell_payment(
    session: Session, user: User, payment: Payment, invoice: Invoice, settings: Settings
) -> None:
    """A receipt for a payment that went through; a warning for one that failed."""
    amount = money(payment.amount, payment.currency)
    offer = invoice.offer(plans_from(settings))
    plan = offer.name if offer is not None else payment.description
    if payment.status == PaymentStatus.SUCCEEDED:
        queue_email_in(
            session,
            EmailKind.PAYMENT_RECEIPT,
            user,
            plan=plan,
            amount=amount,
            currency=payment.currency,
            payment_id=payment.provider_payment_id,
            **({"description": payment.description} if invoice.proration else {}),
            period_start=_date(invoice.period_start) if invoice.period_start else "",
            period_end=_date(invoice.period_end) if invoice.period_end else "",
            paid_at=payment.paid_at,
        )
    elif payment.status == PaymentStatus.FAILED:
        next_try = invoice.next_payment_attempt
        grace_end = utcnow() + timedelta(days=settings.past_due_grace_days)
        queue_email_in(
            session,
            EmailKind.PAYMENT_FAILED,
            user,
            amount=amount,
            plan=plan,
            next_attempt=_date(next_try) if next_try else None,
            access_until=_date(grace_end),
        )


def _date(moment: datetime) -> str:
    return moment.date().isoformat()
