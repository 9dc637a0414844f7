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
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from kushfilms.billing.plans import RANK, PlanOffer, plans_from
from kushfilms.billing.provider import PaymentProvider, ProviderSubscription, timestamp
from kushfilms.config import Settings
from kushfilms.kit.clock import utcnow
from kushfilms.kit.money import money
from kushfilms.models import (
    BillingEvent,
    Payment,
    PaymentStatus,
    Subscription,
    SubscriptionStatus,
    User,
)
from kushfilms.models.payment import PAYMENT_PROGRESS
from kushfilms.notify import queue_email_in

log = logging.getLogger(__name__)

STATUS = {
    "active": SubscriptionStatus.ACTIVE,
    "trialing": SubscriptionStatus.ACTIVE,
    "past_due": SubscriptionStatus.PAST_DUE,
    "unpaid": SubscriptionStatus.UNPAID,
    "paused": SubscriptionStatus.UNPAID,
    "canceled": SubscriptionStatus.CANCELED,
    "incomplete_expired": SubscriptionStatus.CANCELED,
    "incomplete": SubscriptionStatus.INCOMPLETE,
}
SUBSCRIPTION_EVENTS = {
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
}
_CUSTOMERS = "kf_billing_customers"  # session.info: viewers by customer id (see _customer)
HANDLED = SUBSCRIPTION_EVENTS | {
    "checkout.session.completed",
    "invoice.paid",
    "invoice.payment_failed",
    "charge.refunded",
}


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
LIVE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
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


@dataclass(frozen=True, slots=True)
class Prepared:
    """An event, with the subscription it concerns fetched as it stands now."""

    event: dict[str, Any]
    subscription: ProviderSubscription | None

    @property
    def id(self) -> str:
        return str(self.event["id"])

    @property
    def type(self) -> str:
        return str(self.event["type"])

    @property
    def object(self) -> dict[str, Any]:
        found: dict[str, Any] = self.event["data"]["object"]
        return found


async def prepare(event: dict[str, Any], provider: PaymentProvider) -> Prepared:
    """Fetch what the event needs from the provider, before any database work (so no
    write lock is held across the network)."""
    subscription_id = subscription_of_event(event)
    remote = await provider.subscription(subscription_id) if subscription_id else None
    return Prepared(await _with_payment_links(event, provider), remote)


async def _with_payment_links(event: dict[str, Any], provider: PaymentProvider) -> dict[str, Any]:
    """The event, with what ties a payment to its invoice filled in where it lacks it.

    Since Stripe's API of 2025-03-31 an invoice names no charge or payment intent
    (its ``payments`` are left out unless expanded) and a charge names no invoice,
    so a refund could not find the payment it undoes. Stripe's invoice payments
    say which payment intent paid which invoice.
    """
    kind, data = event["type"], event["data"]["object"]
    if kind in ("invoice.paid", "invoice.payment_failed") and not _payment_refs(data):
        payments = await provider.invoice_payments(invoice=str(data["id"]))
        data = {**data, "payments": {"object": "list", "data": payments}}
    elif kind == "charge.refunded" and not data.get("invoice") and data.get("payment_intent"):
        payments = await provider.invoice_payments(payment_intent=str(data["payment_intent"]))
        invoice = payments[0].get("invoice") if payments else None
        if isinstance(invoice, dict):
            invoice = invoice.get("id")
        if not invoice:
            return event
        data = {**data, "invoice": str(invoice)}
    else:
        return event
    return {**event, "data": {**event["data"], "object": data}}


def subscription_of_event(event: dict[str, Any]) -> str | None:
    kind, data = event["type"], event["data"]["object"]
    if kind in SUBSCRIPTION_EVENTS:
        return str(data["id"])
    if kind == "checkout.session.completed" or kind.startswith("invoice."):
        return _invoice_subscription(data)
    return None


def _invoice_subscription(data: dict[str, Any]) -> str | None:
    """The subscription of an invoice or checkout session, in any API version's shape."""
    found = data.get("subscription")
    if not found:
        parent = data.get("parent") or {}
        found = (parent.get("subscription_details") or {}).get("subscription")
    if isinstance(found, dict):
        found = found.get("id")
    return str(found) if found else None


def apply(session: Session, prepared: Prepared, settings: Settings) -> bool:
    """Apply the event once: False when it had been applied already."""
    if not _record_event(session, prepared):
        return False
    kind, data = prepared.type, prepared.object
    if kind == "checkout.session.completed":
        _link_customer(session, data)
    if kind == "invoice.paid":
        record_invoice(session, data, PaymentStatus.SUCCEEDED, settings)
    elif kind == "invoice.payment_failed":
        record_invoice(session, data, PaymentStatus.FAILED, settings)
    elif kind == "charge.refunded":
        record_refund(session, data)
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


def _link_customer(session: Session, data: dict[str, Any]) -> None:
    """A completed checkout ties the customer to the viewer who started it."""
    customer = data.get("customer")
    user_id = _uuid(data.get("client_reference_id"))
    if not customer or user_id is None:
        return
    _lock(session, _LOCK_USER, {"id": user_id})
    user = session.get(User, user_id, populate_existing=True)
    if user is not None and user.stripe_customer_id is None:
        user.stripe_customer_id = str(customer)


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


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
    user_id = _uuid(remote.user_id)
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
    status = STATUS.get(remote.status, SubscriptionStatus.INCOMPLETE)
    same = row is not None and row.provider_subscription_id == remote.id
    if row is not None and not same and remote.created < row.provider_created_at:
        log.info("Subscription %s is older than the viewer's current one; ignored", remote.id)
        return row
    before = _Before.of(row if same else None)
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
    _tell_viewer(session, user, row, before, offer)
    return row


@dataclass(frozen=True, slots=True)
class _Before:
    status: SubscriptionStatus | None
    cancel_at_period_end: bool

    @classmethod
    def of(cls, row: Subscription | None) -> "_Before":
        if row is None:
            return cls(None, False)
        return cls(row.status, row.cancel_at_period_end)


def _tell_viewer(
    session: Session, user: User, row: Subscription, before: _Before, offer: PlanOffer
) -> None:
    """Emails for the changes a viewer should hear about (once each: only on the change)."""
    if row.status == SubscriptionStatus.ACTIVE and before.status in (
        None,
        SubscriptionStatus.INCOMPLETE,
    ):
        queue_email_in(
            session,
            "subscription_started",
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
            "cancellation_confirmed",
            user,
            plan=offer.name,
            access_until=_date(access_until),
        )


def _date(moment: datetime) -> str:
    return moment.date().isoformat()


def _payment_refs(data: dict[str, Any]) -> list[str]:
    """The charge and payment intent of an invoice, in any API version's shape."""
    refs = [data.get("charge"), data.get("payment_intent")]
    for payment in (data.get("payments") or {}).get("data") or []:
        inner = payment.get("payment") or {}
        refs += [inner.get("charge"), inner.get("payment_intent")]
    return [str(ref.get("id") if isinstance(ref, dict) else ref) for ref in refs if ref]


def record_invoice(
    session: Session, data: dict[str, Any], status: PaymentStatus, settings: Settings
) -> Payment | None:
    user = user_of_customer(session, str(data.get("customer") or ""))
    if user is None:
        log.warning("Invoice %s belongs to no viewer here; ignored", data.get("id"))
        return None
    refs = _payment_refs(data)
    payment: Payment | None = session.scalar(_PAYMENT, {"invoice": str(data["id"]), "refs": refs})
    if payment is None:
        payment = Payment(user_id=user.id, status=PaymentStatus.PENDING, amount=0)
        session.add(payment)
    before = payment.status
    payment.provider_payment_id = str(data["id"])
    payment.provider_charge_id = payment.provider_charge_id or (refs[0] if refs else None)
    payment.provider_subscription_id = _invoice_subscription(data)
    paid = data.get("amount_paid") or 0
    payment.amount = int(
        paid if status == PaymentStatus.SUCCEEDED else data.get("amount_due") or paid
    )
    payment.currency = str(data.get("currency") or settings.currency)
    payment.description = _describe(data, settings)
    if PAYMENT_PROGRESS.index(status) > PAYMENT_PROGRESS.index(payment.status):
        payment.status = status
    if status == PaymentStatus.SUCCEEDED and payment.paid_at is None:
        paid_at = (data.get("status_transitions") or {}).get("paid_at")
        payment.paid_at = timestamp(paid_at) if paid_at else utcnow()
    session.flush()
    if payment.status != before:
        _tell_payment(session, user, payment, data, settings)
    return payment


def _invoice_offer(data: dict[str, Any], settings: Settings) -> PlanOffer | None:
    """The plan an invoice is for, from its lines' prices (in any API version's shape)."""
    for line in (data.get("lines") or {}).get("data") or []:
        pricing = line.get("pricing") or {}
        price = line.get("price") or (pricing.get("price_details") or {}).get("price") or {}
        price_id = price.get("id") if isinstance(price, dict) else price
        offer = plans_from(settings).by_price(str(price_id or ""))
        if offer is not None:
            return offer
    return None


def _describe(data: dict[str, Any], settings: Settings) -> str:
    offer = _invoice_offer(data, settings)
    if offer is not None:
        return f"Kush Films {offer.name}, monthly"
    for line in (data.get("lines") or {}).get("data") or []:
        if line.get("description"):
            return str(line["description"])[:255]
    return str(data.get("description") or "Kush Films subscription")[:255]


def _tell_payment(
    session: Session,
    user: User,
    payment: Payment,
    data: dict[str, Any],
    settings: Settings,
) -> None:
    amount = money(payment.amount, payment.currency)
    offer = _invoice_offer(data, settings)
    plan = offer.name if offer is not None else payment.description
    if payment.status == PaymentStatus.SUCCEEDED:
        lines = (data.get("lines") or {}).get("data") or [{}]
        period = lines[0].get("period") or {}
        queue_email_in(
            session,
            "payment_receipt",
            user,
            plan=plan,
            amount=amount,
            currency=payment.currency,
            payment_id=payment.provider_payment_id,
            period_start=_date(timestamp(period["start"])) if period.get("start") else "",
            period_end=_date(timestamp(period["end"])) if period.get("end") else "",
            paid_at=payment.paid_at,
        )
    elif payment.status == PaymentStatus.FAILED:
        next_try = data.get("next_payment_attempt")
        grace_end = utcnow() + timedelta(days=settings.past_due_grace_days)
        queue_email_in(
            session,
            "payment_failed",
            user,
            amount=amount,
            plan=plan,
            next_attempt=_date(timestamp(next_try)) if next_try else None,
            access_until=_date(grace_end),
        )


def record_refund(session: Session, data: dict[str, Any]) -> Payment | None:
    """A refunded charge: its payment becomes REFUNDED, even if the invoice's own
    events have not arrived yet (the payment is made now and completed by them)."""
    if not data.get("refunded"):
        return None  # a partial refund: the payment stands
    refs = [str(data["id"])] + ([str(data["payment_intent"])] if data.get("payment_intent") else [])
    invoice = data.get("invoice")
    customer = str(data.get("customer") or "")
    _lock(session, _LOCK_CUSTOMER, {"customer": customer})  # before the payment is read
    payment: Payment | None = session.scalar(
        _PAYMENT, {"invoice": str(invoice) if invoice else None, "refs": refs}
    )
    if payment is None:
        user = user_of_customer(session, customer)
        if user is None:
            log.warning("Charge %s belongs to no viewer here; ignored", data.get("id"))
            return None
        payment = Payment(
            user_id=user.id,
            provider_payment_id=str(invoice or f"charge:{data['id']}"),
            provider_charge_id=refs[-1] if data.get("payment_intent") else refs[0],
            amount=int(data.get("amount") or 0),
            currency=str(data.get("currency") or "usd"),
            status=PaymentStatus.REFUNDED,
            description=str(data.get("description") or "Kush Films subscription")[:255],
        )
        session.add(payment)
    payment.status = PaymentStatus.REFUNDED
    session.flush()
    return payment
