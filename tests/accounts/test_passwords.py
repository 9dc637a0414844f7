"""Hashing itself, at the real cost (the settings' defaults, argon2-cffi's); every
other test hashes at argon2's least cost (see ``make_settings``)."""

from pathlib import Path
from typing import Any

import argon2
import httpx
import pytest
from pwdlib.hashers.argon2 import Argon2Hasher

from kushfilms.accounts import service
from kushfilms.accounts.passwords import PasswordHasher, password_problem
from kushfilms.config import Settings
from kushfilms.db import transaction
from tests.conftest import PASSWORD, TEST_SECRET, Backend, register

DEFAULT_COST = {
    "password_hash_time_cost": argon2.DEFAULT_TIME_COST,
    "password_hash_memory_kib": argon2.DEFAULT_MEMORY_COST,
    "password_hash_parallelism": argon2.DEFAULT_PARALLELISM,
}
DEFAULT_COST_IN_HASH = (
    f"m={argon2.DEFAULT_MEMORY_COST},t={argon2.DEFAULT_TIME_COST},p={argon2.DEFAULT_PARALLELISM}"
)


def cost_of(password_hash: str) -> str:
    """The argon2 parameters a hash was made with: ``m=65536,t=3,p=4``."""
    return password_hash.split("$")[3]


@pytest.fixture
def hasher(tmp_path: Path) -> PasswordHasher:
    """The hasher of settings left at their defaults."""
    return PasswordHasher.from_settings(
        Settings(data_dir=tmp_path, secret_key=TEST_SECRET, _env_file=None)
    )


async def test_hashes_are_argon2id_at_the_default_cost_and_verify(hasher: PasswordHasher) -> None:
    hashed = await hasher.hash("a long and unusual passphrase")

    assert hashed.startswith(f"$argon2id$v=19${DEFAULT_COST_IN_HASH}$")
    assert await hasher.verify("a long and unusual passphrase", hashed) == (True, None)
    assert await hasher.verify("a long and unusual passphras", hashed) == (False, None)


async def test_a_hash_made_at_another_cost_is_remade_at_the_current_one(
    hasher: PasswordHasher,
) -> None:
    cheaper = PasswordHasher(time_cost=1, memory_kib=1024, parallelism=1)
    old = await cheaper.hash("a long and unusual passphrase")

    wrong = await hasher.verify("not the passphrase", old)
    valid, fresh = await hasher.verify("a long and unusual passphrase", old)

    assert wrong == (False, None)
    assert valid
    assert fresh is not None
    assert cost_of(fresh) == DEFAULT_COST_IN_HASH
    assert await hasher.verify("a long and unusual passphrase", fresh) == (True, None)


async def test_unknown_emails_cost_a_verification_at_the_same_cost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stand-in verification for an unknown email is timed like a real one only if
    it is the same work: one argon2 verification, by the same hasher, at its cost."""
    hasher = PasswordHasher(time_cost=2, memory_kib=1024, parallelism=2)
    real = await hasher.hash("a long and unusual passphrase")
    verified: list[tuple[Argon2Hasher, str]] = []
    real_verify = Argon2Hasher.verify

    def recording_verify(self: Argon2Hasher, password: str | bytes, hash: str | bytes) -> bool:
        verified.append((self, cost_of(str(hash))))
        return real_verify(self, password, hash)

    monkeypatch.setattr(Argon2Hasher, "verify", recording_verify)

    await hasher.verify("a wrong guess", real)
    await hasher.verify_against_nothing("a wrong guess")

    [(known_by, known_cost), (unknown_by, unknown_cost)] = verified
    assert unknown_by is known_by
    assert unknown_cost == known_cost == "m=1024,t=2,p=2"


async def test_raising_the_cost_upgrades_a_password_hash_at_the_next_sign_in(
    client: httpx.AsyncClient, client_of_app: Any, env: Backend
) -> None:
    await register(client, email="nana@example.com")  # hashed at the tests' least cost
    stronger = await client_of_app(**DEFAULT_COST)  # an operator raised the cost
    sign_in = {"email": "nana@example.com", "password": PASSWORD}

    async def stored_hash() -> str:
        async with transaction(env.app.state.db.writer) as session:
            user = await service.find_user_by_email(session, "nana@example.com")
            assert user is not None
            return user.password_hash

    before = await stored_hash()
    first = await stronger.post("/api/auth/login", json=sign_in)
    upgraded = await stored_hash()
    again = await stronger.post("/api/auth/login", json=sign_in)

    assert cost_of(before) == "m=8,t=1,p=1"
    assert first.status_code == again.status_code == 200
    assert cost_of(upgraded) == DEFAULT_COST_IN_HASH
    assert await stored_hash() == upgraded  # remade once, not at every sign-in


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("Tr0ub4dor&3-horse", None),
        ("x" * 257, "at most 256"),
        ("abc", "at least 8"),
        ("iloveyou", "too easy"),
        ("kushfilms2024", "too easy"),
    ],
)
def test_password_policy(password: str, problem: str | None) -> None:
    found = password_problem(password, user_inputs=["someone@example.com", "Someone"])

    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_a_very_long_password_is_judged_quickly_and_accepted() -> None:
    passphrase = " ".join(["velvet harbour lantern orchard", "quietly drifting north"] * 4)
    assert 100 < len(passphrase) <= 256
    assert password_problem(passphrase, user_inputs=[]) is None
