"""A forgotten password, a confirmed address and a new address: each by a link sent by
email, through the API and the pages, delivered by a real SMTP server."""

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from kushfilms.accounts.links import LinkPurpose, make_link_token
from kushfilms.app import create_app
from kushfilms.jobs import all_jobs
from kushfilms.kit.clock import utcnow
from kushfilms.models import User
from kushfilms.worker.context import JobContext, open_context
from tests.conftest import PASSWORD, Backend, bearer, make_settings, register
from tests.notify.conftest import PUBLIC_URL, Inbox, inbox, smtp_server  # noqa: F401
from tests.web.test_auth_pages import form_token

NEW_PASSWORD = "a-brand-new-passphrase-42"
LINK = re.compile(re.escape(PUBLIC_URL) + r"(/[\w/-]+\?token=[\w.%-]+)")


@dataclass
class Site:
    """An app of the test's own on the backend's database, with a queue of its own
    whose jobs run here, as a worker would run them, and mail to the test's server."""

    http: httpx.AsyncClient
    context: JobContext
    inbox: Inbox

    async def deliver(self) -> list[EmailMessage]:
        """Run every queued job (a job may queue an email: run that too); the mail sent."""
        huey = self.context.jobs.huey

        def run_all() -> None:
            while (task := huey.dequeue()) is not None:
                huey.execute(task)

        await asyncio.to_thread(run_all)
        sent = self.inbox.messages
        self.inbox.received.clear()
        return sent

    async def link_in(self, to: str) -> str:
        """The path of the one link in the one email just sent to ``to``."""
        [message] = [
            m for m in await self.deliver() if m["To"].endswith(f"<{to}>") or m["To"] == to
        ]
        body = message.get_body(("plain",))
        assert body is not None
        [path] = LINK.findall(body.get_content())
        return str(path)

    async def user(self, email: str) -> User:
        async with self.context.db.reader() as session:
            found = await session.scalar(select(User).where(User.email == email))
        assert found is not None
        return found


@pytest.fixture
async def site(
    env: Backend,
    client: httpx.AsyncClient,
    tmp_path: Any,
    inbox: Inbox,  # noqa: F811
) -> AsyncIterator[Site]:
    settings = make_settings(
        tmp_path,
        database_url=env.settings.database_url,
        public_url=PUBLIC_URL,
        smtp_url=inbox.url,
        require_verified_email_to_subscribe=True,
    )
    app = create_app(settings)
    context = open_context(settings, all_jobs())
    context.run_on_this_loop()
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        transport = httpx.ASGITransport(app=app, client=("203.0.113.20", 40000))
        http = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://testserver")
        )
        yield Site(http, context, inbox)
    await context.aclose()


def token_of(path: str) -> str:
    return httpx.URL(path).params["token"]


async def test_a_forgotten_password_is_reset_once_by_the_emailed_link(site: Site) -> None:
    viewer = await register(site.http, email="adjoa@example.com")
    await site.deliver()  # the welcome
    elsewhere = await site.http.post(
        "/api/auth/login", json={"email": "adjoa@example.com", "password": PASSWORD}
    )

    asked = await site.http.post("/api/auth/password/forgot", json={"email": "ADJOA@example.com"})
    link = await site.link_in("adjoa@example.com")
    reset = await site.http.post(
        "/api/auth/password/reset", json={"token": token_of(link), "password": NEW_PASSWORD}
    )
    again = await site.http.post(
        "/api/auth/password/reset", json={"token": token_of(link), "password": PASSWORD + "x"}
    )
    old = await site.http.post(
        "/api/auth/login", json={"email": "adjoa@example.com", "password": PASSWORD}
    )
    new = await site.http.post(
        "/api/auth/login", json={"email": "adjoa@example.com", "password": NEW_PASSWORD}
    )
    stale = await site.http.get("/api/auth/me", headers=bearer(viewer["access_token"]))
    stale_refresh = await site.http.post(
        "/api/auth/refresh", json={"refresh_token": elsewhere.json()["refresh_token"]}
    )

    assert asked.status_code == 202
    assert link.startswith("/reset-password?token=")
    assert reset.status_code == 200, reset.text
    assert reset.json()["user"]["email"] == "adjoa@example.com"
    fresh = await site.http.get("/api/auth/me", headers=bearer(reset.json()["access_token"]))
    assert fresh.status_code == 200
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "invalid_link"
    assert old.status_code == 401
    assert new.status_code == 200
    assert stale.status_code == 401  # every other sign-in ended
    assert stale_refresh.status_code == 401


async def test_asking_for_an_unknown_address_answers_the_same_and_sends_nothing(
    site: Site,
) -> None:
    await register(site.http, email="kojo@example.com")
    await site.deliver()

    known = await site.http.post("/api/auth/password/forgot", json={"email": "kojo@example.com"})
    sent_known = await site.deliver()
    unknown = await site.http.post("/api/auth/password/forgot", json={"email": "ama@example.com"})
    sent_unknown = await site.deliver()

    assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
    assert known.status_code == 202
    assert len(sent_known) == 1
    assert sent_unknown == []


async def test_asking_does_the_same_work_whether_or_not_the_account_exists(
    site: Site,
) -> None:
    """So that its time tells nothing either: one job queued, which looks the address up
    away from the request."""
    await register(site.http, email="yaa@example.com")
    await site.deliver()
    huey = site.context.jobs.huey

    await site.http.post("/api/auth/password/forgot", json={"email": "yaa@example.com"})
    known = [(task.name, task.args) for task in huey.pending()]
    await site.deliver()
    await site.http.post("/api/auth/password/forgot", json={"email": "nobody@example.com"})
    unknown = [(task.name, task.args) for task in huey.pending()]

    assert known == [("accounts.send_password_reset", ("yaa@example.com",))]
    assert unknown == [("accounts.send_password_reset", ("nobody@example.com",))]


async def test_reset_links_expire_after_an_hour_and_cannot_be_forged(site: Site) -> None:
    await register(site.http, email="esi@example.com")
    user = await site.user("esi@example.com")
    settings = site.context.settings
    old = make_link_token(
        settings, LinkPurpose.RESET_PASSWORD, user, now=utcnow() - timedelta(minutes=61)
    )
    other_purpose = make_link_token(settings, LinkPurpose.VERIFY_EMAIL, user, now=utcnow())
    forged = make_link_token(
        make_settings(settings.data_dir, secret_key="x" * 40),
        LinkPurpose.RESET_PASSWORD,
        user,
        now=utcnow(),
    )

    answers = [
        await site.http.post(
            "/api/auth/password/reset", json={"token": token, "password": NEW_PASSWORD}
        )
        for token in (old, other_purpose, forged, "not-a-token")
    ]

    assert [a.status_code for a in answers] == [400] * 4
    codes = [a.json()["error"]["code"] for a in answers]
    assert codes == ["link_expired", "invalid_link", "invalid_link", "invalid_link"]


async def test_a_weak_new_password_is_refused_and_the_link_still_works(site: Site) -> None:
    await register(site.http, email="kofi@example.com")
    await site.deliver()
    await site.http.post("/api/auth/password/forgot", json={"email": "kofi@example.com"})
    token = token_of(await site.link_in("kofi@example.com"))

    weak = await site.http.post(
        "/api/auth/password/reset", json={"token": token, "password": "password"}
    )
    strong = await site.http.post(
        "/api/auth/password/reset", json={"token": token, "password": NEW_PASSWORD}
    )

    assert weak.status_code == 422
    assert strong.status_code == 200


async def test_asking_for_links_is_rate_limited(site: Site) -> None:
    answers = [
        await site.http.post("/api/auth/password/forgot", json={"email": f"n{i}@example.com"})
        for i in range(6)
    ]

    assert [a.status_code for a in answers] == [202] * 5 + [429]
    assert answers[-1].json()["error"]["code"] == "rate_limited"


async def test_sign_up_sends_a_link_that_confirms_the_address(site: Site) -> None:
    viewer = await register(site.http, email="abena@example.com")
    link = await site.link_in("abena@example.com")  # in the welcome email
    before = await site.http.get("/api/auth/me", headers=bearer(viewer["access_token"]))

    confirmed = await site.http.post("/api/auth/email/verify", json={"token": token_of(link)})
    twice = await site.http.post("/api/auth/email/verify", json={"token": token_of(link)})
    resend = await site.http.post(
        "/api/auth/email/verify/resend", headers=bearer(viewer["access_token"])
    )

    assert link.startswith("/verify-email?token=")
    assert before.json()["email_verified"] is False
    assert confirmed.status_code == 200
    assert confirmed.json()["email_verified"] is True
    assert twice.status_code == 200  # following it again does no harm
    assert resend.status_code == 409
    assert resend.json()["error"]["code"] == "email_already_verified"


async def test_a_new_link_to_confirm_the_address_can_be_asked_for(site: Site) -> None:
    viewer = await register(site.http, email="akua@example.com")
    await site.deliver()

    resend = await site.http.post(
        "/api/auth/email/verify/resend", headers=bearer(viewer["access_token"])
    )
    link = await site.link_in("akua@example.com")
    confirmed = await site.http.post("/api/auth/email/verify", json={"token": token_of(link)})

    assert resend.status_code == 202
    assert confirmed.json()["email_verified"] is True


async def test_the_address_changes_only_when_the_new_one_is_confirmed(site: Site) -> None:
    viewer = await register(site.http, email="yaw@example.com")
    await register(site.http, email="taken@example.com")
    await site.deliver()
    headers = bearer(viewer["access_token"])

    wrong = await site.http.post(
        "/api/auth/email/change",
        json={"email": "yaw.new@example.com", "password": "nope"},
        headers=headers,
    )
    taken = await site.http.post(
        "/api/auth/email/change",
        json={"email": "taken@example.com", "password": PASSWORD},
        headers=headers,
    )
    asked = await site.http.post(
        "/api/auth/email/change",
        json={"email": "Yaw.New@example.com", "password": PASSWORD},
        headers=headers,
    )
    link = await site.link_in("yaw.new@example.com")
    meanwhile = await site.http.get("/api/auth/me", headers=headers)
    confirmed = await site.http.post(
        "/api/auth/email/change/confirm", json={"token": token_of(link)}
    )
    told = await site.deliver()
    again = await site.http.post("/api/auth/email/change/confirm", json={"token": token_of(link)})

    assert wrong.status_code == 422
    assert taken.status_code == 409
    assert asked.status_code == 202
    assert link.startswith("/account/email/confirm?token=")
    assert meanwhile.json()["email"] == "yaw@example.com"
    assert confirmed.status_code == 200
    assert confirmed.json()["email"] == "yaw.new@example.com"
    assert confirmed.json()["email_verified"] is True
    [notice] = told
    assert "yaw@example.com" in notice["To"]
    assert "yaw.new@example.com" in notice.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert again.status_code == 400
    login = await site.http.post(
        "/api/auth/login", json={"email": "yaw.new@example.com", "password": PASSWORD}
    )
    assert login.status_code == 200


async def test_the_pages_reset_a_forgotten_password_and_sign_in(site: Site) -> None:
    await register(site.http, email="efua@example.com")
    await site.deliver()
    login = await site.http.get("/login")
    csrf = await form_token(site.http, "/forgot-password")

    asked = await site.http.post(
        "/forgot-password", data={"email": "efua@example.com", "csrf_token": csrf}
    )
    link = await site.link_in("efua@example.com")
    form = await site.http.get(link)
    csrf = await form_token(site.http, link)
    done = await site.http.post(
        "/reset-password",
        data={"token": token_of(link), "password": NEW_PASSWORD, "csrf_token": csrf},
    )
    account = await site.http.get(done.headers["location"])
    spent = await site.http.get(link)

    assert 'href="/forgot-password"' in login.text
    assert asked.status_code == 200
    assert "Check your email" in asked.text
    assert form.status_code == 200
    assert "Choose a new password" in form.text
    assert done.status_code == 303
    assert "kf_session=" in done.headers["set-cookie"]
    assert account.status_code == 200
    assert "Your new password is set" in account.text
    assert spent.status_code == 400
    assert "This link does not work" in spent.text


async def test_the_account_page_confirms_and_changes_the_address(site: Site) -> None:
    await register(site.http, email="kwesi@example.com")
    welcome = await site.link_in("kwesi@example.com")
    csrf = await form_token(site.http, "/login")
    await site.http.post(
        "/login", data={"email": "kwesi@example.com", "password": PASSWORD, "csrf_token": csrf}
    )
    unconfirmed = await site.http.get("/account")

    confirmed = await site.http.get(welcome)
    csrf = await form_token(site.http, "/account")
    asked = await site.http.post(
        "/account/email",
        data={
            "new_email": "kwesi@example.org",
            "email_password": PASSWORD,
            "csrf_token": csrf,
        },
    )
    link = await site.link_in("kwesi@example.org")
    changed = await site.http.get(link)
    account = await site.http.get("/account")

    assert 'data-testid="email-unverified"' in unconfirmed.text
    assert confirmed.status_code == 200
    assert "Your address is confirmed" in confirmed.text
    assert asked.status_code == 303
    assert changed.status_code == 200
    assert "kwesi@example.org" in changed.text
    assert 'data-testid="email-verified"' in account.text
    assert "kwesi@example.org" in account.text


async def test_a_wrong_password_keeps_the_address_and_says_why(site: Site) -> None:
    await register(site.http, email="ekow@example.com")
    await site.deliver()
    csrf = await form_token(site.http, "/login")
    await site.http.post(
        "/login", data={"email": "ekow@example.com", "password": PASSWORD, "csrf_token": csrf}
    )
    csrf = await form_token(site.http, "/account")

    refused = await site.http.post(
        "/account/email",
        data={"new_email": "ekow@example.org", "email_password": "nope", "csrf_token": csrf},
    )

    assert refused.status_code == 422
    assert 'id="error-email_password"' in refused.text
    assert await site.deliver() == []
    assert (await site.user("ekow@example.com")).email == "ekow@example.com"


async def test_an_unconfirmed_address_can_watch_free_films_but_not_subscribe(
    site: Site,
) -> None:
    viewer = await register(site.http, email="adwoa@example.com")
    link = await site.link_in("adwoa@example.com")
    headers = bearer(viewer["access_token"])

    refused = await site.http.post(
        "/api/subscriptions/create-checkout", json={"plan": "BASIC"}, headers=headers
    )
    await site.http.post("/api/auth/email/verify", json={"token": token_of(link)})
    allowed = await site.http.post(
        "/api/subscriptions/create-checkout", json={"plan": "BASIC"}, headers=headers
    )

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "email_not_verified"
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["checkout_url"]
