"""Playback grants: signed, expiring tokens that open one movie's media to one viewer.

A grant rides in the media URL's path (``/media/<movie>/<token>/720p/index.m3u8``).
It has a scope: a *playlists* grant lasts the whole viewing (``KF_MEDIA_URL_SECONDS``)
and opens only playlists, which the app checks again at every fetch; a *segments*
grant lasts minutes (``KF_SEGMENT_URL_SECONDS``) and opens the files those
playlists name, so a copied segment URL soon stops working.
"""

import base64
import enum
import hashlib
import hmac
import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime


class BadGrant(Exception):
    """The token is malformed, tampered with, or expired."""


class Scope(enum.StrEnum):
    PLAYLISTS = "p"
    SEGMENTS = "s"


@dataclass(frozen=True, slots=True)
class Grant:
    movie_id: uuid.UUID
    video_id: uuid.UUID
    viewer: str  # "user:<id>" or "anonymous:<random>"
    max_height: int
    expires_at: datetime  # kept to the second, rounded up
    scope: Scope = Scope.PLAYLISTS


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_grant(grant: Grant, key: bytes) -> str:
    payload = json.dumps(
        [
            grant.movie_id.hex,
            grant.video_id.hex,
            grant.viewer,
            grant.max_height,
            math.ceil(grant.expires_at.timestamp()),
            grant.scope.value,
        ],
        separators=(",", ":"),
    ).encode()
    signature = hmac.new(key, payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(signature)}"


def read_grant(token: str, key: bytes, *, now: datetime) -> Grant:
    """The grant in a token, if its signature holds and it has not expired."""
    payload_text, _, signature_text = token.partition(".")
    try:
        payload, signature = _unb64(payload_text), _unb64(signature_text)
    except ValueError as error:
        raise BadGrant("malformed token") from error
    expected = hmac.new(key, payload, hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise BadGrant("bad signature")
    try:
        movie, video, viewer, max_height, expires, scope = json.loads(payload)
        grant = Grant(
            movie_id=uuid.UUID(hex=movie),
            video_id=uuid.UUID(hex=video),
            viewer=str(viewer),
            max_height=int(max_height),
            expires_at=datetime.fromtimestamp(int(expires), tz=UTC),
            scope=Scope(scope),
        )
    except (ValueError, TypeError) as error:
        raise BadGrant("malformed token") from error
    if grant.expires_at <= now:
        raise BadGrant("expired")
    return grant
