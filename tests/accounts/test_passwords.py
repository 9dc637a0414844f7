import pytest

from kushfilms.accounts.passwords import (
    hash_password,
    password_problem,
    verify_against_nothing,
    verify_password,
)


async def test_hashes_are_argon2id_and_verify() -> None:
    hashed = await hash_password("a long and unusual passphrase")

    assert hashed.startswith("$argon2id$")
    assert await verify_password("a long and unusual passphrase", hashed) == (True, None)
    assert (await verify_password("a long and unusual passphras", hashed))[0] is False
    await verify_against_nothing("anything")  # spends the time, raises nothing


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
