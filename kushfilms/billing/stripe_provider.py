"""Stripe through its own SDK (async, over httpx), at KF_STRIPE_API_BASE."""

import logging
from datetime import datetime
from typing import Any

import stripe

from kushfilms.billing.provider import LOCAL_CUSTOMER_PREFIX, EventReader, ProviderUnavailable
from kushfilms.billing.stripe_objects import (
    Prepared,
    Proration,
    ProviderSubscription,
    payment_refs,
    subscription_of_event,
    timestamp,
)
from kushfilms.config import Settings
from kushfilms.errors import BadRequest

log = logging.getLogger(__name__)


class StripeProvider:
    def __init__(self, settings: Settings) -> None:
        self.http = stripe.HTTPXClient(timeout=20)
        self.client = stripe.StripeClient(
            settings.stripe_secret_key.get_secret_value(),
            base_addresses={"api": settings.stripe_api_base},
            http_client=self.http,
            max_network_retries=2,
        )

    async def aclose(self) -> None:
        """Close the connections to Stripe (when the app stops)."""
        await self.http.close_async()  # type: ignore[no-untyped-call]  # untyped in the SDK

    @property
    def applies_its_events(self) -> bool:
        return False  # they come by webhook, after the call that caused them

    def can_bill(self, customer: str) -> bool:
        # A customer of the local checkout (a site that ran without Stripe's keys
        # before) means nothing to Stripe: the viewer gets a real one.
        return not customer.startswith(LOCAL_CUSTOMER_PREFIX)

    async def create_customer(self, *, email: str, name: str, user_id: str) -> str:
        customer = await _call(
            self.client.v1.customers.create_async(
                {"email": email, "name": name, "metadata": {"user_id": user_id}},
                {"idempotency_key": f"customer-{user_id}"},
            )
        )
        return str(customer.id)

    async def create_checkout(
        self,
        *,
        customer: str,
        price_id: str,
        user_id: str,
        success_url: str,
        cancel_url: str,
    ) -> str:
        session = await _call(
            self.client.v1.checkout.sessions.create_async(
                {
                    "mode": "subscription",
                    "customer": customer,
                    "client_reference_id": user_id,
                    "line_items": [{"price": price_id, "quantity": 1}],
                    "subscription_data": {"metadata": {"user_id": user_id}},
                    "success_url": success_url,
                    "cancel_url": cancel_url,
                }
            )
        )
        return str(session.url)

    async def subscription(self, subscription_id: str) -> ProviderSubscription:
        found = await _call(self.client.v1.subscriptions.retrieve_async(subscription_id))
        return ProviderSubscription.from_stripe(found.to_dict())

    async def set_cancel_at_period_end(
        self, subscription_id: str, cancel: bool
    ) -> ProviderSubscription:
        updated = await _call(
            self.client.v1.subscriptions.update_async(
                subscription_id, {"cancel_at_period_end": cancel}
            )
        )
        return ProviderSubscription.from_stripe(updated.to_dict())

    async def _item_of(self, subscription_id: str) -> str:
        current = await _call(self.client.v1.subscriptions.retrieve_async(subscription_id))
        return str(current.to_dict()["items"]["data"][0]["id"])

    async def preview_change(
        self, subscription_id: str, price_id: str, *, proration_date: datetime
    ) -> Proration:
        """Stripe's preview of the invoice the change makes at once; its prorated lines
        are what the change charges when made with the same proration date."""
        item = await self._item_of(subscription_id)
        params: Any = {
            "subscription": subscription_id,
            "subscription_details": {
                "items": [{"id": item, "price": price_id}],
                "proration_behavior": "always_invoice",
                "proration_date": int(proration_date.timestamp()),
            },
        }
        preview = await _call(self.client.v1.invoices.create_preview_async(params))
        data = preview.to_dict()
        found = Proration.from_stripe(data)
        end = timestamp(data.get("period_end"))
        return found or Proration(0, data.get("currency"), proration_date, end, price_id)

    async def change_price(
        self, subscription_id: str, price_id: str, *, proration_date: datetime | None
    ) -> ProviderSubscription:
        item = await self._item_of(subscription_id)
        params: Any = {
            "items": [{"id": item, "price": price_id}],
            # An upgrade is charged at once for the rest of the period, prorated as
            # previewed; a downgrade starts with the next invoice.
            "proration_behavior": "none" if proration_date is None else "always_invoice",
            "cancel_at_period_end": False,
        }
        if proration_date is not None:
            params["proration_date"] = int(proration_date.timestamp())
        updated = await _call(self.client.v1.subscriptions.update_async(subscription_id, params))
        return ProviderSubscription.from_stripe(updated.to_dict())

    async def portal_url(self, customer: str, return_url: str) -> str:
        portal = await _call(
            self.client.v1.billing_portal.sessions.create_async(
                {"customer": customer, "return_url": return_url}
            )
        )
        return str(portal.url)

    async def prepare(self, event: dict[str, Any]) -> EventReader:
        subscription_id = subscription_of_event(event)
        remote = await self.subscription(subscription_id) if subscription_id else None
        prepared = Prepared(await self._with_payment_links(event), remote)
        return lambda _: prepared

    async def _with_payment_links(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event, with what ties a payment to its invoice filled in where it lacks it.

        Since Stripe's API of 2025-03-31 an invoice names no charge or payment intent
        (its ``payments`` are left out unless expanded) and a charge names no invoice,
        so a refund could not find the payment it undoes. Stripe's invoice payments
        say which payment intent paid which invoice.
        """
        kind, data = event["type"], event["data"]["object"]
        if kind in ("invoice.paid", "invoice.payment_failed") and not payment_refs(data):
            payments = await self._invoice_payments(invoice=str(data["id"]))
            data = {**data, "payments": {"object": "list", "data": payments}}
        elif kind == "charge.refunded" and not data.get("invoice") and data.get("payment_intent"):
            payments = await self._invoice_payments(payment_intent=str(data["payment_intent"]))
            invoice = payments[0].get("invoice") if payments else None
            if isinstance(invoice, dict):
                invoice = invoice.get("id")
            if not invoice:
                return event
            data = {**data, "invoice": str(invoice)}
        else:
            return event
        return {**event, "data": {**event["data"], "object": data}}

    async def _invoice_payments(
        self, *, invoice: str | None = None, payment_intent: str | None = None
    ) -> list[dict[str, Any]]:
        """The payments made against an invoice, or by a payment intent (Stripe's
        invoice payments: what ties a charge to the invoice it paid)."""
        params: Any = {"limit": 10}
        if invoice:
            params["invoice"] = invoice
        if payment_intent:
            params["payment"] = {"type": "payment_intent", "payment_intent": payment_intent}
        found = await _call(self.client.v1.invoice_payments.list_async(params))
        return [payment.to_dict() for payment in found.data]


async def _call(pending: Any) -> Any:
    """Await a Stripe call; its failures become errors the API can answer with."""
    try:
        return await pending
    except stripe.InvalidRequestError as error:
        log.warning("Stripe refused a request: %s", error.user_message or error)
        raise BadRequest(f"The payment service refused: {error.user_message or error}") from error
    except stripe.StripeError as error:
        log.error("Stripe failed: %s", error)
        raise ProviderUnavailable() from error
