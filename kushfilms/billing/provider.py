"""The payment provider boundary: Stripe, or the built-in local checkout.

Both speak Stripe's shapes (read by :mod:`kushfilms.billing.stripe_objects`) and
both send their news as Stripe-shaped events to :mod:`kushfilms.billing.events`.
Which one a site uses is decided once, in :mod:`kushfilms.billing.deps`; the
service asks this interface whatever differs between them.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from kushfilms.billing.stripe_objects import Prepared, Proration, ProviderSubscription
from kushfilms.errors import KushError

# The prefix of the customers the local checkout makes; no Stripe id has it.
LOCAL_CUSTOMER_PREFIX = "cus_local_"

# What applying an event needs from its provider, read inside the applying transaction.
EventReader = Callable[[Session], Prepared]


class ProviderUnavailable(KushError):
    status = 502
    code = "payment_provider_unavailable"
    message = "The payment service did not answer. Please try again in a minute."


class PaymentProvider(Protocol):
    """What billing asks of a payment provider."""

    @property
    def applies_its_events(self) -> bool:
        """Whether a change made here is already applied to this database when the call
        returns: the local checkout tells its events in the caller's transaction. Stripe's
        come later, by webhook, so the caller applies what Stripe answered at once."""
        ...

    def can_bill(self, customer: str) -> bool:
        """Whether a customer id a viewer holds is one this provider can charge (else
        the viewer's next checkout makes a new customer)."""
        ...

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

    async def preview_change(
        self, subscription_id: str, price_id: str, *, proration_date: datetime
    ) -> Proration:
        """What switching the subscription to ``price_id``, prorated as of
        ``proration_date``, would charge at once (nothing changes)."""
        ...

    async def change_price(
        self, subscription_id: str, price_id: str, *, proration_date: datetime | None
    ) -> ProviderSubscription:
        """Switch the subscription to another price: with a ``proration_date``, the rest
        of the period charged at once, prorated as of that moment, exactly as
        :meth:`preview_change` showed it (an upgrade); without, from the next period
        (a downgrade)."""
        ...

    async def portal_url(self, customer: str, return_url: str) -> str:
        """Where the viewer manages cards and invoices."""
        ...

    async def prepare(self, event: dict[str, Any]) -> EventReader:
        """What applying ``event`` needs (the subscription it concerns as it stands
        now), as the first step of the applying transaction. Stripe is asked here,
        before that transaction begins, so no lock waits on the network; the local
        checkout reads its own records inside it."""
        ...
