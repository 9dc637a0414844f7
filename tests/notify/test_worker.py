"""Emails through the real `kushfilms worker`, within a minute: the welcome email on
registering, and the renewal reminder its housekeeping queues."""

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD, Backend, register, settings_environment
from tests.notify.conftest import DAY, Mailroom, parse

WITHIN_SECONDS = 60.0


async def delivered_to(mail_dir: Path, address: str) -> EmailMessage:
    """The email the worker wrote for ``address`` (the test worker's default backend: files)."""
    deadline = time.monotonic() + WITHIN_SECONDS
    while time.monotonic() < deadline:
        for path in mail_dir.glob("*.eml") if mail_dir.exists() else []:
            message = parse(path.read_bytes())
            if message["To"].addresses[0].addr_spec == address:
                return message
        await asyncio.sleep(0.1)
    raise AssertionError(f"no email to {address} within {WITHIN_SECONDS:.0f} s")


async def test_registering_through_the_api_sends_a_welcome_email(
    client: httpx.AsyncClient, env: Backend, job_worker: subprocess.Popen[bytes]
) -> None:
    email = f"welcome-{uuid.uuid4().hex[:8]}@example.com"

    await register(client, email=email, name="<i>Ada</i>")

    message = await delivered_to(env.settings.data_dir / "mail", email)
    assert message["Subject"] == "Welcome to Kush Films"
    assert message["X-Kushfilms-Email"] == "welcome"
    assert "Welcome, &lt;i&gt;Ada&lt;/i&gt;!" in message.get_body(("html",)).get_content()
    assert "Welcome, <i>Ada</i>!" in message.get_body(("plain",)).get_content()
    assert job_worker.poll() is None


async def test_registering_on_the_page_sends_a_welcome_email(
    client: httpx.AsyncClient, env: Backend, job_worker: subprocess.Popen[bytes]
) -> None:
    email = f"page-{uuid.uuid4().hex[:8]}@example.com"
    page = await client.get("/register")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token

    response = await client.post(
        "/register",
        data={"name": "Grace", "email": email, "password": PASSWORD, "csrf_token": token[1]},
    )

    assert response.status_code == 303
    message = await delivered_to(env.settings.data_dir / "mail", email)
    assert "Welcome, Grace!" in message.get_body(("plain",)).get_content()


@pytest.fixture
def quick_worker(env: Backend) -> Iterator[subprocess.Popen[bytes]]:
    """A worker of its own that keeps house every second rather than every minute."""
    environment = {**settings_environment(env.settings), "KF_JOB_LEASE_SECONDS": "2"}
    process = subprocess.Popen(
        [sys.executable, "-m", "kushfilms", "worker"], env=environment, start_new_session=True
    )
    yield process
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=30)


async def test_the_worker_reminds_subscribers_before_renewal(
    mailroom: Mailroom, env: Backend, quick_worker: subprocess.Popen[bytes]
) -> None:
    mail = await mailroom()
    user = await mail.add_user()
    await mail.subscribe(user, ends_in=2 * DAY)
    later = await mail.add_user()
    await mail.subscribe(later, ends_in=10 * DAY)

    message = await delivered_to(env.settings.data_dir / "mail", user.email)

    assert message["X-Kushfilms-Email"] == "renewal_reminder"
    assert message["Subject"].startswith("Your Premium plan renews on ")
    assert not any(
        later.email in path.read_text() for path in (env.settings.data_dir / "mail").glob("*")
    )
    assert quick_worker.poll() is None
