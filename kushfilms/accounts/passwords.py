"""Password hashing (argon2id) and the password policy.

The cost of hashing comes from the settings (``KF_PASSWORD_HASH_*``). Verifying
a password against a hash made at another cost answers a fresh hash at the
current one, so raising the cost upgrades each account at its next sign-in.
"""

import asyncio
import secrets
from functools import cached_property

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from zxcvbn import zxcvbn

from kushfilms.config import Settings

MIN_LENGTH = 8
MAX_LENGTH = 256
# zxcvbn grows quadratically with length; its verdict on the first 72
# characters is the verdict on the password (and 72 is all it reads).
_SCORED_PREFIX = 72
_MIN_SCORE = 2  # zxcvbn: 2 means "somewhat guessable", at least 10^6 guesses


class PasswordHasher:
    """argon2id at one cost. argon2 is deliberately slow: the work runs off the event loop."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hash = PasswordHash(
            (Argon2Hasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism),)
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> "PasswordHasher":
        return cls(
            time_cost=settings.password_hash_time_cost,
            memory_kib=settings.password_hash_memory_kib,
            parallelism=settings.password_hash_parallelism,
        )

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hash.hash, password)

    async def verify(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        """Whether the password matches, and a fresh hash when it was made at another cost."""
        return await asyncio.to_thread(self._hash.verify_and_update, password, password_hash)

    async def verify_against_nothing(self, password: str) -> None:
        """Spend the time a real verification takes, so unknown emails are not revealed:
        the same work as ``verify``, against a hash made at this hasher's cost."""
        await asyncio.to_thread(self._verify_dummy, password)

    def _verify_dummy(self, password: str) -> None:
        self._hash.verify(password, self._dummy_hash)

    @cached_property
    def _dummy_hash(self) -> str:
        return self._hash.hash(secrets.token_urlsafe(16))


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
