"""The payment provider boundary: Stripe, or the built-in local checkout.

Both speak Stripe's shapes. Subscriptions are read into :class:`ProviderSubscription`
from a Stripe subscription object (whichever API version put the billing
period on the subscription or on its items); both providers send their news
as Stripe-shaped events to :mod:`kushfilms.billing.events`.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from kushfilms.errors import KushError


class ProviderUnavailable(KushError):
    status = 502
    code = "payment_provider_unavailable"
    message = "The payment service did not answer. Please try again in a minute."


@dataclass(frozen=True, slots=True)
class ProviderSubscription:
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
        customer = data.get("customer")
        if isinstance(customer, dict):
            customer = customer.get("id")
        return cls(
            id=data["id"],
            customer=str(customer or ""),
            status=str(data.get("status", "")),
            price_id=str(price.get("id", "") if isinstance(price, dict) else price),
            current_period_start=timestamp(start or data.get("created")),
            current_period_end=timestamp(end or data.get("created")),
            cancel_at_period_end=bool(data.get("cancel_at_period_end")),
            created=timestamp(data.get("created")),
            ended_at=timestamp(data["ended_at"]) if data.get("ended_at") else None,
            user_id=(data.get("metadata") or {}).get("user_id"),
        )


def timestamp(value: Any) -> datetime:
    """A Stripe timestamp (Unix seconds) as an aware datetime."""
    return datetime.fromtimestamp(int(value or 0), tz=UTC)


class PaymentProvider(Protocol):
    """What billing asks of a payment provider."""

    async def create_customer(self, *, email: str, name: str, user_id: str) -> str:
        """A new customer; returns its id."""
        ...

    async def create_checkout(
        self,
        *,
        customer: str,
        price_id: str,
        user_id: str,
        success_url: str,
        cancel_url: str,
    ) -> str:
        """A checkout session for a monthly subscription; returns the URL to send the viewer to."""
        ...

    async def subscription(self, subscription_id: str) -> ProviderSubscription:
        """The subscription as it stands now."""
        ...

    async def set_cancel_at_period_end(
        self, subscription_id: str, cancel: bool
    ) -> ProviderSubscription: ...

    async def change_price(
        self, subscription_id: str, price_id: str, *, prorate: bool
    ) -> ProviderSubscription:
        """Switch the subscription to another price: charged now with proration
        (an upgrade) or from the next period (a downgrade)."""
        ...

    async def portal_url(self, customer: str, return_url: str) -> str:
        """Where the viewer manages cards and invoices."""
        ...

    async def invoice_payments(
        self, *, invoice: str | None = None, payment_intent: str | None = None
    ) -> list[dict[str, Any]]:
        """The payments made against an invoice, or by a payment intent (Stripe's
        invoice payments: what ties a charge to the invoice it paid)."""
        ...
