import uuid
from datetime import UTC, datetime, timedelta

import pytest

from kushfilms.media.delivery.signing import BadGrant, Grant, Scope, read_grant, sign_grant

KEY = b"k" * 32
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def grant(**changes: object) -> Grant:
    values: dict[str, object] = {
        "movie_id": uuid.UUID(int=1),
        "video_id": uuid.UUID(int=2),
        "viewer": "user:42",
        "max_height": 480,
        "expires_at": NOW + timedelta(hours=1),
    }
    values.update(changes)
    return Grant(**values)  # type: ignore[arg-type]


def test_a_grant_survives_the_round_trip() -> None:
    original = grant()

    assert read_grant(sign_grant(original, KEY), KEY, now=NOW) == original


def test_tokens_are_url_path_safe() -> None:
    token = sign_grant(grant(viewer="anonymous:ff/+=?"), KEY)

    assert all(c.isalnum() or c in "-_." for c in token)


def test_an_expired_grant_is_refused() -> None:
    token = sign_grant(grant(expires_at=NOW - timedelta(seconds=1)), KEY)

    with pytest.raises(BadGrant, match="expired"):
        read_grant(token, KEY, now=NOW)


def test_another_key_is_refused() -> None:
    with pytest.raises(BadGrant, match="signature"):
        read_grant(sign_grant(grant(), KEY), b"x" * 32, now=NOW)


def test_any_changed_character_is_refused() -> None:
    token = sign_grant(grant(), KEY)
    for position in range(0, len(token), 7):
        flipped = "A" if token[position] != "A" else "B"
        tampered = token[:position] + flipped + token[position + 1 :]
        with pytest.raises(BadGrant):
            read_grant(tampered, KEY, now=NOW)


def test_raising_the_quality_cap_breaks_the_signature() -> None:
    _, _, signature = sign_grant(grant(max_height=480), KEY).partition(".")
    richer_payload = sign_grant(grant(max_height=2160), KEY).partition(".")[0]

    with pytest.raises(BadGrant):
        read_grant(f"{richer_payload}.{signature}", KEY, now=NOW)


@pytest.mark.parametrize("token", ["", ".", "abc", "a.b.c", "!!!.???"])
def test_garbage_is_refused(token: str) -> None:
    with pytest.raises(BadGrant):
        read_grant(token, KEY, now=NOW)


@pytest.mark.parametrize("scope", list(Scope))
def test_the_scope_survives_the_round_trip(scope: Scope) -> None:
    original = grant(scope=scope)

    assert read_grant(sign_grant(original, KEY), KEY, now=NOW).scope == scope


def test_a_playlists_grant_cannot_be_turned_into_a_segments_grant() -> None:
    _, _, signature = sign_grant(grant(scope=Scope.PLAYLISTS), KEY).partition(".")
    segments_payload = sign_grant(grant(scope=Scope.SEGMENTS), KEY).partition(".")[0]

    with pytest.raises(BadGrant):
        read_grant(f"{segments_payload}.{signature}", KEY, now=NOW)


def test_an_expiry_is_rounded_up_to_the_second_never_down() -> None:
    token = sign_grant(grant(expires_at=NOW + timedelta(seconds=1, microseconds=1)), KEY)

    assert read_grant(token, KEY, now=NOW + timedelta(seconds=1, microseconds=500)).max_height
