"""Stripe's objects read into typed values: subscriptions, invoices, refunded charges
and completed checkouts, in the shape of any API version we have met.

Both payment providers speak these shapes (the local checkout keeps Stripe-shaped
records), so everything that reads a field of Stripe's is here; what billing
does with the values is in :mod:`kushfilms.billing.events`.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kushfilms.billing.plans import PlanOffer, Plans
from kushfilms.models import SubscriptionStatus

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
HANDLED = SUBSCRIPTION_EVENTS | {
    "checkout.session.completed",
    "invoice.paid",
    "invoice.payment_failed",
    "charge.refunded",
}
DESCRIPTION_LENGTH = 255  # as long as payments.description


def timestamp(value: Any) -> datetime:
    """A Stripe timestamp (Unix seconds) as an aware datetime."""
    return datetime.fromtimestamp(int(value or 0), tz=UTC)


def _id_of(value: Any) -> Any:
    """An id, whether the object it names is expanded or not."""
    return value.get("id") if isinstance(value, dict) else value


def as_uuid(value: object) -> uuid.UUID | None:
    """A viewer's id as we wrote it into Stripe's objects; None for anything else."""
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class ProviderSubscription:
    """A subscription as the provider holds it (wherever its API version put the
    billing period: on the subscription or on its items)."""

    id: str
    customer: str
    status: str  # Stripe's: active, trialing, past_due, unpaid, canceled, incomplete, ...
    price_id: str
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    created: datetime
    ended_at: datetime | None = None
    user_id: str | None = None  # from the metadata we set at checkout

    @classmethod
    def from_stripe(cls, data: dict[str, Any]) -> "ProviderSubscription":
        items = (data.get("items") or {}).get("data") or [{}]
        item = items[0]
        price = item.get("price") or {}
        start = data.get("current_period_start") or item.get("current_period_start")
        end = data.get("current_period_end") or item.get("current_period_end")
        return cls(
            id=data["id"],
            customer=str(_id_of(data.get("customer")) or ""),
            status=str(data.get("status", "")),
            price_id=str(price.get("id", "") if isinstance(price, dict) else price),
            current_period_start=timestamp(start or data.get("created")),
            current_period_end=timestamp(end or data.get("created")),
            cancel_at_period_end=bool(data.get("cancel_at_period_end")),
            created=timestamp(data.get("created")),
            ended_at=timestamp(data["ended_at"]) if data.get("ended_at") else None,
            user_id=(data.get("metadata") or {}).get("user_id"),
        )

    @property
    def our_status(self) -> SubscriptionStatus:
        return STATUS.get(self.status, SubscriptionStatus.INCOMPLETE)


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


def subscription_of_event(event: dict[str, Any]) -> str | None:
    """The subscription an event concerns, if any."""
    kind, data = event["type"], event["data"]["object"]
    if kind in SUBSCRIPTION_EVENTS:
        return str(data["id"])
    if kind == "checkout.session.completed" or kind.startswith("invoice."):
        return invoice_subscription(data)
    return None


def invoice_subscription(data: dict[str, Any]) -> str | None:
    """The subscription of an invoice or checkout session, in any API version's shape."""
    found = data.get("subscription")
    if not found:
        parent = data.get("parent") or {}
        found = (parent.get("subscription_details") or {}).get("subscription")
    found = _id_of(found)
    return str(found) if found else None


def payment_refs(data: dict[str, Any]) -> list[str]:
    """The charge and payment intent of an invoice, in any API version's shape."""
    refs = [data.get("charge"), data.get("payment_intent")]
    for payment in (data.get("payments") or {}).get("data") or []:
        inner = payment.get("payment") or {}
        refs += [inner.get("charge"), inner.get("payment_intent")]
    return [str(_id_of(ref)) for ref in refs if ref]


@dataclass(frozen=True, slots=True)
class CompletedCheckout:
    customer: str | None
    user_id: uuid.UUID | None  # the viewer who started it (its client_reference_id)

    @classmethod
    def from_stripe(cls, data: dict[str, Any]) -> "CompletedCheckout":
        customer = data.get("customer")
        return cls(str(customer) if customer else None, as_uuid(data.get("client_reference_id")))


def _is_proration(line: dict[str, Any]) -> bool:
    """Whether an invoice line is a proration: flagged on the line before Stripe's API of
    2025-03-31, on its parent's subscription item (or invoice item) details since."""
    parent = line.get("parent") or {}
    details = parent.get("subscription_item_details") or parent.get("invoice_item_details") or {}
    return bool(line.get("proration") or details.get("proration"))


@dataclass(frozen=True, slots=True)
class Proration:
    """What a change of price charges at once: the prorated lines of an invoice (or of
    a preview of one), which credit the old price's unused time and charge the new
    price's remaining time, from the proration date to the period's end."""

    amount: int  # the lines' sum, in the currency's smallest unit
    currency: str | None
    start: datetime  # the proration date
    end: datetime  # the period's end
    price_id: str | None  # of the line that charges the new price

    @classmethod
    def from_stripe(cls, data: dict[str, Any]) -> "Proration | None":
        """The proration of an invoice; None when it has no prorated lines."""
        lines = [
            line for line in (data.get("lines") or {}).get("data") or [] if _is_proration(line)
        ]
        if not lines:
            return None
        periods = [line.get("period") or {} for line in lines]
        charged = [line for line in lines if int(line.get("amount") or 0) > 0]
        return cls(
            amount=sum(int(line.get("amount") or 0) for line in lines),
            currency=str(data["currency"]) if data.get("currency") else None,
            start=timestamp(min(int(period.get("start") or 0) for period in periods)),
            end=timestamp(max(int(period.get("end") or 0) for period in periods)),
            price_id=_line_price(charged[0]) if charged else None,
        )


@dataclass(frozen=True, slots=True)
class Invoice:
    id: str
    customer: str
    subscription: str | None
    refs: list[str]  # its charge and payment intent, first what was charged
    amount_paid: int
    amount_due: int
    currency: str | None
    paid_at: datetime | None
    next_payment_attempt: datetime | None
    period_start: datetime | None  # of its first line
    period_end: datetime | None
    price_ids: list[str]  # of its lines, in order
    line_description: str | None  # of its first line that has one
    description: str | None
    proration: Proration | None  # when it charges a change of plan, and nothing else

    @classmethod
    def from_stripe(cls, data: dict[str, Any]) -> "Invoice":
        lines = (data.get("lines") or {}).get("data") or []
        period = (lines or [{}])[0].get("period") or {}
        paid_at = (data.get("status_transitions") or {}).get("paid_at")
        next_try = data.get("next_payment_attempt")
        described = next((line["description"] for line in lines if line.get("description")), None)
        return cls(
            id=str(data["id"]),
            customer=str(data.get("customer") or ""),
            subscription=invoice_subscription(data),
            refs=payment_refs(data),
            amount_paid=int(data.get("amount_paid") or 0),
            amount_due=int(data.get("amount_due") or 0),
            currency=str(data["currency"]) if data.get("currency") else None,
            paid_at=timestamp(paid_at) if paid_at else None,
            next_payment_attempt=timestamp(next_try) if next_try else None,
            period_start=timestamp(period["start"]) if period.get("start") else None,
            period_end=timestamp(period["end"]) if period.get("end") else None,
            price_ids=[_line_price(line) for line in lines],
            line_description=str(described) if described else None,
            description=str(data["description"]) if data.get("description") else None,
            # A change of plan's own invoice (a renewal may carry prorations as well).
            proration=Proration.from_stripe(data) if all(map(_is_proration, lines)) else None,
        )

    def offer(self, plans: Plans) -> PlanOffer | None:
        """The plan the invoice is for, from its lines' prices: for a change of plan, the
        one changed to (its first line may credit the plan changed from)."""
        charged = [self.proration.price_id] if self.proration and self.proration.price_id else []
        for price_id in charged + self.price_ids:
            offer = plans.by_price(price_id)
            if offer is not None:
                return offer
        return None


def _line_price(line: dict[str, Any]) -> str:
    pricing = line.get("pricing") or {}
    price = line.get("price") or (pricing.get("price_details") or {}).get("price") or {}
    return str(_id_of(price) or "")


@dataclass(frozen=True, slots=True)
class Refund:
    """A charge refunded in full."""

    charge: str
    payment_intent: str | None
    invoice: str | None
    customer: str
    amount: int
    currency: str
    description: str

    @classmethod
    def from_stripe(cls, data: dict[str, Any]) -> "Refund | None":
        """The refund, or None for a partial one (which leaves the payment standing)."""
        if not data.get("refunded"):
            return None
        intent, invoice = data.get("payment_intent"), data.get("invoice")
        return cls(
            charge=str(data["id"]),
            payment_intent=str(intent) if intent else None,
            invoice=str(invoice) if invoice else None,
            customer=str(data.get("customer") or ""),
            amount=int(data.get("amount") or 0),
            currency=str(data.get("currency") or "usd"),
            description=str(data.get("description") or "Kush Films subscription")[
                :DESCRIPTION_LENGTH
            ],
        )

    @property
    def refs(self) -> list[str]:
        """The charge, and the payment intent it belongs to."""
        return [self.charge] + ([self.payment_intent] if self.payment_intent else [])
