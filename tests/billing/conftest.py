"""Billing through Stripe: the fake Stripe API on loopback, and a site that sells through it.

The site is an app of its own on the backend's database and media storage,
configured as an operator configures Stripe. It keeps its job queue in a
directory of its own, so the emails it queues can be counted without a worker
(of another test) sending them first.
"""

import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from kushfilms.app import create_app
from kushfilms.db import transaction
from kushfilms.models import Payment, Subscription, User
from kushfilms.notify.service import SEND_EMAIL
from tests.billing.fake_stripe import FakeStripe, Object
from tests.conftest import Backend, make_settings, serving

SECRET_KEY = "sk_test_kushfilms_0123456789"
WEBHOOK_SECRET = "whsec_kushfilms_test_0123456789"
PRICE_BASIC = "price_kf_basic_monthly"
PRICE_PREMIUM = "price_kf_premium_monthly"
PRICE_RETIRED = "price_kf_retired"  # on sale at Stripe, sold by no plan of ours
WEBHOOK = "/api/webhooks/stripe"
# stripe 16.1's HTTPXClient posts its form bodies as httpx's deprecated data=<str>;
# the warning is the SDK's, and only the tests turn it into an error.
SDK_WARNING = pytest.mark.filterwarnings(
    "ignore:Use 'content=<...>' to upload raw bytes/text content:DeprecationWarning"
)


def stripe_settings(api_base: str, **overrides: Any) -> dict[str, Any]:
    """The settings of a site that sells through Stripe at ``api_base``."""
    return {
        "stripe_secret_key": SECRET_KEY,
        "stripe_webhook_secret": WEBHOOK_SECRET,
        "stripe_price_basic": PRICE_BASIC,
        "stripe_price_premium": PRICE_PREMIUM,
        "stripe_api_base": api_base,
        **overrides,
    }


@dataclass
class FakeStripeServer:
    fake: FakeStripe
    url: str


@pytest.fixture(scope="session")
def stripe_server() -> Iterator[FakeStripeServer]:
    fake = FakeStripe(
        SECRET_KEY,
        WEBHOOK_SECRET,
        prices={PRICE_BASIC: 299, PRICE_PREMIUM: 499, PRICE_RETIRED: 999},
    )
    with serving(fake.app(), name="fake-stripe") as url:
        yield FakeStripeServer(fake, url)


@pytest.fixture(scope="session")
async def stripe_app(
    env: Backend, stripe_server: FakeStripeServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FastAPI]:
    settings = make_settings(
        tmp_path_factory.mktemp(f"stripe-site-{env.name}"),
        database_url=env.settings.database_url,
        storage_url=env.settings.storage_url,
        **stripe_settings(stripe_server.url),
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@dataclass
class StripeSite:
    """The site selling through the fake Stripe: its client, and what tests do with both."""

    http: httpx.AsyncClient
    app: FastAPI
    fake: FakeStripe

    async def deliver(
        self, event: Object, *, signature: str | None = None, body: bytes | None = None
    ) -> httpx.Response:
        """Send an event to our webhook as Stripe does, signed unless told otherwise."""
        payload = json.dumps(event).encode() if body is None else body
        headers = {"Content-Type": "application/json; charset=utf-8"}
        header = self.fake.sign(payload) if signature is None else signature
        if header:
            headers["Stripe-Signature"] = header
        return await self.http.post(WEBHOOK, content=payload, headers=headers)

    async def deliver_all(self, events: list[Object]) -> None:
        for event in events:
            response = await self.deliver(event)
            assert response.status_code == 200, response.text
            assert response.json() == {"received": True, "duplicate": False}

    async def start_checkout(self, viewer: dict[str, Any], plan: str) -> str:
        """The viewer starts paying for ``plan``; returns the checkout session's id."""
        response = await self.http.post(
            "/api/subscriptions/create-checkout", json={"plan": plan}, headers=viewer["headers"]
        )
        assert response.status_code == 200, response.text
        url: str = response.json()["checkout_url"]
        return url.rsplit("/", 1)[1]

    async def subscribe(self, viewer: dict[str, Any], plan: str = "BASIC") -> str:
        """The viewer pays for ``plan`` and Stripe tells us; returns the subscription's id."""
        events = self.fake.complete_checkout(await self.start_checkout(viewer, plan))
        await self.deliver_all(events)
        subscription_id: str = events[1]["data"]["object"]["id"]
        return subscription_id

    async def status(self, viewer: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.get("/api/subscriptions/status", headers=viewer["headers"])
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def payments(self, viewer: dict[str, Any], **query: Any) -> dict[str, Any]:
        response = await self.http.get(
            "/api/user/payments", params=query, headers=viewer["headers"]
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def emails(self) -> list[tuple[str, str]]:
        """The emails queued so far, as (kind, user id)."""
        pending = self.app.state.jobs.huey.pending()
        return [(task.args[0], task.args[1]) for task in pending if task.name == SEND_EMAIL]


@pytest.fixture
async def stripe(
    client: httpx.AsyncClient, stripe_app: FastAPI, stripe_server: FakeStripeServer
) -> AsyncIterator[StripeSite]:
    """The site selling through the fake Stripe, on a clean database (``client`` cleans it)."""
    stripe_app.state.jobs.huey.flush()
    await stripe_app.state.limiter.reset()
    stripe_app.state.cache.clear()
    stripe_server.fake.reset()
    transport = httpx.ASGITransport(
        app=stripe_app, raise_app_exceptions=False, client=("203.0.113.20", 40000)
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield StripeSite(http, stripe_app, stripe_server.fake)


@pytest.fixture
def closed_port() -> str:
    """The address of a port nothing listens on: a payment provider that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def stored(env: Backend, viewer: dict[str, Any]) -> tuple[User, Subscription | None]:
    """The viewer and their subscription as the database holds them."""
    async with transaction(env.app.state.db.writer) as session:
        user = await session.get(User, uuid.UUID(viewer["user"]["id"]))
        assert user is not None
        subscription = await session.scalar(
            select(Subscription).where(Subscription.user_id == user.id)
        )
        return user, subscription


async def payment_rows(env: Backend) -> list[Payment]:
    async with transaction(env.app.state.db.writer) as session:
        return list(await session.scalars(select(Payment)))
