"""The HLS ladder: which renditions a source gets, and the one ffmpeg command that makes them
(with the frames for the scrub-preview sprites and for the poster)."""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from kushfilms.media import layout
from kushfilms.media.ingest.probe import SourceInfo

_MAX_FPS = 60
_STANDARD_RATE_TEXTS = ("24000/1001", "24", "25", "30000/1001", "30", "50", "60000/1001", "60")
_STANDARD_RATES = tuple(Fraction(rate) for rate in _STANDARD_RATE_TEXTS)
# Within this a rate is a standard one read through coarse timestamps (60.06, 29.99).
_SNAP_TOLERANCE = 0.01
# Bitrates are configured for 16:9 pictures; other shapes get the same bits per pixel.
_REFERENCE_ASPECT = Fraction(16, 9)
# Capped VBR: peaks up to 1.5x the average, smoothed over about 1.3 s of peak rate.
_PEAK_FACTOR = 1.5
_BUFFER_FACTOR = 2
# H.264 Annex A, Table A-1: level, max macroblocks/s, max frame size (macroblocks),
# max video bitrate and CPB size (kbit/s and kbit, Main profile; High allows 1.25x).
# It starts at 3.0: every phone and browser decodes that, and the lower levels
# cap bitrate too tightly to be worth labelling tiny renditions with.
_LEVELS = (
    ("3.0", 40_500, 1_620, 10_000, 10_000),
    ("3.1", 108_000, 3_600, 14_000, 14_000),
    ("3.2", 216_000, 5_120, 20_000, 20_000),
    ("4.0", 245_760, 8_192, 20_000, 25_000),
    ("4.1", 245_760, 8_192, 50_000, 62_500),
    ("4.2", 522_240, 8_704, 50_000, 62_500),
    ("5.0", 589_824, 22_080, 135_000, 135_000),
    ("5.1", 983_040, 36_864, 240_000, 240_000),
    ("5.2", 2_073_600, 36_864, 240_000, 240_000),
    ("6.0", 4_177_920, 139_264, 240_000, 240_000),
    ("6.1", 8_355_840, 139_264, 480_000, 480_000),
    ("6.2", 16_711_680, 139_264, 800_000, 800_000),
)
_HIGH_PROFILE_FACTOR = 1.25
# HDR (PQ or HLG, BT.2020) to SDR BT.709: linearise, map the gamut, compress the
# highlights with the Hable curve, then back to BT.709 gamma, limited range, 8-bit.
_TONE_MAP = (
    "zscale=t=linear:npl=100",
    "format=gbrpf32le",
    "zscale=p=bt709",
    "tonemap=hable:desat=0",
    "zscale=t=bt709:m=bt709:r=tv",
    "format=yuv420p",
)
_AUDIO = ("-c:a", "aac", "-profile:a", "aac_low", "-b:a", "128k", "-ac", "2", "-ar", "48000")
_STILL_QUALITY = 2  # near lossless: they are encoded again
_MAX_THUMBNAILS = 400
_MIN_SPRITE_INTERVAL = 2


@dataclass(frozen=True)
class Rung:
    name: str
    width: int
    height: int
    video_kbps: int
    max_kbps: int
    buffer_kbits: int
    level: str
    fps: float
    profile: str = "high"


@dataclass(frozen=True)
class SpriteSpec:
    """Scrub-preview thumbnails: one every ``interval`` seconds, tiled into sheets."""

    interval: int
    width: int = 160
    columns: int = 10
    rows: int = 10


@dataclass(frozen=True)
class PosterSpec:
    """Poster candidates at ``width`` x ``height``: the film's first frame (the last resort,
    for a film whose pictures stop early), then the first frame at or after each of
    ``times`` (seconds)."""

    times: tuple[float, ...]
    width: int
    height: int


def sprite_spec_for(duration: float) -> SpriteSpec:
    """Every 2 s for short films, sparser for long ones: at most about 400 thumbnails."""
    return SpriteSpec(interval=max(_MIN_SPRITE_INTERVAL, math.ceil(duration / _MAX_THUMBNAILS)))


def thumbnail_size(spec: SpriteSpec, info: SourceInfo) -> tuple[int, int]:
    return spec.width, _even(spec.width / info.display_aspect)


def target_frame_rate(info: SourceInfo) -> float:
    """The constant rate every rung is encoded at."""
    if info.variable_frame_rate:
        # A variable-rate phone clip is a standard-rate camera dropping frames
        # (02 averages 28.03 at a nominal 29.97), so the nearest standard rate
        # is the one it was shot at, and one that players pace smoothly.
        return float(min(_STANDARD_RATES, key=lambda standard: abs(standard - info.frame_rate)))
    rate = _snap(info.frame_rate)
    while rate > _MAX_FPS:
        rate = _snap(rate / 2)  # whole-frame decimation: every other frame, no blending
    return rate


def h264_level(width: int, height: int, fps: float, max_kbps: int, buffer_kbits: int) -> str:
    """The lowest H.264 level whose decoders can play this picture size, rate and bitrate."""
    columns, rows = math.ceil(width / 16), math.ceil(height / 16)
    macroblocks = columns * rows
    for level, max_rate, max_frame, max_bitrate, max_buffer in _LEVELS:
        side_limit = math.sqrt(8 * max_frame)  # Annex A bounds each side, not just the area
        if (
            macroblocks <= max_frame
            and max(columns, rows) <= side_limit
            and macroblocks * fps <= max_rate
            and max_kbps <= max_bitrate * _HIGH_PROFILE_FACTOR
            and buffer_kbits <= max_buffer * _HIGH_PROFILE_FACTOR
        ):
            return level
    raise ValueError(f"no H.264 level allows {width}x{height} at {fps:g} fps, {max_kbps} kbit/s")


def plan_ladder(info: SourceInfo, bitrates: Mapping[int, int]) -> list[Rung]:
    """One rung per configured short side the source reaches; never upscaled, never none.

    ``bitrates`` maps a rung's short side (360 for 640x360 and for 360x640) to
    its video kbit/s. A source smaller than every rung gets one at its own size.
    """
    fps = target_frame_rate(info)
    short_side = min(info.display_width, info.display_height)
    sizes = [size for size in sorted(bitrates) if size <= short_side]
    if sizes:
        shorts = [(size, size) for size in sizes]
    else:
        smallest = min(bitrates)
        shorts = [(max(2, short_side - short_side % 2), smallest)]
    return [_rung(info, short, bitrates[reference], reference, fps) for short, reference in shorts]


def frame_size(info: SourceInfo, short: int) -> tuple[int, int]:
    """Width and height in display orientation for this short side; the long side follows
    the display aspect, rounded to the nearest even number."""
    aspect = info.display_aspect
    if aspect < 1:
        return short, _even(short / aspect)
    return _even(short * aspect), short


def picture_filters(info: SourceInfo, fps: float) -> list[str]:
    """Make the decoded picture progressive, constant-rate and SDR; autorotation runs before."""
    # The source's per-frame metadata (HDR mastering, Dolby Vision, ambient
    # light) would otherwise reach the first output and mark SDR video as HDR.
    filters = ["sidedata=mode=delete"]
    if info.interlaced:
        filters.append("bwdif=mode=send_frame:parity=auto:deint=interlaced")
    filters.append(f"fps={_rate_text(fps)}")
    if info.hdr:
        filters.extend(_TONE_MAP)
    return filters


def scale_filters(width: int, height: int) -> list[str]:
    """Exact output size with square pixels, limited range, 8-bit 4:2:0."""
    return [f"scale={width}:{height}:out_range=tv", "setsar=1", "format=yuv420p"]


def output_dirs(out_dir: Path, rungs: Sequence[Rung]) -> list[Path]:
    """Directories the ladder command writes into (and the sprites' own); ffmpeg makes none
    of the images' itself."""
    pictures = [out_dir / layout.SPRITE_DIR, out_dir / layout.STILLS_DIR]
    return [out_dir / rung.name for rung in rungs] + pictures


def ladder_command(
    ffmpeg: str,
    source: Path,
    out_dir: Path,
    info: SourceInfo,
    rungs: Sequence[Rung],
    *,
    segment_seconds: int = 4,
    gop_seconds: int = 2,
    sprite: SpriteSpec,
    poster: PosterSpec,
    preset: str = "veryfast",
) -> list[str]:
    """One decode, every rung, the scrub thumbnails and the poster candidates:
    ``out_dir/<rung>/index.m3u8``, ``out_dir/stills/thumb_00000.jpg``... and
    ``out_dir/stills/poster_00.jpg``...; the directories of ``output_dirs`` must exist.

    Every rung is its own HLS output (rather than one ``-var_stream_map`` output)
    because ffmpeg numbers the init segments of a variant map (``init_0.mp4``)
    and each rung's directory is to hold a plain ``init.mp4``. The thumbnails are
    tiled into sprite sheets afterwards, not by ffmpeg's ``tile``: ffmpeg reports
    no progress until every output has begun, and a sheet begins only once full.
    """
    fps = rungs[0].fps
    command = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    command += ["-progress", "pipe:1", "-nostats", "-i", str(source)]
    command += ["-filter_complex", _filter_graph(info, rungs, sprite, poster, fps)]
    gop = round(fps * gop_seconds)
    for index, rung in enumerate(rungs):
        command += ["-map", f"[v{index}]"]
        if info.audio_streams:
            command += ["-map", "0:a:0"]  # the main mix; a DV camera's second pair is for dubbing
        command += _private_output()
        command += ["-c:v", "libx264", "-preset:v", preset, "-profile:v", rung.profile]
        command += ["-level:v", rung.level, "-pix_fmt", "yuv420p"]
        command += ["-b:v", f"{rung.video_kbps}k", "-maxrate:v", f"{rung.max_kbps}k"]
        command += ["-bufsize:v", f"{rung.buffer_kbits}k"]
        # Closed GOPs of the same length everywhere, keyframes forced on the same
        # instants, so every rung cuts its segments at the same times.
        command += ["-g:v", str(gop), "-keyint_min:v", str(gop)]
        command += ["-x264-params:v", "scenecut=0:open-gop=0"]
        command += ["-force_key_frames:v", f"expr:gte(t,n_forced*{gop_seconds})"]
        if info.audio_streams:
            command += _AUDIO
        rung_dir = out_dir / rung.name
        command += ["-f", "hls", "-hls_time", str(segment_seconds), "-hls_playlist_type", "vod"]
        command += ["-hls_segment_type", "fmp4", "-hls_flags", "independent_segments"]
        command += ["-hls_fmp4_init_filename", layout.INIT_SEGMENT]
        command += ["-hls_segment_filename", str(rung_dir / layout.SEGMENT_PATTERN)]
        command.append(str(rung_dir / layout.MEDIA_PLAYLIST))
    stills = out_dir / layout.STILLS_DIR
    command += _stills_output("[thumbs]", stills / layout.THUMB_PATTERN)
    command += _stills_output("[poster]", stills / layout.POSTER_PATTERN)
    return command


def _stills_output(label: str, pattern: Path) -> list[str]:
    """Only the selected frames, each once (an image2 output would repeat them to keep the
    rate), with no encoder name in them for the pictures made of them to carry on."""
    return [
        *("-map", label, *_private_output(), "-fps_mode:v", "passthrough"),
        *("-c:v", "mjpeg", "-q:v", str(_STILL_QUALITY), "-flags:v", "+bitexact"),
        *("-f", "image2", "-start_number", "0", str(pattern)),
    ]


def _filter_graph(
    info: SourceInfo, rungs: Sequence[Rung], sprite: SpriteSpec, poster: PosterSpec, fps: float
) -> str:
    branches = len(rungs) + 2
    shared = [*picture_filters(info, fps), f"split={branches}"]
    labels = "".join(f"[p{index}]" for index in range(branches))
    chains = [f"[0:v:0]{','.join(shared)}{labels}"]
    for index, rung in enumerate(rungs):
        chains.append(f"[p{index}]{','.join(scale_filters(rung.width, rung.height))}[v{index}]")
    width, height = thumbnail_size(sprite, info)
    # The first frame of each interval: one thumbnail per interval begun, which
    # the fps filter does not promise at the end of a film.
    interval = sprite.interval
    first_of_bucket = (
        f"isnan(prev_selected_t)+gt(floor(t/{interval})\\,floor(prev_selected_t/{interval}))"
    )
    # Selected before scaling, so only the frames kept are scaled.
    thumbs = [f"select={first_of_bucket}", *_still_filters(width, height)]
    chains.append(f"[p{len(rungs)}]{','.join(thumbs)}[thumbs]")
    stills = [
        f"select={_poster_frames(poster.times)}",
        *_still_filters(poster.width, poster.height),
    ]
    chains.append(f"[p{len(rungs) + 1}]{','.join(stills)}[poster]")
    return ";".join(chains)


def _still_filters(width: int, height: int) -> list[str]:
    """Exact size with square pixels, full range as JPEG has it."""
    return [f"scale={width}:{height}:out_range=pc", "setsar=1"]


def _poster_frames(times: Sequence[float]) -> str:
    """A select expression true for the first frame, and the first at or after each time."""
    firsts = (f"gte(t\\,{at:.3f})*(isnan(prev_t)+lt(prev_t\\,{at:.3f}))" for at in times)
    return "+".join(("isnan(prev_t)", *firsts))


def _private_output() -> list[str]:
    """Nothing of the source's metadata (GPS position, device, dates, chapters) is kept."""
    return ["-map_metadata", "-1", "-map_chapters", "-1"]


def _rung(info: SourceInfo, short: int, kbps: int, reference: int, fps: float) -> Rung:
    width, height = frame_size(info, short)
    reference_pixels = reference * _even(reference * _REFERENCE_ASPECT)
    video_kbps = max(1, round(kbps * width * height / reference_pixels))
    max_kbps = round(video_kbps * _PEAK_FACTOR)
    buffer_kbits = video_kbps * _BUFFER_FACTOR
    return Rung(
        name=layout.rung_name(short),
        width=width,
        height=height,
        video_kbps=video_kbps,
        max_kbps=max_kbps,
        buffer_kbits=buffer_kbits,
        level=h264_level(width, height, fps, max_kbps, buffer_kbits),
        fps=fps,
    )


def _snap(rate: float) -> float:
    nearest = min(_STANDARD_RATES, key=lambda standard: abs(standard - rate))
    return float(nearest) if abs(float(nearest) / rate - 1) <= _SNAP_TOLERANCE else rate


def _rate_text(fps: float) -> str:
    """29.97002997 as ffmpeg's exact 30000/1001."""
    return str(Fraction(fps).limit_denominator(1001))


def _even(value: float | Fraction) -> int:
    return max(2, 2 * round(value / 2))
