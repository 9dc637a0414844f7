"""Every valid sample becomes a ladder a browser can play: the expensive tests.

Each sample is transcoded once (a module-scoped fixture; its tests share an
xdist group) and every rung is then decoded end to end with PyAV.
"""

import dataclasses
import itertools
import math
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import m3u8
import pytest
from PIL import Image

from kushfilms.config import DEFAULT_LADDER_BITRATES
from kushfilms.media.ffmpeg import (
    TranscodeCancelled,
    TranscodeError,
    ffmpeg_executable,
    run_ffmpeg,
)
from kushfilms.media.ingest.probe import SourceInfo, probe
from kushfilms.media.layout import SPRITE_DIR, STILLS_DIR
from kushfilms.media.playlists import Rendition
from kushfilms.media.transcoding.artwork import (
    FrameScore,
    make_poster,
    make_sprites,
    pick,
    poster_size,
    poster_spec,
    score,
)
from kushfilms.media.transcoding.ladder import (
    Rung,
    SpriteSpec,
    ladder_command,
    output_dirs,
    plan_ladder,
    sprite_spec_for,
    thumbnail_size,
)
from kushfilms.media.transcoding.outputs import sprite_vtt, write_master_playlist
from tests.media.samples import VALID, sample

FFMPEG = ffmpeg_executable("")
PRESET = "superfast"  # still High profile (8x8 transforms, CABAC); saves test time
SEGMENT_SECONDS = 4
# How far a rendition's audio or video may run from the source's duration:
# encoder delay, AAC priming and the last frame's length, never half a second.
DURATION_SLACK = 0.5
# Bytes that would give away where and on what a film was shot (04 has the GPS tag).
PRIVATE_BYTES = (b"+54.1843", b"-002.7189", b"com.android", b"Core Media", b"2017-01-05")


@dataclass(frozen=True)
class Ladder:
    source: Path
    info: SourceInfo
    rungs: list[Rung]
    out: Path
    renditions: list[Rendition]
    reports: list[float]  # the share of the run done, as ffmpeg's progress told it
    candidates: list[Path]
    poster: Path


def transcode(source: Path, out: Path, info: SourceInfo | None = None) -> Ladder:
    """What the transcode job does, minus storage and the database (``info``: what the
    probe would say, for a source that misstates itself)."""
    info = info or probe(source)
    rungs = plan_ladder(info, DEFAULT_LADDER_BITRATES)
    sprite = sprite_spec_for(info.duration)
    for directory in output_dirs(out, rungs):
        directory.mkdir(parents=True)
    reports: list[float] = []
    command = ladder_command(
        FFMPEG, source, out, info, rungs, sprite=sprite, poster=poster_spec(info), preset=PRESET
    )
    run_ffmpeg(
        command,
        duration=info.duration,
        frames=info.duration * rungs[0].fps,
        on_progress=reports.append,
        should_stop=lambda: False,
    )
    renditions = write_master_playlist(out, rungs)
    stills = out / STILLS_DIR
    make_sprites(stills, out / SPRITE_DIR, sprite, info)
    sprite_vtt(out, info, sprite)
    candidates = sorted(stills.glob("poster_*.jpg"))
    poster = out.parent / f"{out.name}-poster.jpg"
    make_poster(stills, poster)
    return Ladder(source, info, rungs, out, renditions, reports, candidates, poster)


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(number, marks=pytest.mark.xdist_group(f"ladder-{number}")) for number in VALID
    ],
)
def ladder(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Ladder:
    number = request.param
    return transcode(sample(number), tmp_path_factory.mktemp(f"ladder-{number}"))


@dataclass(frozen=True)
class Decoded:
    codec: str
    profile: str | None
    pix_fmts: set[str]
    bit_depths: set[int]
    sizes: set[tuple[int, int]]
    rotations: set[int]
    sample_aspect_ratio: Fraction | None
    full_range: bool
    frame_times: list[float]
    first_frame: Image.Image
    audio: tuple[str, str | None, int, int, float] | None  # codec, profile, channels, rate, seconds


def decode(playlist: Path) -> Decoded:
    """Play one rung start to finish through its HLS playlist, as a player would."""
    pix_fmts, bit_depths, sizes, rotations, ranges = set(), set(), set(), set(), set()
    times: list[float] = []
    first_frame = None
    with av.open(str(playlist)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            pix_fmts.add(frame.format.name)
            bit_depths.add(frame.format.components[0].bits)
            sizes.add((frame.width, frame.height))
            rotations.add(frame.rotation)
            ranges.add(frame.color_range)
            times.append(frame.time)
            if first_frame is None:
                first_frame = frame.to_image()
        video = stream.codec_context
    assert first_frame is not None
    return Decoded(
        codec=video.name,
        profile=video.profile,
        pix_fmts=pix_fmts,
        bit_depths=bit_depths,
        sizes=sizes,
        rotations=rotations,
        sample_aspect_ratio=video.sample_aspect_ratio,
        full_range=2 in ranges,  # AVCOL_RANGE_JPEG
        frame_times=times,
        first_frame=first_frame,
        audio=_play_audio(playlist),
    )


def _play_audio(playlist: Path) -> tuple[str, str | None, int, int, float] | None:
    with av.open(str(playlist)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        first = last = None
        for chunk in container.decode(stream):
            if first is None:
                first = chunk
            last = chunk
        assert first is not None
        assert last is not None
        seconds = last.time + last.samples / last.sample_rate - first.time
        context = stream.codec_context
        return context.name, context.profile, context.channels, context.sample_rate, seconds


@pytest.fixture(scope="module")
def played(ladder: Ladder) -> dict[str, Decoded]:
    """Each rung of the ladder, played once."""
    return {rung.name: decode(ladder.out / rung.name / "index.m3u8") for rung in ladder.rungs}


def test_master_playlist_lists_every_rung(ladder: Ladder) -> None:
    master = m3u8.load(str(ladder.out / "master.m3u8"))
    variants = master.playlists
    assert [variant.uri for variant in variants] == [
        f"{rendition.name}/index.m3u8" for rendition in ladder.renditions
    ]
    assert {variant.uri.split("/")[0] for variant in variants} == {r.name for r in ladder.rungs}
    bandwidths = [variant.stream_info.bandwidth for variant in variants]
    assert bandwidths == sorted(bandwidths)
    by_name = {rung.name: rung for rung in ladder.rungs}
    for variant in variants:
        rung = by_name[variant.uri.split("/")[0]]
        info = variant.stream_info
        assert info.resolution == (rung.width, rung.height)
        assert info.frame_rate == round(rung.fps, 3)
        assert info.bandwidth >= info.average_bandwidth > 0
        video, *audio = info.codecs.split(",")
        assert re.fullmatch(r"avc1\.6400[0-9a-f]{2}", video)
        assert audio == (["mp4a.40.2"] if ladder.info.audio_streams else [])
        if ladder.info.duration >= SEGMENT_SECONDS:  # a long enough run for rate control
            budget = (rung.max_kbps + 128) * 1000
            assert info.average_bandwidth < 2 * budget


def test_rungs_are_vod_playlists_cut_on_the_same_4_s_boundaries(ladder: Ladder) -> None:
    cuts = set()
    for rung in ladder.rungs:
        playlist = m3u8.load(str(ladder.out / rung.name / "index.m3u8"))
        assert playlist.playlist_type == "vod"
        assert playlist.is_endlist
        assert playlist.segments[0].init_section.uri == "init.mp4"
        durations = [segment.duration for segment in playlist.segments]
        assert all(3.9 <= duration <= 4.1 for duration in durations[:-1])
        assert 0 < durations[-1] <= 4.1
        assert sum(durations) == pytest.approx(ladder.info.duration, abs=DURATION_SLACK)
        for segment in playlist.segments:
            assert (ladder.out / rung.name / segment.uri).stat().st_size > 0
        cuts.add(tuple(round(duration, 2) for duration in durations))
    assert len(cuts) == 1  # a player can switch rungs at any segment


def test_every_rung_plays_as_sdr_h264_high_with_square_pixels(
    ladder: Ladder, played: dict[str, Decoded]
) -> None:
    for rung in ladder.rungs:
        rendition = played[rung.name]
        assert (rendition.codec, rendition.profile) == ("h264", "High")
        assert rendition.pix_fmts == {"yuv420p"}
        assert rendition.bit_depths == {8}
        assert not rendition.full_range
        assert rendition.sizes == {(rung.width, rung.height)}
        assert rung.width % 2 == 0
        assert rung.height % 2 == 0
        assert rendition.rotations == {0}
        assert rendition.sample_aspect_ratio in (None, Fraction(1))


def test_every_rung_runs_at_a_constant_rate_for_the_whole_film(
    ladder: Ladder, played: dict[str, Decoded]
) -> None:
    for rung in ladder.rungs:
        times = played[rung.name].frame_times
        assert rung.fps <= 60
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert max(gaps) - min(gaps) < 0.002  # constant frame rate
        assert 1 / (sum(gaps) / len(gaps)) == pytest.approx(rung.fps, rel=0.01)
        video_seconds = times[-1] - times[0] + 1 / rung.fps
        assert video_seconds == pytest.approx(ladder.info.duration, abs=DURATION_SLACK)


def test_every_rung_has_stereo_aac_exactly_when_the_source_has_sound(
    ladder: Ladder, played: dict[str, Decoded]
) -> None:
    for rung in ladder.rungs:
        audio = played[rung.name].audio
        if not ladder.info.audio_streams:
            assert audio is None
            continue
        assert audio is not None
        codec, profile, channels, rate, seconds = audio
        assert (codec, profile, channels, rate) == ("aac", "LC", 2, 48000)
        assert seconds == pytest.approx(ladder.info.duration, abs=DURATION_SLACK)


def test_pictures_are_shown_the_right_way_up(ladder: Ladder, played: dict[str, Decoded]) -> None:
    portrait = ladder.info.display_height > ladder.info.display_width
    for rung in ladder.rungs:
        assert (rung.height > rung.width) == portrait
    if not ladder.info.rotation:
        return
    # The first picture matches the phone's stored picture turned by the
    # display matrix, and matches it worse turned any other way.
    shown = played[ladder.rungs[-1].name].first_frame
    with av.open(str(ladder.source)) as container:
        stored = next(container.decode(video=0)).to_image()
    likenesses = {
        clockwise: likeness(stored.rotate(-clockwise, expand=True), shown)
        for clockwise in (0, 90, 180, 270)
    }
    assert max(likenesses, key=likenesses.__getitem__) == ladder.info.rotation
    assert likenesses[ladder.info.rotation] > 0.9


def likeness(first: Image.Image, second: Image.Image) -> float:
    """Correlation of two pictures' coarse grey levels: 1 is the same picture."""
    size = (24, 24)
    a = list(first.convert("L").resize(size).get_flattened_data())
    b = list(second.convert("L").resize(size).get_flattened_data())
    mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
    covariance = sum((x - mean_a) * (y - mean_b) for x, y in zip(a, b, strict=True))
    spread_a = math.sqrt(sum((x - mean_a) ** 2 for x in a))
    spread_b = math.sqrt(sum((y - mean_b) ** 2 for y in b))
    return covariance / (spread_a * spread_b)


def test_progress_only_rises_and_ends_with_the_run(ladder: Ladder) -> None:
    # ffmpeg's clock (out_time) is the slowest output's: with several outputs it fell
    # back from 98 % to 69 % on 02, from 91 % to 42 % on 04, when the sound ended.
    assert ladder.reports[-1] == 1.0
    assert ladder.reports == sorted(ladder.reports)
    assert all(0 <= done <= 1 for done in ladder.reports)


def test_nothing_personal_is_carried_over(ladder: Ladder) -> None:
    for path in ladder.out.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not [marker for marker in PRIVATE_BYTES if marker in content], path
    for rung in ladder.rungs:
        with av.open(str(ladder.out / rung.name / "init.mp4")) as container:
            assert set(container.metadata) <= {
                "major_brand",
                "minor_version",
                "compatible_brands",
                "encoder",
            }
            for stream in container.streams:
                assert set(stream.metadata) <= {"language", "handler_name", "vendor_id", "encoder"}
                assert stream.metadata.get("handler_name") in ("VideoHandler", "SoundHandler")


def test_scrub_thumbnails_cover_the_whole_film(ladder: Ladder) -> None:
    spec = sprite_spec_for(ladder.info.duration)
    thumbs = ladder.out / "thumbs"
    wanted = math.ceil(ladder.info.duration / spec.interval)
    sheets = sorted(thumbs.glob("sprite_*.jpg"))
    assert len(sheets) == math.ceil(wanted / (spec.columns * spec.rows))
    width, height = thumbnail_size(spec, ladder.info)
    with Image.open(sheets[0]) as sheet:
        assert sheet.size == (width * spec.columns, height * spec.rows)
    text = (thumbs / "thumbnails.vtt").read_text()
    assert text.startswith("WEBVTT\n")
    cues = re.findall(r"(\S+) --> (\S+)\n(sprite_\d{3}\.jpg)#xywh=(\d+),(\d+),(\d+),(\d+)", text)
    assert len(cues) == wanted
    assert cues[0][:2] == (
        "00:00:00.000",
        f"00:00:{min(spec.interval, ladder.info.duration):06.3f}",
    )
    assert seconds(cues[-1][1]) == pytest.approx(ladder.info.duration, abs=0.001)
    for _, _, name, x, y, w, h in cues:
        assert (thumbs / name).exists()
        assert (int(w), int(h)) == (width, height)
        assert int(x) + width <= width * spec.columns
        assert int(y) + height <= height * spec.rows


def seconds(timestamp: str) -> float:
    hours, minutes, rest = timestamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(rest)


# A generated clip: a known ladder, progress and cancelling.


def make_clip(path: Path, *arguments: str) -> Path:
    command = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", *arguments, str(path)]
    subprocess.run(command, check=True)
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six seconds of 1280x720 test card with a tone."""
    return make_clip(
        tmp_path_factory.mktemp("clip") / "clip.mp4",
        *("-f", "lavfi", "-i", "testsrc2=s=1280x720:r=25:d=6"),
        *("-f", "lavfi", "-i", "sine=f=440:d=6"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest"),
    )


@pytest.mark.xdist_group("ladder-clip")
def test_a_720p_clip_gets_three_rungs_and_reports_progress_to_100(
    clip: Path, tmp_path: Path
) -> None:
    made = transcode(clip, tmp_path / "out")
    assert [rendition.name for rendition in made.renditions] == ["360p", "480p", "720p"]
    assert [(r.width, r.height) for r in made.renditions] == [(640, 360), (854, 480), (1280, 720)]
    assert made.reports
    assert made.reports[-1] == 1.0
    assert made.reports == sorted(made.reports)
    assert all(0 <= done <= 1 for done in made.reports)


@pytest.mark.xdist_group("ladder-clip")
def test_a_cancelled_run_stops_ffmpeg(tmp_path: Path) -> None:
    source = sample("06")  # 30 s of video: many seconds of work
    info = probe(source)
    rungs = plan_ladder(info, DEFAULT_LADDER_BITRATES)
    out = tmp_path / "cancelled"
    for directory in output_dirs(out, rungs):
        directory.mkdir(parents=True)
    command = ladder_command(
        FFMPEG,
        source,
        out,
        info,
        rungs,
        sprite=sprite_spec_for(info.duration),
        poster=poster_spec(info),
        preset="medium",
    )
    started = time.monotonic()
    with pytest.raises(TranscodeCancelled):
        run_ffmpeg(
            command,
            duration=info.duration,
            on_progress=lambda *_: None,
            should_stop=lambda: time.monotonic() - started > 1.0,
        )
    assert time.monotonic() - started < 3.0  # stopped within about a second of asking
    assert not list(processes_mentioning(str(out)))


def processes_mentioning(text: str) -> Iterator[int]:
    """Process ids whose command line contains ``text``."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command_line = (entry / "cmdline").read_bytes()
            except OSError:  # the process ended while we looked
                continue
            if text.encode() in command_line:
                yield int(entry.name)


# Posters


def test_thumbnails_are_tiled_in_film_order_into_full_sheets(tmp_path: Path) -> None:
    spec = SpriteSpec(interval=2, width=32, columns=3, rows=2)
    info = dataclasses.replace(probe(sample("01")), duration=14.0)  # 16:9: 32x18 tiles
    stills, sheets = tmp_path / "stills", tmp_path / "thumbs"
    stills.mkdir()
    sheets.mkdir()
    shades = [(40 * n, 255 - 40 * n, 128) for n in range(7)]
    for number, shade in enumerate(shades):
        Image.new("RGB", (32, 18), shade).save(stills / f"thumb_{number:05d}.jpg", quality=95)

    make_sprites(stills, sheets, spec, info)

    assert sorted(path.name for path in sheets.iterdir()) == ["sprite_000.jpg", "sprite_001.jpg"]
    with (
        Image.open(sheets / "sprite_000.jpg") as first,
        Image.open(sheets / "sprite_001.jpg") as last,
    ):
        assert first.size == last.size == (96, 36)
        for number, shade in enumerate(shades[:6]):
            row, column = divmod(number, 3)
            assert near(first.getpixel((column * 32 + 16, row * 18 + 9)), shade)
        assert near(last.getpixel((16, 9)), shades[6])
        assert near(last.getpixel((48, 27)), (0, 0, 0))  # an unused tile stays black


def near(pixel: object, colour: tuple[int, int, int]) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(a - b) <= 8 for a, b in zip(pixel, colour, strict=True))


def test_frames_are_scored_for_light_and_detail() -> None:
    black = Image.new("RGB", (64, 36))
    grey = Image.new("RGB", (64, 36), (128, 128, 128))
    stripes = Image.new("L", (64, 36))
    stripes.putdata([255 if (x // 8) % 2 else 0 for _ in range(36) for x in range(64)])
    assert not score(black).usable
    assert not score(grey).usable
    assert score(stripes).usable


def test_the_first_usable_frame_is_picked_else_the_most_detailed() -> None:
    dark, flat, fine, finer = (
        FrameScore(5, 30),
        FrameScore(120, 3),
        FrameScore(90, 40),
        FrameScore(100, 70),
    )
    assert pick([dark, flat, fine, finer]) == 2
    assert pick([flat, dark]) == 1


def test_a_poster_skips_a_black_opening(tmp_path: Path) -> None:
    # Ten seconds whose first three are black: the 10% and 25% candidates are.
    film = make_clip(
        tmp_path / "fade.mp4",
        *("-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=10"),
        *("-vf", "drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill:enable='lt(t,3)'"),
        *("-c:v", "libx264", "-preset", "ultrafast"),
    )
    made = transcode(film, tmp_path / "out")
    # The opening frame (the last resort), then one at each of the four candidate times.
    assert [path.name for path in made.candidates] == [f"poster_{n:02d}.jpg" for n in range(5)]
    scores = []
    for path in made.candidates:
        with Image.open(path) as candidate:
            assert candidate.size == (640, 360)
            scores.append(score(candidate))
    assert [candidate.usable for candidate in scores] == [False, False, False, True, True]
    with Image.open(made.poster) as image:
        assert image.format == "JPEG"
        assert image.size == (640, 360)
        assert score(image).usable


@pytest.mark.parametrize(
    ("number", "size"),
    [("02", (720, 1280)), ("04", (1280, 720)), ("08", (1280, 720)), ("17", (426, 240))],
)
def test_posters_are_the_display_size_shrunk_to_1280_px(number: str, size: tuple[int, int]) -> None:
    info = probe(sample(number))
    assert poster_size(info) == size
    assert (poster_spec(info).width, poster_spec(info).height) == size
    assert poster_spec(info).times == pytest.approx(
        tuple(info.duration * fraction for fraction in (0.10, 0.25, 0.40, 0.60))
    )


def test_every_film_gets_an_upright_sdr_poster(ladder: Ladder) -> None:
    with Image.open(ladder.poster) as image:
        assert image.format == "JPEG"
        assert image.size == poster_size(ladder.info)
        assert image.mode == "RGB"
        assert max(image.size) <= 1280
        assert not image.getexif()
        assert "comment" not in image.info  # nothing of the encoder's is carried on
        # 05 is a night scene and 08 a nearly black recording, from start to end.
        if not ladder.source.name.startswith(("05", "08")):
            assert score(image).usable


def test_a_film_whose_pictures_stop_early_gets_its_first_frame(tmp_path: Path) -> None:
    # Two seconds of pictures under twenty of sound: every candidate time is past them.
    film = make_clip(
        tmp_path / "radio.mp4",
        *("-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=2"),
        *("-f", "lavfi", "-i", "sine=f=440:d=20"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"),
    )
    made = transcode(film, tmp_path / "out")
    assert made.info.duration == pytest.approx(20, abs=0.1)
    assert [path.name for path in made.candidates] == ["poster_00.jpg"]
    with av.open(str(film)) as container:
        opening = next(container.decode(video=0)).to_image()
    with Image.open(made.poster) as image:
        assert likeness(image, opening) > 0.95


def test_no_poster_without_a_candidate(tmp_path: Path) -> None:
    poster = tmp_path / "poster.jpg"
    with pytest.raises(TranscodeError, match="poster frame"):
        make_poster(tmp_path, poster)
    assert not poster.exists()
