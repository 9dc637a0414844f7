"""What billing's routes and pages need from the request: the payment provider in use
and the address that payment pages send viewers back to."""

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.billing import service
from kushfilms.billing.provider import PaymentProvider
from kushfilms.deps import settings_of


def provider(request: Request, session: AsyncSession) -> PaymentProvider:
    """Stripe when its keys are set, else the built-in local checkout."""
    return service.provider_for(settings_of(request), session, request.app.state.stripe)


def base_url(request: Request) -> str:
    """Where payment pages send viewers back to: KF_PUBLIC_URL, or this request's site."""
    return settings_of(request).public_url.rstrip("/") or str(request.base_url).rstrip("/")
