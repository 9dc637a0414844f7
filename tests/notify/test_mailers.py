"""The delivery backends: .eml files, a real SMTP server, and SES (moto's server)."""

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import boto3
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from moto.core import DEFAULT_ACCOUNT_ID
from moto.server import ThreadedMotoServer
from moto.ses.models import ses_backends

from kushfilms.notify.kinds import EmailKind
from kushfilms.notify.mailers import (
    FileMailer,
    SesMailer,
    SmtpMailer,
    SmtpServer,
    Undeliverable,
    open_mailer,
)
from kushfilms.notify.messages import Recipient, compose, new_message_id, render
from kushfilms.notify.service import email_context
from tests.conftest import make_settings
from tests.notify.conftest import PUBLIC_URL, Inbox, free_port, parse

SENDER = "Kush Films <no-reply@films.example>"
SES_REGION = "eu-west-1"
CONTEXTS = {
    EmailKind.WELCOME: {},
    EmailKind.CANCELLATION_CONFIRMED: {"plan": "Basic", "access_until": "2026-12-25"},
}


def letter(to: str = "eve@example.com", kind: EmailKind = EmailKind.WELCOME) -> EmailMessage:
    recipient = Recipient("Eve", to)
    context = email_context(kind, CONTEXTS[kind])
    return compose(
        render(kind, context, recipient=recipient, site=PUBLIC_URL),
        kind=kind,
        sender=SENDER,
        recipient=recipient,
        message_id=new_message_id(SENDER),
        sent_at=datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=UTC),
    )


async def test_the_file_backend_writes_one_parseable_eml_per_message(tmp_path: Path) -> None:
    mailer = FileMailer(tmp_path / "mail")
    message = letter()

    await mailer.send(message)
    await mailer.send(message)  # the same message again: a retry after a success
    await mailer.send(letter(kind=EmailKind.CANCELLATION_CONFIRMED))

    files = sorted((tmp_path / "mail").iterdir())
    assert len(files) == 2
    token = message["Message-ID"].strip("<>").split("@")[0]
    welcome = next(path for path in files if "-welcome-" in path.name)
    assert re.fullmatch(rf"\d{{8}}T\d{{12}}Z-welcome-{token}\.eml", welcome.name)
    assert any(
        re.fullmatch(r"\d{8}T\d{12}Z-cancellation_confirmed-[0-9a-f]{32}\.eml", p.name)
        for p in files
    )
    parsed = parse(welcome.read_bytes())
    assert parsed["Message-ID"] == message["Message-ID"]
    assert parsed["Subject"] == "Welcome to Kush Films"
    assert parsed.get_body(("html",)) is not None


def test_the_backend_follows_the_settings(tmp_path: Path) -> None:
    default = open_mailer(make_settings(tmp_path))
    assert isinstance(default, FileMailer)
    assert default.directory == tmp_path / "mail"
    smtp = open_mailer(make_settings(tmp_path, smtp_url="smtps://mailer:s%40cret@mx.example:2465"))
    assert isinstance(smtp, SmtpMailer)
    assert smtp.server == SmtpServer("mx.example", 2465, "mailer", "s@cret", True, None)
    ses = open_mailer(make_settings(tmp_path, mail_backend="ses", ses_region="eu-west-1"))
    assert isinstance(ses, SesMailer)
    assert ses.region == "eu-west-1"
    forced_file = make_settings(tmp_path, mail_backend="file", smtp_url="smtp://mx.example")
    assert isinstance(open_mailer(forced_file), FileMailer)


@pytest.mark.parametrize(
    ("url", "server"),
    [
        ("smtp://mx.example", SmtpServer("mx.example", None, None, None, False, None)),
        (
            "smtp://user:pa%3Ass@mx.example:587?starttls=true",
            SmtpServer("mx.example", 587, "user", "pa:ss", False, True),
        ),
        (
            "smtp://127.0.0.1:1025?starttls=false",
            SmtpServer("127.0.0.1", 1025, None, None, False, False),
        ),
        ("smtps://u@mx.example", SmtpServer("mx.example", None, "u", None, True, None)),
    ],
)
def test_smtp_urls(url: str, server: SmtpServer) -> None:
    assert SmtpServer.from_url(url) == server


@pytest.mark.parametrize(
    "url", ["http://mx.example", "smtp://", "smtps://mx.example?starttls=true"]
)
def test_bad_smtp_urls_are_refused_at_start(tmp_path: Path, url: str) -> None:
    with pytest.raises(ValueError, match="smtp"):
        make_settings(tmp_path, smtp_url=url)


@pytest.mark.parametrize("sender", ["no-reply", "Kush Films", ""])
def test_the_sender_must_be_an_address(tmp_path: Path, sender: str) -> None:
    with pytest.raises(ValueError, match="not an address"):
        make_settings(tmp_path, mail_from=sender)


def test_the_smtp_backend_needs_a_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="KF_SMTP_URL"):
        make_settings(tmp_path, mail_backend="smtp")


async def test_smtp_delivers_to_the_server(inbox: Inbox) -> None:
    message = letter()

    await SmtpMailer(SmtpServer.from_url(inbox.url), timeout=5).send(message)

    [(envelope, received)] = inbox.received
    assert envelope.mail_from == "no-reply@films.example"
    assert envelope.rcpt_tos == ["eve@example.com"]
    assert received["Message-ID"] == message["Message-ID"]
    assert received.get_body(("plain",)) is not None


async def test_smtp_signs_in_with_the_url_credentials() -> None:
    port = free_port()
    inbox = Inbox(port)

    def check(*args: Any) -> AuthResult:
        login: LoginPassword = args[-1]
        ok = (login.login, login.password) == (b"mailer", b"p@ss:w/rd")
        return AuthResult(success=ok, handled=False)

    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=check,
        auth_require_tls=False,  # loopback; the client signs in because the URL says so
    )
    controller.start()
    try:
        good = SmtpServer.from_url(f"smtp://mailer:p%40ss%3Aw%2Frd@127.0.0.1:{port}")
        await SmtpMailer(good, timeout=5).send(letter())
        wrong = SmtpServer.from_url(f"smtp://mailer:guess@127.0.0.1:{port}")
        with pytest.raises(aiosmtplib.SMTPAuthenticationError):
            await SmtpMailer(wrong, timeout=5).send(letter())
    finally:
        controller.stop()

    assert len(inbox.messages) == 1


async def test_a_refused_recipient_is_undeliverable(inbox: Inbox) -> None:
    inbox.refuse.add("gone@example.com")

    with pytest.raises(Undeliverable):
        await SmtpMailer(SmtpServer.from_url(inbox.url), timeout=5).send(letter("gone@example.com"))

    assert inbox.received == []


async def test_an_unreachable_server_is_an_error_to_retry() -> None:
    mailer = SmtpMailer(SmtpServer.from_url(f"smtp://127.0.0.1:{free_port()}"), timeout=5)

    with pytest.raises(aiosmtplib.SMTPConnectError):
        await mailer.send(letter())


@pytest.fixture(scope="session")
def ses_endpoint() -> Iterator[str]:
    """moto's SES v2 API on loopback, with the sender's domain verified."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    yield endpoint
    server.stop()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    }.items():
        monkeypatch.setenv(name, value)


async def test_ses_sends_the_whole_mime_message(ses_endpoint: str, aws: None) -> None:
    boto3.session.Session().client(
        "sesv2", region_name=SES_REGION, endpoint_url=ses_endpoint
    ).create_email_identity(EmailIdentity="films.example")
    backend = ses_backends[DEFAULT_ACCOUNT_ID][SES_REGION]
    before = len(backend.sent_messages)
    message = letter("ses-reader@example.com")

    await SesMailer(region=SES_REGION, endpoint_url=ses_endpoint).send(message)

    [sent] = backend.sent_messages[before:]
    assert "ses-reader@example.com" in sent.destinations
    parsed = parse(sent.raw_data.encode())
    assert parsed["Message-ID"] == message["Message-ID"]
    assert parsed.get_body(("html",)) is not None


async def test_ses_refusing_the_sender_is_undeliverable(ses_endpoint: str, aws: None) -> None:
    mailer = SesMailer(region="ap-south-1", endpoint_url=ses_endpoint)  # nothing verified here

    with pytest.raises(Undeliverable, match="authority"):
        await mailer.send(letter())
