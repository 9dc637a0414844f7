"""What billing's routes and pages need from the request: the payment provider in use,
the viewer's stream registry, and the address that payment pages send viewers back to.

The provider is chosen here and nowhere else: Stripe when its keys are set (its
client made once for the app by :func:`open_stripe`), else the built-in local
checkout, which works in the request's write transaction.
"""

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.billing.local import LocalProvider
from kushfilms.billing.provider import PaymentProvider
from kushfilms.billing.streams import StreamRegistry, stream_registry
from kushfilms.billing.stripe_provider import StripeProvider
from kushfilms.config import Settings
from kushfilms.deps import DbSession, settings_of
from kushfilms.state import app_state


def open_stripe(settings: Settings) -> StripeProvider | None:
    """Stripe's client when its keys are set, for ``create_app`` to keep on the app
    (it holds a pool of connections, closed when the app stops); None without keys."""
    return StripeProvider(settings) if settings.uses_stripe else None


# Dependencies are coroutines: FastAPI runs plain functions in a thread pool.
async def _provider(request: Request, session: DbSession) -> PaymentProvider:
    # A session opens no connection until it is used: asking for one costs a
    # request that never needs the local checkout (Stripe's webhook) next to nothing.
    stripe = app_state(request).stripe
    return stripe if stripe is not None else LocalProvider(session, settings_of(request))


def registry_for(request: Request, session: AsyncSession) -> StreamRegistry:
    """The stream registry over ``session`` (which it writes in, without Redis)."""
    redis = app_state(request).redis
    idle = settings_of(request).stream_idle_seconds
    return stream_registry(session, redis=redis, idle_seconds=idle)


async def _registry(request: Request, session: DbSession) -> StreamRegistry:
    return registry_for(request, session)


# The payment provider in use; the local checkout writes in the request's transaction.
Provider = Annotated[PaymentProvider, Depends(_provider)]
# The request's stream registry; with the database it writes in the request's transaction.
Streams = Annotated[StreamRegistry, Depends(_registry)]


def base_url(request: Request) -> str:
    """Where payment pages send viewers back to: KF_PUBLIC_URL, or this request's site."""
    return settings_of(request).public_url.rstrip("/") or str(request.base_url).rstrip("/")
