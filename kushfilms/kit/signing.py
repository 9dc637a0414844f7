"""Keys for each purpose, derived from the one secret key."""

import hashlib
import hmac


def derive_key(secret: str, purpose: str) -> bytes:
    """A key for one purpose, so a signature made for one use is worthless in another."""
    return hmac.new(secret.encode(), f"kushfilms/{purpose}".encode(), hashlib.sha256).digest()
