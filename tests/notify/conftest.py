"""A real SMTP server (aiosmtpd) on loopback, and a job queue the tests run by hand.

``mailroom(**settings)`` gives a queue of its own (SQLite beside the test's files) on
the backend's database; its write sessions queue there, and ``run()`` executes
what is queued exactly as a worker does (``huey.execute``: retries included).
"""

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from kushfilms.accounts import service as accounts
from kushfilms.accounts.passwords import PasswordHasher
from kushfilms.db import Database, transaction
from kushfilms.jobs import all_jobs
from kushfilms.kit.clock import utcnow
from kushfilms.models import Plan, Subscription, SubscriptionStatus, User
from kushfilms.notify.service import SEND_EMAIL
from kushfilms.worker.context import JobContext, open_context
from kushfilms.worker.queue import Jobs
from tests.conftest import PASSWORD, Backend, make_settings

PUBLIC_URL = "https://films.example"
DAY = timedelta(days=1)
FAR_FUTURE = datetime(2100, 1, 1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def parse(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


@dataclass
class Inbox:
    """What the SMTP server received; addresses in ``refuse`` get a 550."""

    port: int
    received: list[tuple[Envelope, EmailMessage]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[EmailMessage]:
        return [message for _, message in self.received]

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook names
        self, _server: SMTP, _session: Session, envelope: Envelope, address: str, _options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, _server: SMTP, _session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        self.received.append((envelope, parse(content)))
        return "250 Message accepted"


def start_smtp(port: int) -> tuple[Controller, Inbox]:
    inbox = Inbox(port)
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, inbox


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[Inbox]:
    controller, inbox = start_smtp(free_port())
    yield inbox
    controller.stop()


@pytest.fixture
def inbox(smtp_server: Inbox) -> Inbox:
    smtp_server.received.clear()
    smtp_server.refuse.clear()
    return smtp_server


@dataclass
class Mail:
    """A job queue of the test's own, on the backend's database; its jobs run on the
    test's event loop, with the context a worker would give them."""

    context: JobContext

    @property
    def jobs(self) -> Jobs:
        return self.context.jobs

    @property
    def db(self) -> Database:
        return self.context.db

    @property
    def settings(self) -> Any:
        return self.jobs.settings

    def queued(self) -> list[tuple[Any, ...]]:
        """The arguments of each email waiting to be sent: (kind, user id, context, id)."""
        return [tuple(task.args) for task in self.jobs.huey.pending() if task.name == SEND_EMAIL]

    def retrying(self) -> list[Any]:
        return list(self.jobs.huey.scheduled())

    async def run(self) -> int:
        """Run every queued job as a worker would; returns how many ran."""
        return await asyncio.to_thread(self._run_queued)

    async def run_retries(self) -> int:
        """Run the jobs waiting to be retried, without waiting for their time."""
        return await asyncio.to_thread(self._run_retries)

    def _run_queued(self) -> int:
        huey = self.jobs.huey
        ran = 0
        while (task := huey.dequeue()) is not None:
            huey.execute(task)
            ran += 1
        return ran

    def _run_retries(self) -> int:
        huey = self.jobs.huey
        tasks = huey.read_schedule(FAR_FUTURE)
        for task in tasks:
            huey.execute(task, timestamp=task.eta)
        return len(tasks)

    async def add_user(self, name: str = "Eve", email: str | None = None) -> User:
        async with transaction(self.db.writer) as session:
            return await accounts.register(
                session,
                email=email or f"viewer-{uuid.uuid4().hex[:8]}@example.com",
                password=PASSWORD,
                name=name,
                hasher=PasswordHasher.from_settings(self.settings),
            )

    async def subscribe(
        self,
        user: User | None = None,
        *,
        ends_in: timedelta,
        plan: Plan = Plan.PREMIUM,
        status: SubscriptionStatus = SubscriptionStatus.ACTIVE,
        **fields: Any,
    ) -> Subscription:
        """A subscription (of a new viewer unless given), as the provider would leave it."""
        user = user or await self.add_user()
        began = utcnow() + ends_in - 30 * DAY
        async with transaction(self.db.writer) as session:
            subscription = Subscription(
                user_id=user.id,
                plan=plan,
                status=status,
                provider_subscription_id=f"sub_{uuid.uuid4().hex}",
                current_period_start=began,
                current_period_end=began + 30 * DAY,
                started_at=began,
                provider_created_at=began,
                **fields,
            )
            session.add(subscription)
        return subscription


Mailroom = Callable[..., Awaitable[Mail]]


@pytest.fixture
async def mailroom(
    env: Backend, client: httpx.AsyncClient, tmp_path: Path, smtp_server: Inbox
) -> AsyncIterator[Mailroom]:
    """``await mailroom(**settings)``: a Mail whose emails go to the test SMTP server
    unless the settings say otherwise."""
    made: list[Mail] = []

    async def make(**overrides: Any) -> Mail:
        values = {
            "database_url": env.settings.database_url,
            "public_url": PUBLIC_URL,
            "smtp_url": smtp_server.url,
            **overrides,
        }
        data_dir = tmp_path / f"mail-{len(made)}"
        context = open_context(make_settings(data_dir, **values), all_jobs())
        context.run_on_this_loop()
        made.append(Mail(context))
        return made[-1]

    yield make
    for each in made:
        await each.context.aclose()
