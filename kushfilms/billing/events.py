"""Applying the payment provider's events: each exactly once, in any order.

An event is recorded by id in the same transaction as its effects, so a
duplicate delivery changes nothing and a failure leaves nothing half-written.
Applying runs on a plain (sync) session: a webhook's whole transaction is one
call of :meth:`kushfilms.db.Database.run_write`, and async callers inside a
transaction of their own use ``AsyncSession.run_sync``.
Order does not matter because subscriptions are not taken from the event but
fetched as they stand now, and payments only move forward (pending, failed,
succeeded, refunded). Stripe's webhook and the local checkout both end here.

Concurrency does not matter either: before reading a viewer's subscription or
payments, an event takes the viewer's row lock (:func:`lock_viewer`), so two
events of one viewer apply one after the other, the second reading what the
first wrote, under PostgreSQL's READ COMMITTED. (On SQLite the write
transaction, begun IMMEDIATE, already holds the database's only write lock.)

Stripe's objects are read by :mod:`kushfilms.billing.stripe_objects`; what the
viewer is told of a change, by :mod:`kushfilms.billing.notices`.
"""

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from kushfilms.billing.notices import Before, tell_payment, tell_subscription_change
from kushfilms.billing.plans import RANK, PlanOffer, plans_from
from kushfilms.billing.stripe_objects import (
    DESCRIPTION_LENGTH,
    HANDLED,
    CompletedCheckout,
    Invoice,
    Prepared,
    ProviderSubscription,
    Refund,
    as_uuid,
)
from kushfilms.config import Settings
from kushfilms.kit.clock import utcnow
from kushfilms.kit.dates import day
from kushfilms.models import (
    BillingEvent,
    Payment,
    PaymentStatus,
    Subscription,
    SubscriptionStatus,
    User,
)
from kushfilms.models.payment import PAYMENT_PROGRESS

log = logging.getLogger(__name__)

_CUSTOMERS = "kf_billing_customers"  # session.info: viewers by customer id (see _customer)
LIVE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)


# The statements of every event, built once: building one costs more than running it.
_RECORD_EVENT = {
    dialect: insert(BillingEvent)
    .values(id=bindparam("id"), type=bindparam("type"), received_at=bindparam("received_at"))
    .on_conflict_do_nothing(index_elements=["id"])
    for dialect, insert in (("postgresql", postgresql_insert), ("sqlite", sqlite_insert))
}
# Read after the viewer's lock is taken, and read afresh: what the session held from
# before the lock may be what another transaction has changed since.
_CUSTOMER = (
    select(User, Subscription)
    .outerjoin(Subscription, Subscription.user_id == User.id)
    .where(User.stripe_customer_id == bindparam("customer"))
    .execution_options(populate_existing=True)
)
_SUBSCRIPTION = (
    select(Subscription)
    .where(Subscription.user_id == bindparam("user_id"))
    .execution_options(populate_existing=True)
)
# FOR NO KEY UPDATE: rows that merely refer to the viewer (their history, their
# streams) can still be written meanwhile.
_LOCK_CUSTOMER = (
    select(User.id)
    .where(User.stripe_customer_id == bindparam("customer"))
    .with_for_update(key_share=True)
)
_LOCK_USER = select(User.id).where(User.id == bindparam("id")).with_for_update(key_share=True)
_PAYMENT = (
    select(Payment)
    .where(
        or_(
            Payment.provider_payment_id == bindparam("invoice"),
            Payment.provider_charge_id.in_(bindparam("refs", expanding=True)),
        )
    )
    .execution_options(populate_existing=True)
)


class UnknownPrice(Exception):
    """A subscription to a price no plan sells: the settings are wrong. Failing
    makes Stripe retry, so nothing is lost once they are put right."""


def apply(session: Session, prepared: Prepared, settings: Settings) -> bool:
    """Apply the event once: False when it had been applied already."""
    if not _record_event(session, prepared):
        return False
    kind, data = prepared.type, prepared.object
    if kind == "checkout.session.completed":
        _link_customer(session, CompletedCheckout.from_stripe(data))
    if kind == "invoice.paid":
        record_invoice(session, Invoice.from_stripe(data), PaymentStatus.SUCCEEDED, settings)
    elif kind == "invoice.payment_failed":
        record_invoice(session, Invoice.from_stripe(data), PaymentStatus.FAILED, settings)
    elif kind == "charge.refunded":
        refund = Refund.from_stripe(data)
        if refund is not None:  # a partial refund: the payment stands
            record_refund(session, refund)
    elif kind not in HANDLED:
        log.info("Acknowledged %s event %s without acting on it", kind, prepared.id)
    if prepared.subscription is not None:
        sync_subscription(session, prepared.subscription, settings)
    return True


def _record_event(session: Session, prepared: Prepared) -> bool:
    """Note the event as applied, in one statement: False when it already was."""
    connection = session.connection()
    row = {"id": prepared.id, "type": prepared.type, "received_at": utcnow()}
    result = connection.execute(_RECORD_EVENT[connection.dialect.name], row)
    return bool(result.rowcount)


def _link_customer(session: Session, checkout: CompletedCheckout) -> None:
    """A completed checkout ties the customer to the viewer who started it."""
    if not checkout.customer or checkout.user_id is None:
        return
    _lock(session, _LOCK_USER, {"id": checkout.user_id})
    user = session.get(User, checkout.user_id, populate_existing=True)
    if user is not None and user.stripe_customer_id is None:
        user.stripe_customer_id = checkout.customer


def lock_viewer(session: Session, user_id: uuid.UUID) -> Subscription | None:
    """Hold the viewer's row until the transaction ends, so that their billing changes
    happen one at a time; returns their subscription as it stands once the lock is held."""
    _lock(session, _LOCK_USER, {"id": user_id})
    return session.scalar(_SUBSCRIPTION, {"user_id": user_id})


def _lock(session: Session, statement: Select[Any], params: dict[str, Any]) -> None:
    # SQLite has no row locks: its write transactions run one at a time anyway.
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        connection.execute(statement, params)


@dataclass(slots=True)
class _Customer:
    user: User
    subscription: Subscription | None


def _customer(session: Session, customer: str) -> _Customer | None:
    """The viewer behind a provider's customer, with their subscription, in one query;
    kept for the transaction, as an event often asks twice (payment, subscription)."""
    known: dict[str, _Customer] = session.info.setdefault(_CUSTOMERS, {})
    found = known.get(customer)
    if found is None and customer:
        _lock(session, _LOCK_CUSTOMER, {"customer": customer})
        row = session.execute(_CUSTOMER, {"customer": customer}).first()
        if row is not None:
            found = known[customer] = _Customer(row[0], row[1])
    return found


def user_of_customer(session: Session, customer: str) -> User | None:
    found = _customer(session, customer)
    return found.user if found else None


def _subscriber(session: Session, remote: ProviderSubscription) -> _Customer | None:
    """The viewer a provider's subscription belongs to: by its customer, or else by
    the viewer id we put in its metadata at checkout."""
    found = _customer(session, remote.customer)
    user_id = as_uuid(remote.user_id)
    if found is not None or user_id is None:
        return found
    held = lock_viewer(session, user_id)
    user = session.get(User, user_id)
    return _Customer(user, held) if user is not None else None


def _offer(settings: Settings, price_id: str) -> PlanOffer:
    offer = plans_from(settings).by_price(price_id)
    if offer is None:
        raise UnknownPrice(f"no plan sells the price {price_id!r}; check KF_STRIPE_PRICE_*")
    return offer


def sync_subscription(
    session: Session, remote: ProviderSubscription, settings: Settings
) -> Subscription | None:
    """Make the viewer's subscription what the provider says it is now."""
    subscriber = _subscriber(session, remote)
    if subscriber is None:
        log.warning("Subscription %s belongs to no viewer here; ignored", remote.id)
        return None
    user, row = subscriber.user, subscriber.subscription
    offer = _offer(settings, remote.price_id)
    status = remote.our_status
    same = row is not None and row.provider_subscription_id == remote.id
    if row is not None and not same and remote.created < row.provider_created_at:
        log.info("Subscription %s is older than the viewer's current one; ignored", remote.id)
        return row
    before = Before.of(row if same else None)
    if row is None:
        row = subscriber.subscription = Subscription(user_id=user.id, started_at=remote.created)
        session.add(row)
    elif not same:
        row.started_at = remote.created
        row.reminded_period_end = None
    if (
        same
        and RANK[offer.plan] < RANK[row.plan]
        and remote.current_period_end == row.current_period_end
    ):
        row.scheduled_plan = offer.plan  # a downgrade waits for the paid period to end
    else:
        row.plan, row.scheduled_plan = offer.plan, None
    row.status = status
    row.provider_subscription_id = remote.id
    row.provider_created_at = remote.created
    row.price_id = remote.price_id
    row.current_period_start = remote.current_period_start
    row.current_period_end = remote.current_period_end
    row.cancel_at_period_end = remote.cancel_at_period_end
    row.ended_at = remote.ended_at
    if status != SubscriptionStatus.PAST_DUE:
        row.past_due_since = None
    elif row.past_due_since is None:
        row.past_due_since = utcnow()
    session.flush()
    tell_subscription_change(session, user, row, before, offer)
    return row


def record_invoice(
    session: Session, invoice: Invoice, status: PaymentStatus, settings: Settings
) -> Payment | None:
    user = user_of_customer(session, invoice.customer)
    if user is None:
        log.warning("Invoice %s belongs to no viewer here; ignored", invoice.id)
        return None
    refs = invoice.refs
    payment: Payment | None = session.scalar(_PAYMENT, {"invoice": invoice.id, "refs": refs})
    if payment is None:
        payment = Payment(user_id=user.id, status=PaymentStatus.PENDING, amount=0)
        session.add(payment)
    before = payment.status
    payment.provider_payment_id = invoice.id
    payment.provider_charge_id = payment.provider_charge_id or (refs[0] if refs else None)
    payment.provider_subscription_id = invoice.subscription
    succeeded = status == PaymentStatus.SUCCEEDED
    payment.amount = invoice.amount_paid if succeeded else invoice.amount_due or invoice.amount_paid
    payment.currency = invoice.currency or settings.currency
    payment.description = _describe(invoice, settings)
    if PAYMENT_PROGRESS.index(status) > PAYMENT_PROGRESS.index(payment.status):
        payment.status = status
    if succeeded and payment.paid_at is None:
        payment.paid_at = invoice.paid_at or utcnow()
    session.flush()
    if payment.status != before:
        tell_payment(session, user, payment, invoice, settings)
    return payment


def _describe(invoice: Invoice, settings: Settings) -> str:
    """The payment as the viewer's history names it: "Kush Films Basic, monthly", or for
    an upgrade "Upgrade to Premium, prorated for 20 Jan 2027 to 3 Feb 2027"."""
    offer = invoice.offer(plans_from(settings))
    if offer is not None and invoice.proration is not None:
        prorated = invoice.proration
        change = "Upgrade" if prorated.amount > 0 else "Change"
        span = f"{day(prorated.start)} to {day(prorated.end)}"
        return f"{change} to {offer.name}, prorated for {span}"
    if offer is not None:
        return f"Kush Films {offer.name}, monthly"
    return (invoice.line_description or invoice.description or "Kush Films subscription")[
        :DESCRIPTION_LENGTH
    ]


def record_refund(session: Session, refund: Refund) -> Payment | None:
    """A refunded charge: its payment becomes REFUNDED, even if the invoice's own
    events have not arrived yet (the payment is made now and completed by them)."""
    refs = refund.refs
    _lock(session, _LOCK_CUSTOMER, {"customer": refund.customer})  # before the payment is read
    payment: Payment | None = session.scalar(_PAYMENT, {"invoice": refund.invoice, "refs": refs})
    if payment is None:
        user = user_of_customer(session, refund.customer)
        if user is None:
            log.warning("Charge %s belongs to no viewer here; ignored", refund.charge)
            return None
        payment = Payment(
            user_id=user.id,
            provider_payment_id=refund.invoice or f"charge:{refund.charge}",
            provider_charge_id=refund.payment_intent or refund.charge,
            amount=refund.amount,
            currency=refund.currency,
            status=PaymentStatus.REFUNDED,
            description=refund.description,
        )
        session.add(payment)
    payment.status = PaymentStatus.REFUNDED
    session.flush()
    return payment
