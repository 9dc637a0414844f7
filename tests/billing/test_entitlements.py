import pytest

from kushfilms.billing.entitlements import UNLIMITED_HEIGHT, entitlement
from kushfilms.models import AccessLevel, Role, User


def user(role: Role) -> User:
    return User(email="x@example.com", name="X", password_hash="-", role=role)


@pytest.mark.parametrize("viewer", [None, user(Role.USER)])
def test_free_films_are_for_everyone_at_the_free_quality(viewer: User | None) -> None:
    decision = entitlement(viewer, AccessLevel.FREE, free_max_height=480)

    assert decision.allowed
    assert decision.max_height == 480


@pytest.mark.parametrize("level", [AccessLevel.BASIC, AccessLevel.PREMIUM])
@pytest.mark.parametrize("viewer", [None, user(Role.USER)])
def test_paid_films_are_refused_with_what_would_open_them(
    viewer: User | None, level: AccessLevel
) -> None:
    decision = entitlement(viewer, level, free_max_height=480)

    assert not decision.allowed
    assert decision.required_level == level


@pytest.mark.parametrize("level", list(AccessLevel))
def test_admins_watch_everything_at_every_quality(level: AccessLevel) -> None:
    decision = entitlement(user(Role.ADMIN), level, free_max_height=480)

    assert decision.allowed
    assert decision.max_height == UNLIMITED_HEIGHT
