"""Where composed emails go: .eml files, an SMTP server, or Amazon SES."""

import asyncio
import os
import re
import tempfile
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from kushfilms.config import Settings
from kushfilms.kit.clock import utcnow
from kushfilms.notify.messages import KIND_HEADER

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class Undeliverable(Exception):
    """The recipient was refused for good; sending again would not help."""


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class FileMailer:
    """One .eml file per message, named when it was written, what it is, and its id:
    ``20261125T101500123456Z-welcome-<id>.eml``.

    Written aside and renamed into place, so a reader never sees half a file;
    a message whose file exists already is not written twice.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._write, message)

    def _write(self, message: EmailMessage) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        token = _UNSAFE.sub("_", str(message["Message-ID"]).strip("<>").partition("@")[0])
        existing = next(self.directory.glob(f"*-{token}.eml"), None)
        if existing is not None:
            return existing
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
        kind = _UNSAFE.sub("_", str(message[KIND_HEADER] or "email"))
        path = self.directory / f"{stamp}-{kind}-{token}.eml"
        fd, draft = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".eml.part")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(message.as_bytes())
            os.replace(draft, path)
        except BaseException:
            Path(draft).unlink(missing_ok=True)
            raise
        return path


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """``smtp://user:password@host:port``, ``smtps://…`` (TLS from the start),
    ``?starttls=true`` to insist on STARTTLS (``false`` to never try it)."""

    hostname: str
    port: int | None
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool | None  # None: upgrade when the server offers it

    @classmethod
    def from_url(cls, url: str) -> "SmtpServer":
        parts = urlsplit(url)
        starttls = parse_qs(parts.query).get("starttls", [""])[-1].lower()
        return cls(
            hostname=parts.hostname or "localhost",
            port=parts.port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=parts.scheme == "smtps",
            start_tls={"true": True, "false": False}.get(starttls),
        )


class SmtpMailer:
    def __init__(self, server: SmtpServer, *, timeout: float) -> None:
        self.server = server
        self.timeout = timeout

    async def send(self, message: EmailMessage) -> None:
        server = self.server
        try:
            await aiosmtplib.send(
                message,
                hostname=server.hostname,
                port=server.port,
                username=server.username,
                password=server.password,
                use_tls=server.use_tls,
                start_tls=server.start_tls,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            if all(refusal.code >= 500 for refusal in error.recipients):
                raise Undeliverable(str(error)) from error
            raise


class SesMailer:
    """Amazon SES (API v2), given the whole MIME message; credentials and, unless
    KF_SES_REGION says, the region come from the usual AWS configuration."""

    def __init__(self, *, region: str, endpoint_url: str) -> None:
        self.region = region or None
        self.endpoint_url = endpoint_url or None

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        import boto3  # loaded by installs that send through SES only

        # A session of its own: boto3's default session is not thread-safe.
        client = boto3.session.Session().client(
            "sesv2", region_name=self.region, endpoint_url=self.endpoint_url
        )
        try:
            client.send_email(
                FromEmailAddress=str(message["From"]),
                Destination={"ToAddresses": [parseaddr(str(message["To"]))[1]]},
                Content={"Raw": {"Data": message.as_bytes()}},
                EmailTags=[{"Name": "kind", "Value": str(message[KIND_HEADER] or "email")}],
            )
        except client.exceptions.MessageRejected as error:
            raise Undeliverable(str(error)) from error


def open_mailer(settings: Settings) -> Mailer:
    if settings.mail_backend == "smtp":
        server = SmtpServer.from_url(settings.smtp_url.get_secret_value())
        return SmtpMailer(server, timeout=settings.smtp_timeout)
    if settings.mail_backend == "ses":
        return SesMailer(region=settings.ses_region, endpoint_url=settings.ses_endpoint_url)
    return FileMailer(settings.data_dir / "mail")
