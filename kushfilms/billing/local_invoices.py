"""The local checkout's invoices, in Stripe's shape, so that one reader
(:mod:`kushfilms.billing.stripe_objects`) reads both providers' invoices.

An invoice charges a period at its plan's price, or an upgrade's proration as Stripe
makes it: the old price's unused time credited and the new price's remaining time
charged, each from the proration date to the period's end, by the second, each line
rounded to the cent. A preview of an upgrade is the same lines, not kept.
"""

from typing import Any

from kushfilms.billing.plans import PlanOffer
from kushfilms.billing.stripe_objects import timestamp
from kushfilms.kit.dates import day

Record = dict[str, Any]
RETRY_DAYS = 3  # a failed renewal is tried again after this long


def prorated(cents: int, *, start: int, end: int, at: int) -> int:
    """A monthly price's share of its period from ``at`` (Unix seconds) to the end."""
    return round(cents * max(0, end - at) / max(1, end - start))


def period_line(item: Record, amount: int, description: str) -> Record:
    """A line that charges the subscription item's current period."""
    return {
        "description": description,
        "amount": amount,
        "price": item["price"],
        "period": {"start": item["current_period_start"], "end": item["current_period_end"]},
    }


def proration_lines(item: Record, *, old: PlanOffer, new: PlanOffer, at: int) -> list[Record]:
    """The lines that switch the item from ``old`` to ``new`` as of ``at``."""
    start, end = item["current_period_start"], item["current_period_end"]
    after = day(timestamp(at))

    def line(offer: PlanOffer, sign: int, description: str) -> Record:
        return {
            "description": description,
            "amount": sign * prorated(offer.price_cents, start=start, end=end, at=at),
            "price": {"id": offer.price_id},
            "period": {"start": at, "end": end},
            "parent": {
                "type": "subscription_item_details",
                "subscription_item_details": {"proration": True, "subscription_item": item["id"]},
            },
        }

    return [
        line(old, -1, f"Unused time on {old.name} after {after}"),
        line(new, 1, f"Remaining time on {new.name} after {after}"),
    ]


def invoice(
    subscription: Record,
    lines: list[Record],
    *,
    invoice_id: str,
    charge_id: str | None,
    currency: str,
    reason: str,
    now: int,
) -> Record:
    """An invoice of the subscription for ``lines``: paid when charged (``charge_id``),
    else open, to be tried again."""
    amount = max(0, sum(int(line["amount"]) for line in lines))
    paid = charge_id is not None
    return {
        "id": invoice_id,
        "object": "invoice",
        "customer": subscription["customer"],
        "subscription": subscription["id"],
        "currency": currency,
        "billing_reason": reason,
        "amount_due": amount,
        "amount_paid": amount if paid else 0,
        "status": "paid" if paid else "open",
        "charge": charge_id,
        "created": now,
        "status_transitions": {"paid_at": now if paid else None},
        "next_payment_attempt": None if paid else now + RETRY_DAYS * 86400,
        "lines": {"object": "list", "data": lines},
    }
