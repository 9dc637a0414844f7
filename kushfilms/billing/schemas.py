import uuid
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, Field

from kushfilms.billing.service import ChangePreview
from kushfilms.kit.schema import RequestModel, ResponseModel
from kushfilms.models import Payment, PaymentStatus, Plan, SubscriptionStatus


class PlanOut(ResponseModel):
    plan: Plan
    name: str
    price_cents: int = Field(description="A month, in the currency's smallest unit")
    price: str = Field(description='For people: "$2.99"')
    currency: str
    interval: str
    max_height: int = Field(description="The sharpest quality, by the picture's short side")
    streams: int = Field(description="Devices that may play at the same time")
    ads: bool
    downloads: bool
    early_access: bool
    features: list[str]


class PlanChoice(RequestModel):
    plan: Plan = Field(description="BASIC or PREMIUM")


class PlanChange(PlanChoice):
    proration_date: AwareDatetime | None = Field(
        default=None,
        description="The `proration_date` of `GET /api/subscriptions/change-preview`: an"
        " upgrade is then charged exactly the preview's `amount_due_now`. At most an hour"
        " old (else 409 `preview_expired`); without it the upgrade is prorated from now.",
    )


class ChangePreviewOut(ResponseModel):
    plan: Plan = Field(description="The plan asked for")
    current_plan: Plan = Field(description="The plan paid for now")
    change: Literal["upgrade", "downgrade", "keep"] = Field(
        description="upgrade: starts now, the rest of the period charged pro rata;"
        " downgrade: starts when the period ends, nothing charged or refunded;"
        " keep: takes back a downgrade not yet begun"
    )
    amount_due_now: int = Field(
        description="Charged on confirming, in the currency's smallest unit: the"
        " difference between the plans for the rest of the period, from"
        " `proration_date` to `period_end` (0 unless an upgrade)"
    )
    currency: str
    period_start: datetime = Field(description="The period paid for now")
    period_end: datetime
    proration_date: datetime = Field(
        description="Pass it to `POST /api/subscriptions/change` to be charged this amount"
    )
    starts_at: datetime = Field(description="When the plan asked for becomes the viewer's")
    next_bill_amount: int = Field(description="In the currency's smallest unit")
    next_bill_at: datetime
    resumes: bool = Field(description="The change also takes back a cancellation")

    @classmethod
    def of(cls, preview: ChangePreview) -> "ChangePreviewOut":
        starts = preview.period_end if preview.kind == "downgrade" else preview.proration_date
        return cls(
            plan=preview.plan,
            current_plan=preview.current,
            change=preview.kind,
            amount_due_now=preview.amount_due_now,
            currency=preview.currency,
            period_start=preview.period_start,
            period_end=preview.period_end,
            proration_date=preview.proration_date,
            starts_at=starts,
            next_bill_amount=preview.next_bill_amount,
            next_bill_at=preview.next_bill_at,
            resumes=preview.resumes,
        )


class CheckoutOut(ResponseModel):
    checkout_url: str = Field(description="Send the viewer here to pay")


class PortalOut(ResponseModel):
    url: str = Field(description="Where the viewer manages cards and invoices")


class SubscriptionStatusOut(ResponseModel):
    plan: Plan = Field(description="The plan the viewer has the use of now")
    status: SubscriptionStatus | None = Field(description="Of the subscription, if any")
    subscribed_plan: Plan | None = Field(description="The plan paid for, if any")
    scheduled_plan: Plan | None = Field(description="A downgrade that starts next period")
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    next_bill_at: datetime | None
    next_bill_amount: int | None = Field(description="In the currency's smallest unit")
    currency: str
    max_height: int
    streams: int


class PaymentOut(ResponseModel):
    id: uuid.UUID
    invoice_id: str
    amount: int = Field(description="In the currency's smallest unit")
    currency: str
    status: PaymentStatus
    description: str
    created_at: datetime
    paid_at: datetime | None

    @classmethod
    def of(cls, payment: Payment) -> "PaymentOut":
        return cls(
            id=payment.id,
            invoice_id=payment.provider_payment_id,
            amount=payment.amount,
            currency=payment.currency,
            status=payment.status,
            description=payment.description,
            created_at=payment.created_at,
            paid_at=payment.paid_at,
        )


class WebhookOut(ResponseModel):
    received: bool
    duplicate: bool = Field(description="The event had been applied already")
