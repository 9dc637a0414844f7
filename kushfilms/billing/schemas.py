import uuid
from datetime import datetime

from pydantic import Field

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
