"""Links sent by email about an account: reset a password, verify an address, confirm
a new address.

Each is a JWT signed with a key of its own purpose, with an expiry, naming the
account and carrying a fingerprint of the state it changes: the password hash
for a reset, the address for a verification or a change. Following the link
changes that state, so the fingerprint no longer matches and the link is spent:
single use without a table of issued links, and a reset link dies as soon as
the password changes in any other way too. (A verification link followed again
finds the address verified already, which is no harm.)
"""

import enum
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from kushfilms.config import Settings
from kushfilms.errors import BadRequest
from kushfilms.kit.signing import derive_key
from kushfilms.models import User

ALGORITHM = "HS256"


class LinkPurpose(enum.StrEnum):
    RESET_PASSWORD = "reset-password"  # noqa: S105 - a purpose, not a secret
    VERIFY_EMAIL = "verify-email"
    CHANGE_EMAIL = "change-email"


LIFETIMES = {
    LinkPurpose.RESET_PASSWORD: timedelta(hours=1),
    LinkPurpose.VERIFY_EMAIL: timedelta(days=7),
    LinkPurpose.CHANGE_EMAIL: timedelta(hours=24),
}


class LinkRefused(BadRequest):
    """A link that cannot be used: ask for a new one."""


class InvalidLink(LinkRefused):
    code = "invalid_link"
    message = "This link is not valid, or it was used already. Ask for a new one."


class LinkExpired(LinkRefused):
    code = "link_expired"
    message = "This link has expired. Ask for a new one."


@dataclass(frozen=True, slots=True)
class LinkClaims:
    user_id: uuid.UUID
    fingerprint: str
    new_email: str | None  # for CHANGE_EMAIL: the address confirmed by following it


def make_link_token(
    settings: Settings,
    purpose: LinkPurpose,
    user: User,
    *,
    now: datetime,
    new_email: str | None = None,
) -> str:
    claims: dict[str, object] = {
        "sub": str(user.id),
        "fp": fingerprint(settings, purpose, user),
        "iat": int(now.timestamp()),
        "exp": int((now + LIFETIMES[purpose]).timestamp()),
    }
    if new_email is not None:
        claims["email"] = new_email
    return jwt.encode(claims, _key(settings, purpose), algorithm=ALGORITHM)


def read_link_token(
    settings: Settings, purpose: LinkPurpose, token: str, *, now: datetime
) -> LinkClaims:
    """The claims of a link made for ``purpose``; InvalidLink or LinkExpired otherwise.
    Whether it is spent is for the caller to see (:func:`is_current`)."""
    try:
        claims = jwt.decode(
            token,
            _key(settings, purpose),
            algorithms=[ALGORITHM],
            options={"require": ["sub", "fp", "exp"], "verify_exp": False},
        )
        expires = int(claims["exp"])
        user_id = uuid.UUID(str(claims["sub"]))
        new_email = claims.get("email")
    except (jwt.PyJWTError, ValueError, TypeError) as error:
        raise InvalidLink() from error
    if purpose == LinkPurpose.CHANGE_EMAIL and not isinstance(new_email, str):
        raise InvalidLink()
    if expires <= now.timestamp():
        raise LinkExpired()
    return LinkClaims(user_id, str(claims["fp"]), new_email if isinstance(new_email, str) else None)


def is_current(settings: Settings, purpose: LinkPurpose, user: User, claims: LinkClaims) -> bool:
    """Whether the account is still as it was when the link was made (not spent)."""
    return hmac.compare_digest(fingerprint(settings, purpose, user), claims.fingerprint)


def fingerprint(settings: Settings, purpose: LinkPurpose, user: User) -> str:
    state = user.password_hash if purpose == LinkPurpose.RESET_PASSWORD else user.email
    digest = hmac.new(_key(settings, purpose), state.encode(), hashlib.sha256).hexdigest()
    return digest[:32]


def _key(settings: Settings, purpose: LinkPurpose) -> bytes:
    return derive_key(settings.secret_key.get_secret_value(), f"link/{purpose.value}")
