"""Access tokens (short-lived JWTs) and refresh tokens (opaque, stored hashed)."""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from kushfilms.config import Settings
from kushfilms.kit.signing import derive_key

ALGORITHM = "HS256"
ISSUER = "kushfilms"
ACCESS = "access"


class TokenError(Exception):
    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.expired = expired


@dataclass(frozen=True, slots=True)
class TokenConfig:
    key: bytes
    access_ttl: timedelta
    refresh_ttl: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> "TokenConfig":
        return cls(
            key=derive_key(settings.secret_key.get_secret_value(), "access-token"),
            access_ttl=timedelta(minutes=settings.access_token_minutes),
            refresh_ttl=timedelta(days=settings.refresh_token_days),
        )


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    # The sign-in (refresh-token family) the token was issued to; checked at every
    # request, so that signing out ends the token at once.
    session_id: uuid.UUID
    # The role when the token was issued ("USER", "ADMIN"), or None in tokens made
    # before roles were carried. A hint only: what a role allows is always decided
    # from the database; a viewer's token lets public answers be shared with them.
    role: str | None = None
    expires_at: float = 0.0  # seconds since the epoch


def issue_access_token(
    config: TokenConfig,
    user_id: uuid.UUID,
    *,
    session_id: uuid.UUID,
    now: datetime,
    role: str | None = None,
) -> str:
    claims = {
        "iss": ISSUER,
        "sub": str(user_id),
        "sid": str(session_id),
        **({"role": role} if role else {}),
        "typ": ACCESS,
        "iat": int(now.timestamp()),
        "exp": int((now + config.access_ttl).timestamp()),
        "jti": secrets.token_urlsafe(8),
    }
    return jwt.encode(claims, config.key, algorithm=ALGORITHM)


def read_access_token(config: TokenConfig, token: str) -> AccessClaims:
    """Who a valid access token speaks for, and in which sign-in; TokenError for
    anything else, including a token without a sign-in."""
    try:
        claims = jwt.decode(
            token,
            config.key,
            algorithms=[ALGORITHM],  # never "none", never what the token claims
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "sid", "iss"]},
        )
    except jwt.ExpiredSignatureError as error:
        raise TokenError("The access token has expired.", expired=True) from error
    except jwt.PyJWTError as error:
        raise TokenError("The access token is not valid.") from error
    if claims.get("typ") != ACCESS:
        raise TokenError("The access token is not valid.")
    try:
        role = claims.get("role")
        return AccessClaims(
            uuid.UUID(str(claims["sub"])),
            uuid.UUID(str(claims["sid"])),
            role=role if isinstance(role, str) else None,
            expires_at=float(claims["exp"]),
        )
    except ValueError as error:
        raise TokenError("The access token is not valid.") from error


def new_refresh_token() -> tuple[str, str]:
    """A new refresh token and the hash under which it is stored."""
    raw = secrets.token_urlsafe(32)
    return raw, hash_refresh_token(raw)


def hash_refresh_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()
