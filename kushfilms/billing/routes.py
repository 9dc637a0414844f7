"""The billing API: plans, subscriptions, payments, and Stripe's webhook."""

import json
import logging
from collections.abc import Callable
from typing import Annotated, Any

import stripe
from fastapi import APIRouter, Header, Query, Request
from pydantic import BeforeValidator
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from kushfilms.accounts.deps import CurrentUser
from kushfilms.billing import events, service
from kushfilms.billing.deps import Provider, base_url
from kushfilms.billing.plans import plans_from
from kushfilms.billing.provider import PaymentProvider
from kushfilms.billing.schemas import (
    ChangePreviewOut,
    CheckoutOut,
    PaymentOut,
    PlanChange,
    PlanChoice,
    PlanOut,
    PortalOut,
    SubscriptionStatusOut,
    WebhookOut,
)
from kushfilms.config import Settings
from kushfilms.deps import DbSession, PageQuery, ReadSession, settings_of
from kushfilms.errors import COMMON_ERRORS, BadRequest, KushError, error_responses
from kushfilms.kit.pagination import Page, to_page
from kushfilms.models import Plan, User
from kushfilms.state import app_state

log = logging.getLogger(__name__)

router = APIRouter(tags=["billing"], responses=error_responses(*COMMON_ERRORS))
SIGNED_IN = error_responses(401)


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


class BadSignature(BadRequest):
    code = "invalid_signature"
    message = "The Stripe-Signature header is missing, wrong or too old."


class WebhookFailed(KushError):
    status = 500
    code = "webhook_failed"
    message = "The event could not be applied; nothing was changed. Send it again."


@router.get("/api/plans")
async def list_plans(request: Request) -> list[PlanOut]:
    """The plans on sale, cheapest first."""
    return [PlanOut.model_validate(offer) for offer in plans_from(settings_of(request))]


@router.post(
    "/api/subscriptions/create-checkout",
    responses=error_responses(401, 403, 409, 502),
)
async def create_checkout(
    request: Request, body: PlanChoice, user: CurrentUser, session: DbSession, provider: Provider
) -> CheckoutOut:
    """Start paying for a plan: send the viewer to ``checkout_url``. Refused with 403
    `email_not_verified` until the viewer confirmed their address (unless
    KF_REQUIRE_VERIFIED_EMAIL_TO_SUBSCRIBE=false). The plan starts
    when the payment goes through (the provider's events say so)."""
    url = await service.start_checkout(
        session,
        provider,
        settings_of(request),
        user=user,
        plan=body.plan,
        base_url=base_url(request),
    )
    return CheckoutOut(checkout_url=url)


async def _status(session: AsyncSession, request: Request, user: User) -> SubscriptionStatusOut:
    found = await service.status(session, settings_of(request), user=user)
    held = found.subscription
    return SubscriptionStatusOut(
        plan=found.plan,
        status=held.status if held else None,
        subscribed_plan=held.plan if held else None,
        scheduled_plan=held.scheduled_plan if held else None,
        current_period_start=held.current_period_start if held else None,
        current_period_end=held.current_period_end if held else None,
        cancel_at_period_end=held.cancel_at_period_end if held else False,
        next_bill_at=found.next_bill_at,
        next_bill_amount=found.next_bill_amount,
        currency=found.offer.currency,
        max_height=found.offer.max_height,
        streams=found.offer.streams,
    )


@router.get("/api/subscriptions/status", responses=SIGNED_IN)
async def subscription_status(
    request: Request, user: CurrentUser, session: ReadSession
) -> SubscriptionStatusOut:
    """The viewer's plan now, and their subscription's state."""
    return await _status(session, request, user)


@router.post("/api/subscriptions/cancel", responses=error_responses(401, 404, 502))
async def cancel_subscription(
    request: Request, user: CurrentUser, session: DbSession, provider: Provider
) -> SubscriptionStatusOut:
    """Cancel at the end of the paid period (the plan stays until then)."""
    settings = settings_of(request)
    await service.cancel(session, provider, settings, user=user)
    return await _status(session, request, user)


@router.post("/api/subscriptions/resume", responses=error_responses(401, 404, 409, 502))
async def resume_subscription(
    request: Request, user: CurrentUser, session: DbSession, provider: Provider
) -> SubscriptionStatusOut:
    """Take back a cancellation while the paid period lasts."""
    settings = settings_of(request)
    await service.resume(session, provider, settings, user=user)
    return await _status(session, request, user)


@router.get("/api/subscriptions/change-preview", responses=error_responses(401, 404, 409, 502))
async def preview_plan_change(
    request: Request,
    user: CurrentUser,
    session: ReadSession,
    provider: Provider,
    plan: Annotated[
        Plan, BeforeValidator(_upper), Query(description="BASIC or PREMIUM (any case)")
    ],
) -> ChangePreviewOut:
    """What changing to ``plan`` would charge now and bill next, before anything
    changes (Stripe's invoice preview, or the local checkout's own sum). 404
    `no_subscription`, 409 `same_plan`, 422 `not_a_paid_plan` for FREE."""
    found = await service.preview_change(
        session, provider, settings_of(request), user=user, plan=plan
    )
    return ChangePreviewOut.of(found)


@router.post("/api/subscriptions/change", responses=error_responses(401, 404, 409, 502))
async def change_subscription(
    request: Request, body: PlanChange, user: CurrentUser, session: DbSession, provider: Provider
) -> SubscriptionStatusOut:
    """Upgrade now (the rest of the period is charged pro rata: with a preview's
    ``proration_date``, exactly the amount it showed) or downgrade from the next
    period. 409 `same_plan`, `preview_expired`; 422 `invalid_proration_date`."""
    settings = settings_of(request)
    await service.change(
        session,
        provider,
        settings,
        user=user,
        plan=body.plan,
        proration_date=body.proration_date,
    )
    return await _status(session, request, user)


@router.post("/api/subscriptions/portal", responses=error_responses(401, 404, 502))
async def billing_portal(request: Request, user: CurrentUser, provider: Provider) -> PortalOut:
    """A link to the payment provider's billing portal (cards, invoices)."""
    url = await service.portal(provider, user=user, base_url=base_url(request))
    return PortalOut(url=url)


@router.get("/api/user/payments", responses=SIGNED_IN)
async def list_payments(
    user: CurrentUser, session: ReadSession, page: PageQuery
) -> Page[PaymentOut]:
    """The viewer's payments, newest first."""
    return to_page(await service.payments(session, user=user, page=page), PaymentOut.of)


@router.post("/api/webhooks/stripe", responses=error_responses(400, 500))
async def stripe_webhook(
    request: Request,
    provider: Provider,
    stripe_signature: Annotated[str | None, Header()] = None,
) -> WebhookOut:
    """Stripe's events, verified by their signature and applied exactly once."""
    settings = settings_of(request)
    db = app_state(request).db
    secret = settings.stripe_webhook_secret.get_secret_value()
    payload = await request.body()
    if not secret or not stripe_signature:
        raise BadSignature()
    event = _event_of(payload)  # first: the SDK fails on bodies that are not an object
    try:
        stripe.Webhook.construct_event(
            payload, stripe_signature, secret, tolerance=settings.stripe_webhook_tolerance
        )
    except stripe.SignatureVerificationError as error:
        raise BadSignature() from error
    try:
        work = await _application(provider, event, settings)
        applied = await db.run_write(work)
    except KushError as error:
        log.error("Stripe event %s (%s) failed: %s", event["id"], event["type"], error.detail)
        raise WebhookFailed() from error
    except Exception as error:
        log.exception("Stripe event %s (%s) failed", event["id"], event["type"])
        raise WebhookFailed() from error
    return WebhookOut(received=True, duplicate=not applied)


async def _application(
    provider: PaymentProvider, event: dict[str, Any], settings: Settings
) -> Callable[[Session], bool]:
    """The work that applies the event. Stripe is asked before the write begins, so
    that no lock waits on the network; the local checkout's records are read in the
    applying transaction itself."""
    read = await provider.prepare(event)
    return lambda session: events.apply(session, read(session), settings)


def _event_of(payload: bytes) -> dict[str, Any]:
    """The body as an event: an object with an id, a type and a data object."""
    try:
        event = json.loads(payload)
    except ValueError as error:
        raise BadRequest("The body is not a Stripe event.") from error
    data = event.get("data") if isinstance(event, dict) else None
    if not (
        isinstance(data, dict)
        and isinstance(data.get("object"), dict)
        and {"id", "type"} <= event.keys()
    ):
        raise BadRequest("The body is not a Stripe event.")
    found: dict[str, Any] = event
    return found
