"""Password hashing (argon2id) and the password policy."""

import asyncio
import secrets
from functools import lru_cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from zxcvbn import zxcvbn

MIN_LENGTH = 8
MAX_LENGTH = 256
# zxcvbn grows quadratically with length; its verdict on the first 72
# characters is the verdict on the password (and 72 is all it reads).
_SCORED_PREFIX = 72
_MIN_SCORE = 2  # zxcvbn: 2 means "somewhat guessable", at least 10^6 guesses

_hasher = PasswordHash((Argon2Hasher(),))


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


async def hash_password(password: str) -> str:
    # argon2 is deliberately slow; keep it off the event loop.
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password: str, password_hash: str) -> tuple[bool, str | None]:
    """Whether the password matches, and a fresh hash when the parameters changed."""
    return await asyncio.to_thread(_hasher.verify_and_update, password, password_hash)


async def verify_against_nothing(password: str) -> None:
    """Spend the time a real verification takes, so unknown emails are not revealed."""
    await asyncio.to_thread(_hasher.verify, password, _dummy_hash())


def password_problem(password: str, *, user_inputs: list[str]) -> str | None:
    """Why the password is unacceptable, or None when it is fine."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    verdict = zxcvbn(password[:_SCORED_PREFIX], user_inputs=["kushfilms", *user_inputs])
    if verdict["score"] >= _MIN_SCORE:
        return None
    feedback = verdict["feedback"]
    reasons = [feedback["warning"], *feedback["suggestions"]]
    reason = " ".join(r for r in reasons if r)
    return f"This password is too easy to guess. {reason}".strip()
