"""The built-in local checkout: subscriptions without Stripe, for trying the platform.

With no KF_STRIPE_SECRET_KEY, checkout sends the viewer to a card form on this
server (/billing/checkout/{id}). The records it keeps are Stripe-shaped
(customers, checkout sessions, subscriptions, invoices) and every change is
told as a Stripe event to the same handler the webhook uses; only this
boundary differs. Test cards, as on Stripe:

- 4242 4242 4242 4242: pays, and every renewal pays;
- 4000 0000 0000 0341: pays now, but renewals fail (the subscription goes past due);
- 4000 0000 0000 0002: declined.

Renewals happen in the worker's housekeeping (:func:`renew_due`).

Each change to a record reads it under a row lock (``SELECT ... FOR UPDATE``),
so that two at once (a checkout paid twice, two upgrades, a cancellation during
a renewal) happen one after the other, the second seeing what the first did.
"""

import calendar
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urljoin

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from kushfilms.billing import events
from kushfilms.billing import local_invoices as invoices
from kushfilms.billing import local_records as records
from kushfilms.billing.local_invoices import RETRY_DAYS
from kushfilms.billing.plans import plans_from
from kushfilms.billing.provider import LOCAL_CUSTOMER_PREFIX, EventReader
from kushfilms.billing.stripe_objects import (
    Prepared,
    Proration,
    ProviderSubscription,
    subscription_of_event,
    timestamp,
)
from kushfilms.config import Settings
from kushfilms.errors import Conflict, Unprocessable
from kushfilms.kit.clock import utcnow

PAYS = "4242424242424242"
RENEWALS_FAIL = "4000000000000341"
DECLINED = "4000000000000002"


class CardDeclined(Unprocessable):
    code = "card_declined"
    message = "The card was declined. Try another card."


class CheckoutNotOpen(Conflict):
    code = "checkout_not_open"
    message = "This checkout is already complete or has expired."


def add_month(moment: datetime) -> datetime:
    """The same day next month (or the month's last day), as Stripe bills monthly."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _id(prefix: str) -> str:
    return f"{prefix}_local_{secrets.token_hex(12)}"


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())


def prepare_in(session: Session, event: dict[str, Any]) -> Prepared:
    """What applying ``event`` needs, read inside the transaction that applies it:
    the subscription it concerns, from the records there."""
    subscription_id = subscription_of_event(event)
    if subscription_id is None:
        return Prepared(event, None)
    record = records.read(session, subscription_id, "subscription")
    return Prepared(event, ProviderSubscription.from_stripe(record))


def _apply(session: Session, event: dict[str, Any], settings: Settings) -> bool:
    return events.apply(session, prepare_in(session, event), settings)


def _is_due(data: dict[str, Any], now: datetime) -> bool:
    """Whether a subscription's period is over and it is to be renewed (or ended) now."""
    item = data["items"]["data"][0]
    if data["status"] in ("canceled", "unpaid") or item["current_period_end"] > _unix(now):
        return False
    return not (data["status"] == "past_due" and data.get("retry_at", 0) > _unix(now))


@dataclass
class LocalProvider:
    """The provider interface over this database; works inside the caller's transaction."""

    session: AsyncSession
    settings: Settings

    # --- records -------------------------------------------------------------------
    async def _get(self, object_id: str, kind: str, *, lock: bool = False) -> dict[str, Any]:
        return await self.session.run_sync(records.read, object_id, kind, lock=lock)

    async def _put(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        return await records.write(self.session, kind, data)

    async def _tell(self, kind: str, data: dict[str, Any]) -> None:
        """Send an event to the shared handler, as Stripe's webhook would, and apply it
        now, in this transaction."""
        event = {
            "id": _id("evt"),
            "object": "event",
            "type": kind,
            "created": _unix(utcnow()),
            "data": {"object": data},
        }
        await self.session.run_sync(_apply, event, self.settings)

    # --- the provider interface ------------------------------------------------------
    @property
    def applies_its_events(self) -> bool:
        return True  # each change is told, and applied, before its call returns (_tell)

    def can_bill(self, customer: str) -> bool:  # noqa: ARG002
        # Any: a charge here is a record in this database, whoever made the customer.
        return True

    async def prepare(self, event: dict[str, Any]) -> EventReader:
        return partial(prepare_in, event=event)

    async def create_customer(self, *, email: str, name: str, user_id: str) -> str:
        """The viewer's customer: one per viewer, however many checkouts ask at once
        (as Stripe's is, by the idempotency key we send it)."""
        customer = {
            "id": f"{LOCAL_CUSTOMER_PREFIX}{uuid.UUID(user_id).hex}",
            "object": "customer",
            "email": email,
            "name": name,
            "metadata": {"user_id": user_id},
            "created": _unix(utcnow()),
        }
        await records.add_once(self.session, "customer", customer)
        return str(customer["id"])

    async def create_checkout(
        self,
        *,
        customer: str,
        price_id: str,
        user_id: str,
        success_url: str,
        cancel_url: str,
    ) -> str:
        checkout_id = _id("cs")
        await self._put(
            "checkout_session",
            {
                "id": checkout_id,
                "object": "checkout.session",
                "mode": "subscription",
                "status": "open",
                "customer": customer,
                "client_reference_id": user_id,
                "price": price_id,
                "success_url": success_url,
                "cancel_url": cancel_url,
                "created": _unix(utcnow()),
                "expires_at": _unix(utcnow() + timedelta(hours=24)),
                "subscription": None,
            },
        )
        return urljoin(success_url, f"/billing/checkout/{checkout_id}")

    async def subscription(self, subscription_id: str) -> ProviderSubscription:
        return ProviderSubscription.from_stripe(await self._get(subscription_id, "subscription"))

    async def set_cancel_at_period_end(
        self, subscription_id: str, cancel: bool
    ) -> ProviderSubscription:
        data = await self._get(subscription_id, "subscription", lock=True)
        if data["status"] == "canceled":
            raise Conflict("This subscription has ended; start a new one instead.")
        data["cancel_at_period_end"] = cancel
        data["canceled_at"] = _unix(utcnow()) if cancel else None
        await self._put("subscription", data)
        await self._tell("customer.subscription.updated", data)
        return ProviderSubscription.from_stripe(data)

    def _proration(self, data: dict[str, Any], price_id: str, at: datetime) -> list[dict[str, Any]]:
        """The prorated lines of switching ``data`` to ``price_id`` as of ``at``: none
        unless it is to a dearer plan."""
        plans = plans_from(self.settings)
        item = data["items"]["data"][0]
        old, new = plans.by_price(item["price"]["id"]), plans.by_price(price_id)
        if new is None:
            raise Unprocessable("No plan sells that price.")
        if old is None or new.price_cents <= old.price_cents:
            return []
        return invoices.proration_lines(item, old=old, new=new, at=_unix(at))

    async def preview_change(
        self, subscription_id: str, price_id: str, *, proration_date: datetime
    ) -> Proration:
        data = await self._get(subscription_id, "subscription")
        lines = self._proration(data, price_id, proration_date)
        found = Proration.from_stripe(
            {"currency": self.settings.currency, "lines": {"data": lines}}
        )
        end = data["items"]["data"][0]["current_period_end"]
        empty = Proration(0, self.settings.currency, proration_date, timestamp(end), price_id)
        return found or empty

    async def change_price(
        self, subscription_id: str, price_id: str, *, proration_date: datetime | None
    ) -> ProviderSubscription:
        data = await self._get(subscription_id, "subscription", lock=True)
        lines = [] if proration_date is None else self._proration(data, price_id, proration_date)
        data["items"]["data"][0]["price"] = {"id": price_id}
        data["cancel_at_period_end"] = False
        await self._put("subscription", data)
        if lines:
            await self._invoice(data, lines, reason="subscription_update", paid=True)
        await self._tell("customer.subscription.updated", data)
        return ProviderSubscription.from_stripe(data)

    async def portal_url(self, customer: str, return_url: str) -> str:  # noqa: ARG002
        # Cards and invoices are managed on the account page itself.
        return urljoin(return_url, "/account/subscription")

    # --- the checkout page -----------------------------------------------------------
    async def checkout(self, checkout_id: str) -> dict[str, Any]:
        return await self._get(checkout_id, "checkout_session")

    async def complete_checkout(self, checkout_id: str, *, card_number: str) -> str:
        """Pay with a test card: the subscription starts, and the events are told.
        Returns where to send the viewer (the checkout's success URL).

        The viewer, then the checkout, are locked first: of two payments at once (of
        one checkout, or of two checkouts of one viewer) the second finds the first
        paid, and is refused."""
        found = await self.checkout(checkout_id)
        held = await self.session.run_sync(
            events.lock_viewer, uuid.UUID(found["client_reference_id"])
        )
        checkout = await self._get(checkout_id, "checkout_session", lock=True)
        if checkout["status"] != "open" or checkout["expires_at"] < _unix(utcnow()):
            raise CheckoutNotOpen()
        if held is not None and held.status in events.LIVE:
            raise CheckoutNotOpen(
                "You already have a subscription: change its plan on your account page instead."
            )
        card = "".join(card_number.split())
        if card == DECLINED:
            raise CardDeclined()
        if card not in (PAYS, RENEWALS_FAIL):
            raise CardDeclined(
                "Use a test card: 4242 4242 4242 4242 (pays) or 4000 0000 0000 0341 "
                "(renewals fail). No real card is ever charged here."
            )
        now = utcnow()
        start, end = _unix(now), _unix(add_month(now))
        subscription = {
            "id": _id("sub"),
            "object": "subscription",
            "customer": checkout["customer"],
            "status": "active",
            "created": start,
            "cancel_at_period_end": False,
            "canceled_at": None,
            "ended_at": None,
            "metadata": {"user_id": checkout["client_reference_id"]},
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": _id("si"),
                        "price": {"id": checkout["price"]},
                        "current_period_start": start,
                        "current_period_end": end,
                    }
                ],
            },
            "card_last4": card[-4:],
            "renewals_fail": card == RENEWALS_FAIL,
        }
        await self._put("subscription", subscription)
        checkout.update(status="complete", subscription=subscription["id"])
        await self._put("checkout_session", checkout)
        await self._tell("checkout.session.completed", checkout)
        await self._tell("customer.subscription.created", subscription)
        await self._invoice(
            subscription, self._period_lines(subscription), reason="subscription_create", paid=True
        )
        return str(checkout["success_url"])

    def _period_lines(self, subscription: dict[str, Any]) -> list[dict[str, Any]]:
        """The line that charges the subscription's current period at its plan's price."""
        item = subscription["items"]["data"][0]
        offer = plans_from(self.settings).by_price(item["price"]["id"])
        description = f"Kush Films {offer.name}, monthly" if offer else "Kush Films"
        return [invoices.period_line(item, offer.price_cents if offer else 0, description)]

    async def _invoice(
        self, subscription: dict[str, Any], lines: list[dict[str, Any]], *, reason: str, paid: bool
    ) -> dict[str, Any]:
        invoice = invoices.invoice(
            subscription,
            lines,
            invoice_id=_id("in"),
            charge_id=_id("ch") if paid else None,
            currency=self.settings.currency,
            reason=reason,
            now=_unix(utcnow()),
        )
        await self._put("invoice", invoice)
        await self._tell("invoice.paid" if paid else "invoice.payment_failed", invoice)
        return invoice

    # --- renewals --------------------------------------------------------------------
    async def renew_due(self) -> int:
        """Roll over every local subscription whose period has ended: renew it (paid
        or failed, by its card), or end it when it was set to cancel. Returns how many."""
        now = utcnow()
        found = await records.subscriptions(self.session)
        due = [subscription_id for subscription_id, data in found if _is_due(data, now)]
        changed = 0
        for subscription_id in due:
            # Claimed one by one, and looked at again: another worker may have
            # renewed it since, or may be renewing it now (then it is not ours).
            claimed = await self.session.run_sync(records.claim, subscription_id)
            if claimed is None or not _is_due(claimed, now):
                continue
            await self._roll_over(claimed, now)
            changed += 1
        return changed

    async def _roll_over(self, data: dict[str, Any], now: datetime) -> None:
        item = data["items"]["data"][0]
        if data["cancel_at_period_end"]:
            data.update(status="canceled", ended_at=item["current_period_end"])
            await self._put("subscription", data)
            await self._tell("customer.subscription.deleted", data)
            return
        if data.get("renewals_fail"):
            grace = timedelta(days=self.settings.past_due_grace_days)
            overdue_since = data.get("past_due_since") or item["current_period_end"]
            if now.timestamp() - overdue_since > grace.total_seconds():
                data.update(status="unpaid")
            else:
                data.update(
                    status="past_due",
                    past_due_since=overdue_since,
                    retry_at=_unix(now + timedelta(days=RETRY_DAYS)),
                )
            await self._put("subscription", data)
            await self._invoice(
                data, self._period_lines(data), reason="subscription_cycle", paid=False
            )
            await self._tell("customer.subscription.updated", data)
            return
        start = item["current_period_end"]
        item["current_period_start"] = start
        item["current_period_end"] = _unix(add_month(datetime.fromtimestamp(start, tz=now.tzinfo)))
        data.update(status="active", past_due_since=None, retry_at=None)
        await self._put("subscription", data)
        await self._invoice(data, self._period_lines(data), reason="subscription_cycle", paid=True)
        await self._tell("customer.subscription.updated", data)
