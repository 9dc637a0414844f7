"""CSRF tokens: a signed double submit.

Each browser gets a random seed in a cookie; the token is an HMAC of that
seed, put in forms and sent back by scripts in a header. A site that cannot
read our pages cannot know the token, and one that could plant a cookie still
cannot sign a seed of its own choosing.
"""

import base64
import hashlib
import hmac
import secrets

COOKIE = "kf_csrf"
HEADER = "x-csrf-token"
FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def new_seed() -> str:
    return secrets.token_urlsafe(24)


def token_for(key: bytes, seed: str) -> str:
    digest = hmac.new(key, seed.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_valid(key: bytes, seed: str | None, token: str | None) -> bool:
    if not seed or not token:
        return False
    return hmac.compare_digest(token_for(key, seed), token)
