"""The real-world sample media of ``../shared/media`` (described in its MANIFEST.md)."""

import os
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[2]

# Every sample that must become a playable ladder; 15 and 16 must be refused.
VALID = ("01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "17")
BROKEN = ("15", "16")


def media_dir() -> Path:
    """KF_SHARED_MEDIA, else the repository's sibling ``shared/media``, else /work/shared/media."""
    configured = os.environ.get("KF_SHARED_MEDIA")
    if configured:
        candidates = [Path(configured)]
    else:
        candidates = [_REPO.parent / "shared" / "media", Path("/work/shared/media")]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    pytest.fail(
        f"The sample media are missing (looked in {', '.join(map(str, candidates))}); "
        "set KF_SHARED_MEDIA to the folder holding MANIFEST.md and the numbered files."
    )


def sample(number: str) -> Path:
    """The sample video whose name starts with ``number`` ("04" is the upside-down phone clip)."""
    found = [path for path in media_dir().glob(f"{number}_*") if path.suffix != ".vtt"]
    if len(found) != 1:
        pytest.fail(f"expected one sample numbered {number} in {media_dir()}, found {found}")
    return found[0]
