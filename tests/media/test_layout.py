"""The media store's layout, pinned: stored objects outlive code, so a key once written
must be found again by every later version."""

import re
import uuid
from pathlib import Path

import pytest

from kushfilms.media import layout
from tests.conftest import make_settings

VIDEO = uuid.UUID("11111111-2222-3333-4444-555555555555")
MOVIE = uuid.UUID("66666666-7777-8888-9999-000000000000")


def test_a_video_keeps_everything_under_its_prefix() -> None:
    hls = "videos/11111111-2222-3333-4444-555555555555/hls/"
    assert layout.video_prefix(VIDEO) == "videos/11111111-2222-3333-4444-555555555555/"
    assert layout.source_key(VIDEO) == "videos/11111111-2222-3333-4444-555555555555/source"
    assert layout.hls_prefix(VIDEO) == hls
    assert layout.master_key(VIDEO) == hls + "master.m3u8"
    assert layout.media_playlist_key(VIDEO, "720p") == hls + "720p/index.m3u8"
    assert layout.segment_key(VIDEO, "720p", "init.mp4") == hls + "720p/init.mp4"
    assert layout.segment_key(VIDEO, "720p", "seg_00012.m4s") == hls + "720p/seg_00012.m4s"
    assert layout.thumbnails_key(VIDEO) == hls + "thumbs/thumbnails.vtt"
    assert layout.sprite_key(VIDEO, "sprite_003.jpg") == hls + "thumbs/sprite_003.jpg"


def test_the_ladder_run_writes_the_names_the_keys_use() -> None:
    assert layout.SEGMENT_PATTERN % 12 == "seg_00012.m4s"
    assert layout.SPRITE_PATTERN % 3 == "sprite_003.jpg"
    assert layout.files_like(layout.SPRITE_PATTERN) == "sprite_*.jpg"
    assert layout.files_like(layout.THUMB_PATTERN) == "thumb_*.jpg"
    assert layout.files_like(layout.POSTER_PATTERN) == "poster_*.jpg"
    assert layout.rung_name(720) == "720p"


@pytest.mark.parametrize(
    ("name", "height"),
    [("360p", 360), ("2160p", 2160), ("720", None), ("p", None), ("thumbs", None)],
)
def test_a_rung_is_named_by_its_short_side(name: str, height: int | None) -> None:
    assert layout.rung_height(name) == height


@pytest.mark.parametrize(
    ("name", "segment", "sprite"),
    [
        ("init.mp4", True, False),
        ("seg_00000.m4s", True, False),
        ("seg_123456789.m4s", True, False),
        ("seg_0.m4s", False, False),
        ("index.m3u8", False, False),
        ("sprite_000.jpg", False, True),
        ("sprite_0.jpg", False, False),
        ("../init.mp4", False, False),
    ],
)
def test_only_the_files_a_video_has_are_named(name: str, segment: bool, sprite: bool) -> None:
    assert layout.is_segment_name(name) is segment
    assert layout.is_sprite_name(name) is sprite


def test_a_poster_comes_in_widths_under_one_stem() -> None:
    key = layout.poster_key(MOVIE, "a1b2c3", 780)

    assert key == "art/66666666-7777-8888-9999-000000000000/a1b2c3-780.jpg"
    assert layout.art_prefix(MOVIE) == "art/66666666-7777-8888-9999-000000000000/"
    assert layout.poster_variant(key, 342) == layout.poster_key(MOVIE, "a1b2c3", 342)
    assert layout.is_poster_file("a1b2c3-342.jpg", key)
    assert not layout.is_poster_file("ffffff-780.jpg", key)
    assert not layout.is_poster_file("a1b2c3-780.jpg", None)
    assert layout.art_url(key) == "/media/art/66666666-7777-8888-9999-000000000000/a1b2c3-780.jpg"


def test_a_picture_the_platform_made_says_so_in_its_key() -> None:
    uploaded = layout.poster_key(MOVIE, "a1b2c3", 1600)
    frame = layout.poster_key(MOVIE, "d4e5f6", 1280, "frame")
    derived = layout.poster_key(MOVIE, "a7b8c9", 780, "derived")

    assert derived.endswith("/a7b8c9-derived-780.jpg")
    assert [layout.art_origin(key) for key in (uploaded, frame, derived)] == [
        "upload",
        "frame",
        "derived",
    ]
    assert [layout.art_width(key) for key in (uploaded, frame, derived)] == [1600, 1280, 780]
    assert layout.poster_variant(derived, 342).endswith("/a7b8c9-derived-342.jpg")
    assert layout.is_poster_file("a7b8c9-derived-342.jpg", derived)
    assert not layout.is_poster_file("a7b8c9-derived-342.jpg", frame)
    for key in (uploaded, frame, derived):
        assert re.fullmatch(layout.POSTER_FILE, key.rsplit("/", 1)[-1])
    assert layout.art_width("art/frame-grab.jpg") is None


def test_local_files_live_under_the_configured_directories(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", upload_dir=tmp_path / "uploads")

    assert layout.staged_upload(settings, "abc_DEF-123") == tmp_path / "uploads" / "abc_DEF-123"
    assert layout.held_source(settings, VIDEO) == tmp_path / "uploads" / f"{VIDEO}.source"
    scratch = layout.scratch_dir(settings, VIDEO)
    assert scratch == tmp_path / "data" / "work" / str(VIDEO)
    assert layout.scratch_root(settings) == scratch.parent
    assert layout.ladder_output(scratch) == scratch / "out"
    assert layout.scratch_source(scratch) == scratch / "source"
    assert layout.scratch_poster(scratch) == scratch / "poster.jpg"


@pytest.mark.parametrize("upload_id", ["", "../x", "a/b", "x.source", "a" * 65])
def test_an_upload_id_never_names_another_file(upload_id: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not an upload id"):
        layout.staged_upload(make_settings(tmp_path), upload_id)
