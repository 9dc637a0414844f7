import json
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pytest
from PIL import Image

from kushfilms.media.ffmpeg import ffmpeg_executable
from kushfilms.media.ingest.probe import ProbeError, SourceInfo, probe
from tests.media.samples import sample


@dataclass(frozen=True)
class Expected:
    display: tuple[int, int]
    rotation: int
    fps: float
    duration: float
    audio_channels: int
    audio_streams: int = 1
    hdr: bool = False
    interlaced: bool = False
    sar: Fraction = Fraction(1)


# What the MANIFEST says a person sees and hears in each sample.
EXPECTED = {
    "01": Expected((1280, 720), 0, 29.97, 4.97, 2),
    "02": Expected((1080, 1920), 90, 28.03, 2.55, 2, hdr=True),
    "03": Expected((2160, 3840), 90, 60.06, 0.31, 2),
    "04": Expected((1280, 720), 180, 10.51, 2.38, 1),
    "05": Expected((1920, 1080), 0, 50, 2.0, 2),
    "06": Expected((1280, 720), 0, 24, 30.0, 2),
    "07": Expected((1920, 1080), 0, 60, 1.01, 6),
    "08": Expected((1280, 720), 0, 14.99, 4.9, 2),
    "09": Expected((1920, 1080), 0, 59.94, 1.02, 2, hdr=True),
    "10": Expected((161, 121), 0, 29.97, 1.0, 0, audio_streams=0),
    "11": Expected((1138, 640), 0, 30, 4.0, 0, audio_streams=0, sar=Fraction(64, 45)),
    "12": Expected((640, 480), 0, 29.97, 0.17, 2, 2, interlaced=True, sar=Fraction(8, 9)),
    "13": Expected((1080, 720), 0, 30, 1.23, 1),
    "14": Expected((640, 480), 0, 30, 6.17, 2),
    "17": Expected((427, 240), 0, 30, 27.2, 2, sar=Fraction(640, 639)),
}


@pytest.fixture(scope="module")
def infos() -> dict[str, SourceInfo]:
    return {number: probe(sample(number)) for number in EXPECTED}


@pytest.mark.parametrize("number", EXPECTED)
def test_sample_is_described_as_it_is_shown(infos: dict[str, SourceInfo], number: str) -> None:
    info, expected = infos[number], EXPECTED[number]
    assert (info.display_width, info.display_height) == expected.display
    assert info.rotation == expected.rotation
    assert info.sample_aspect_ratio == expected.sar
    assert info.frame_rate == pytest.approx(expected.fps, abs=0.05)
    assert info.duration == pytest.approx(expected.duration, abs=0.1)
    assert info.audio_channels == expected.audio_channels
    assert info.audio_streams == expected.audio_streams
    assert (info.audio_codec is not None) == (expected.audio_streams > 0)
    assert info.hdr is expected.hdr
    assert info.interlaced is expected.interlaced
    assert info.size_bytes == sample(number).stat().st_size


def test_rotated_phone_video_keeps_its_stored_size(infos: dict[str, SourceInfo]) -> None:
    portrait = infos["02"]
    assert (portrait.width, portrait.height) == (1920, 1080)
    assert portrait.display_aspect == Fraction(9, 16)


def test_bogus_frame_rate_headers_are_not_believed(infos: dict[str, SourceInfo]) -> None:
    # 04 says r=90000/1, 13 says avg=1000/1, the DV file says 60000/1.
    assert infos["04"].frame_rate == pytest.approx(10.5, abs=0.05)
    assert infos["13"].frame_rate == pytest.approx(30, abs=0.1)
    assert infos["12"].frame_rate == pytest.approx(29.97, abs=0.01)


def test_variable_frame_rate_is_noticed(infos: dict[str, SourceInfo]) -> None:
    assert {number for number, info in infos.items() if info.variable_frame_rate} == {
        "02",
        "04",
        "13",
    }


def test_duration_is_measured_when_the_header_has_none(infos: dict[str, SourceInfo]) -> None:
    assert 4.8 < infos["08"].duration < 5.0


def test_colour_is_described(infos: dict[str, SourceInfo]) -> None:
    hlg, pq, full_range = infos["02"], infos["09"], infos["03"]
    assert (hlg.color_transfer, hlg.color_primaries) == ("arib-std-b67", "bt2020")
    assert (pq.color_transfer, pq.color_space) == ("smpte2084", "bt2020nc")
    assert (hlg.bit_depth, pq.pix_fmt) == (10, "yuv420p10le")
    assert (full_range.pix_fmt, full_range.color_range) == ("yuvj420p", "pc")
    assert infos["01"].color_range == "tv"
    assert infos["12"].pix_fmt == "yuv411p"


def test_codecs_and_containers_are_named(infos: dict[str, SourceInfo]) -> None:
    assert (infos["09"].video_codec, infos["09"].container) == ("av1", "mov,mp4,m4a,3gp,3g2,mj2")
    assert (infos["08"].video_codec, infos["08"].audio_codec) == ("vp9", "opus")
    assert (infos["13"].container, infos["13"].audio_codec) == ("matroska,webm", "ac3")
    assert infos["12"].video_codec == "dvvideo"


def test_source_info_survives_json(infos: dict[str, SourceInfo]) -> None:
    for info in infos.values():
        assert SourceInfo.from_json(json.loads(json.dumps(info.to_json()))) == info


def test_corrupt_video_track_is_undecodable() -> None:
    with pytest.raises(ProbeError) as refused:
        probe(sample("15"))
    assert refused.value.code == "undecodable"
    assert "damaged" in str(refused.value)


def test_malformed_mp4_is_unreadable() -> None:
    with pytest.raises(ProbeError) as refused:
        probe(sample("16"))
    assert refused.value.code == "unreadable"


@pytest.mark.parametrize("content", [b"hello, this is not a video\n", bytes(range(256)) * 40])
def test_files_that_are_not_media_are_unreadable(tmp_path: Path, content: bytes) -> None:
    fake = tmp_path / "holiday.mp4"
    fake.write_bytes(content)
    with pytest.raises(ProbeError) as refused:
        probe(fake)
    assert refused.value.code == "unreadable"
    assert "not a video" in str(refused.value)


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ProbeError) as refused:
        probe(tmp_path / "gone.mp4")
    assert refused.value.code == "unreadable"


def _ffmpeg(*arguments: str) -> None:
    subprocess.run(
        [ffmpeg_executable(""), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *arguments],
        check=True,
    )


@pytest.mark.parametrize("cover_art", [False, True])
def test_audio_only_file_has_no_video(tmp_path: Path, cover_art: bool) -> None:
    song = tmp_path / "song.m4a"
    if cover_art:  # album art is a picture stream, not a film
        _ffmpeg(
            *("-f", "lavfi", "-i", "sine=d=1", "-f", "lavfi", "-i", "testsrc2=s=64x64"),
            *("-map", "0", "-map", "1", "-frames:v", "1", "-c:a", "aac", "-c:v", "mjpeg"),
            *("-disposition:v", "attached_pic", str(song)),
        )
    else:
        _ffmpeg("-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac", str(song))
    with pytest.raises(ProbeError) as refused:
        probe(song)
    assert refused.value.code == "no_video"
    assert "no video" in str(refused.value)


def test_video_without_timing_has_no_duration(tmp_path: Path) -> None:
    raw = tmp_path / "frame.h264"  # a bare H.264 stream carries no timestamps
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48", "-frames:v", "1", "-f", "h264", str(raw))
    with pytest.raises(ProbeError) as refused:
        probe(raw)
    assert refused.value.code == "no_duration"


def test_too_many_pixels_is_too_large() -> None:
    with pytest.raises(ProbeError) as refused:
        probe(sample("03"), max_pixels=1920 * 1080)
    assert refused.value.code == "too_large"
    assert "3840x2160" in str(refused.value)


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "WEBP"])
def test_a_still_picture_is_not_a_film(tmp_path: Path, image_format: str) -> None:
    picture = tmp_path / "poster.mp4"
    Image.new("RGB", (320, 240), (90, 90, 90)).save(picture, format=image_format)

    with pytest.raises(ProbeError) as refused:
        probe(picture)

    assert refused.value.code == "unreadable"
    assert "still image" in str(refused.value)
