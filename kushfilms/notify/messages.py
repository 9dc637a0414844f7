"""Emails as people read them: rendered from templates, composed as MIME messages."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from kushfilms.config import Settings
from kushfilms.notify.kinds import LETTERS, EmailKind

TEMPLATES = Path(__file__).resolve().parent / "templates"
KIND_HEADER = "X-Kushfilms-Email"  # which kind of email, for filters and the .eml names


@dataclass(frozen=True, slots=True)
class Recipient:
    name: str
    email: str


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


def day(value: str | date) -> str:
    """An ISO date or datetime as people write it: 28 November 2026."""
    if isinstance(value, str):
        try:
            return day(datetime.fromisoformat(value))
        except ValueError:
            return value
    return f"{value.day} {value:%B %Y}"


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        # .html templates are escaped; the text parts and subjects are not HTML.
        autoescape=select_autoescape(["html"], default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["day"] = day
    return environment


_TEMPLATES = _environment()


def site_url(settings: Settings) -> str:
    """Where links in emails point: KF_PUBLIC_URL, or the address the server listens on."""
    return settings.public_url.rstrip("/") or f"http://{settings.host}:{settings.port}"


def render(
    kind: EmailKind, context: dict[str, Any], *, recipient: Recipient, site: str
) -> Rendered:
    """The subject and both bodies of one email; links are absolute, under ``site``."""
    letter = LETTERS[kind]
    values: dict[str, Any] = {
        **dict.fromkeys(letter.optional),
        **context,
        "user": recipient,
        "url": lambda path="/": site + path,
    }
    subject = _one_line(_TEMPLATES.from_string(letter.subject).render(values))
    values["subject"] = subject
    return Rendered(
        subject=subject,
        text=_TEMPLATES.get_template(f"{kind.value}.txt").render(values),
        html=_TEMPLATES.get_template(f"{kind.value}.html").render(values),
    )


def new_message_id(sender: str) -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return f"<{uuid.uuid4().hex}@{domain}>"


def compose(
    rendered: Rendered,
    *,
    kind: EmailKind,
    sender: str,
    recipient: Recipient,
    message_id: str,
    sent_at: datetime,
) -> EmailMessage:
    """A multipart/alternative message: the text part first, the HTML part preferred."""
    message = EmailMessage()
    message["Subject"] = rendered.subject
    message["From"] = sender
    message["To"] = Address(display_name=_one_line(recipient.name), addr_spec=recipient.email)
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = message_id
    message[KIND_HEADER] = kind.value
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def _one_line(text: str) -> str:
    """Header values never span lines (nor let a name add headers)."""
    return " ".join(text.split())
