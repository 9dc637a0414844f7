import m3u8
import pytest

from kushfilms.media.playlists import (
    Cue,
    Rendition,
    bandwidths,
    codecs,
    master_playlist,
    read_media_playlist,
    sprite_cues,
    webvtt,
)
from kushfilms.media.transcoding.ladder import Rung, SpriteSpec

# The shape of playlist ffmpeg's HLS muxer writes for one fMP4 rung.
MEDIA_PLAYLIST = """\
#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init.mp4"
#EXTINF:4.004000,
seg_00000.m4s
#EXTINF:4.004000,
seg_00001.m4s
#EXTINF:0.967633,
seg_00002.m4s
#EXT-X-ENDLIST
"""


def rung(name: str, width: int, height: int, level: str, fps: float = 30.0) -> Rung:
    return Rung(name, width, height, 1000, 1500, 2000, level, fps)


def rendition(name: str, bandwidth: int, height: int) -> Rendition:
    return Rendition(
        name=name,
        width=height * 16 // 9,
        height=height,
        bandwidth=bandwidth,
        average_bandwidth=bandwidth // 2,
        codecs="avc1.64001f,mp4a.40.2",
        frame_rate=29.97,
    )


def test_media_playlist_lists_init_and_timed_segments() -> None:
    playlist = read_media_playlist(MEDIA_PLAYLIST)
    assert playlist.init_uri == "init.mp4"
    assert playlist.segments == [
        ("seg_00000.m4s", 4.004),
        ("seg_00001.m4s", 4.004),
        ("seg_00002.m4s", 0.967633),
    ]


def test_bandwidth_is_the_peak_segment_rate_with_the_init_segment() -> None:
    peak, average = bandwidths(1000, [(500_000, 4.0), (250_000, 1.0), (400_000, 4.0)])
    assert peak == (1000 + 250_000) * 8  # the short, dense last second
    assert average == 1_023_112  # (1000 + 1_150_000) bytes * 8 over 9 s, rounded up


def test_bandwidths_round_up() -> None:
    assert bandwidths(0, [(1, 3.0)]) == (3, 3)  # 8/3 bits/s is not 2


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("3.0", "avc1.64001e"),
        ("3.1", "avc1.64001f"),
        ("3.2", "avc1.640020"),
        ("4.0", "avc1.640028"),
        ("4.1", "avc1.640029"),
        ("4.2", "avc1.64002a"),
        ("5.1", "avc1.640033"),
        ("5.2", "avc1.640034"),
    ],
)
def test_codecs_name_h264_high_at_the_rungs_level(level: str, expected: str) -> None:
    assert codecs(rung("720p", 1280, 720, level), audio=False) == expected
    assert codecs(rung("720p", 1280, 720, level), audio=True) == f"{expected},mp4a.40.2"


def test_master_playlist_orders_variants_by_bandwidth() -> None:
    text = master_playlist(
        [
            rendition("720p", 3_100_000, 720),
            rendition("360p", 900_000, 360),
            rendition("480p", 1_500_000, 480),
        ]
    )
    master = m3u8.loads(text)
    assert master.is_variant
    assert [playlist.uri for playlist in master.playlists] == [
        "360p/index.m3u8",
        "480p/index.m3u8",
        "720p/index.m3u8",
    ]
    first = master.playlists[0].stream_info
    assert (first.bandwidth, first.average_bandwidth) == (900_000, 450_000)
    assert first.resolution == (640, 360)
    assert first.frame_rate == 29.97
    assert first.codecs == "avc1.64001f,mp4a.40.2"
    assert text.startswith("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n")
    assert "FRAME-RATE=29.970," in text


def test_rendition_survives_a_dict() -> None:
    original = rendition("1080p", 6_000_000, 1080)
    assert Rendition.from_dict(original.to_dict()) == original


def test_cues_cover_each_interval_and_end_with_the_film() -> None:
    cues = sprite_cues(5.0, SpriteSpec(interval=2), sheets=1, tile_width=160, tile_height=90)
    assert cues == [
        Cue(0, 2, "sprite_000.jpg#xywh=0,0,160,90"),
        Cue(2, 4, "sprite_000.jpg#xywh=160,0,160,90"),
        Cue(4, 5.0, "sprite_000.jpg#xywh=320,0,160,90"),
    ]


def test_cues_walk_rows_then_sheets() -> None:
    spec = SpriteSpec(interval=10, columns=3, rows=2)
    cues = sprite_cues(75.0, spec, sheets=2, tile_width=160, tile_height=284)
    assert [cue.uri for cue in cues] == [
        "sprite_000.jpg#xywh=0,0,160,284",
        "sprite_000.jpg#xywh=160,0,160,284",
        "sprite_000.jpg#xywh=320,0,160,284",
        "sprite_000.jpg#xywh=0,284,160,284",
        "sprite_000.jpg#xywh=160,284,160,284",
        "sprite_000.jpg#xywh=320,284,160,284",
        "sprite_001.jpg#xywh=0,0,160,284",
        "sprite_001.jpg#xywh=160,0,160,284",
    ]
    assert (cues[-1].start, cues[-1].end) == (70, 75.0)


def test_cues_never_point_past_the_sheets_written() -> None:
    spec = SpriteSpec(interval=2, columns=2, rows=2)
    cues = sprite_cues(100.0, spec, sheets=1, tile_width=160, tile_height=90)
    assert len(cues) == 4
    assert cues[-1].end == 100.0


def test_a_film_shorter_than_one_interval_has_one_cue() -> None:
    cues = sprite_cues(0.17, SpriteSpec(interval=2), sheets=1, tile_width=160, tile_height=120)
    assert cues == [Cue(0, 0.17, "sprite_000.jpg#xywh=0,0,160,120")]


def test_webvtt_is_well_formed() -> None:
    text = webvtt([Cue(0, 2, "a.jpg#xywh=0,0,1,1"), Cue(3718, 3725.5, "b.jpg#xywh=1,0,1,1")])
    assert text == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:02.000\na.jpg#xywh=0,0,1,1\n\n"
        "01:01:58.000 --> 01:02:05.500\nb.jpg#xywh=1,0,1,1\n"
    )
