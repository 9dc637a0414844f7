"""What a source video holds, read with PyAV, and whether we can make a film of it.

PyAV (with its FFmpeg libraries, about 15 MiB) is loaded at the first probe, not
when the module is: the web server imports this module for ``SourceInfo`` and
most of its processes never probe anything.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

ProbeCode = Literal["unreadable", "no_video", "undecodable", "no_duration", "too_large"]

_FRAMES_TO_DECODE = 3
_BAD_PACKETS_ALLOWED = 30
# Enough packets for a steady average, few enough to read in milliseconds.
_RATE_SAMPLE_PACKETS = 600
# A stream's r_frame_rate is the finest rate its timestamps need; a real
# average can never be above it, so one that is (13: 1000/1, 12: 60000/1) is
# a container artefact.
_RATE_SLACK = 1.05
# Averages within this of the nominal rate are constant frame rate with jitter.
_VFR_TOLERANCE = 0.01
# ffmpeg's own guess for a stream with no timing at all.
_FALLBACK_RATE = 25.0
_HDR_TRANSFERS = frozenset({"smpte2084", "arib-std-b67"})
# AVFieldOrder: TT, BB, TB, BT (0 unknown, 1 progressive).
_INTERLACED_FIELD_ORDERS = frozenset({2, 3, 4, 5})
# Code points of ITU-T H.273, named as ffprobe names them.
_RANGES = {1: "tv", 2: "pc"}
_TRANSFERS = {
    1: "bt709",
    4: "gamma22",
    5: "gamma28",
    6: "smpte170m",
    7: "smpte240m",
    8: "linear",
    9: "log100",
    10: "log316",
    11: "iec61966-2-4",
    12: "bt1361e",
    13: "iec61966-2-1",
    14: "bt2020-10",
    15: "bt2020-12",
    16: "smpte2084",
    17: "smpte428",
    18: "arib-std-b67",
}
_PRIMARIES = {
    1: "bt709",
    4: "bt470m",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "film",
    9: "bt2020",
    10: "smpte428",
    11: "smpte431",
    12: "smpte432",
    22: "ebu3213",
}
_SPACES = {
    0: "gbr",
    1: "bt709",
    4: "fcc",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "ycgco",
    9: "bt2020nc",
    10: "bt2020c",
    11: "smpte2085",
    12: "chroma-derived-nc",
    13: "chroma-derived-c",
    14: "ictcp",
}


class ProbeError(Exception):
    """The file cannot become a film; ``code`` says why for programs, the message for people."""

    def __init__(self, code: ProbeCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SourceInfo:
    container: str
    size_bytes: int
    duration: float
    video_codec: str
    width: int
    height: int
    sample_aspect_ratio: Fraction
    display_width: int
    display_height: int
    # Degrees the stored picture turns clockwise to be shown upright (ffprobe's -90 is 90).
    rotation: int
    frame_rate: float
    variable_frame_rate: bool
    pix_fmt: str
    bit_depth: int
    color_range: str | None
    color_transfer: str | None
    color_primaries: str | None
    color_space: str | None
    hdr: bool
    interlaced: bool
    audio_codec: str | None
    audio_channels: int
    audio_streams: int

    @property
    def display_aspect(self) -> Fraction:
        """Width over height of the picture as shown, exactly."""
        aspect = Fraction(self.width, self.height) * self.sample_aspect_ratio
        return 1 / aspect if self.rotation in (90, 270) else aspect

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["sample_aspect_ratio"] = str(self.sample_aspect_ratio)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SourceInfo:
        return cls(**{**data, "sample_aspect_ratio": Fraction(data["sample_aspect_ratio"])})


def probe(path: Path, *, max_pixels: int = 7680 * 4320) -> SourceInfo:
    """Read a source's streams and check that its video decodes; raise ProbeError if unusable."""
    import av

    try:
        size = path.stat().st_size
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise ProbeError(
            "unreadable", "This file is not a video we can read (it may be damaged or not a video)."
        ) from error
    with container:
        if _still_image(container.format.name):
            raise ProbeError("unreadable", "This is a still image, not a video.")
        stream = _main_video(container)
        if stream.width * stream.height > max_pixels:
            raise ProbeError(
                "too_large",
                f"The video is {stream.width}x{stream.height}; the largest we accept is "
                f"{max_pixels:,} pixels a frame.",
            )
        frames = _first_frames(container, stream)
        return _describe(path, size, container, stream, frames)


def _still_image(format_name: str) -> bool:
    # FFmpeg opens pictures as one-frame videos through its image demuxers.
    return format_name == "image2" or format_name.endswith("_pipe")


def _main_video(container: InputContainer) -> VideoStream:
    import av

    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:  # cover art is no film
            return stream
    raise ProbeError("no_video", "This file has no video track (is it an audio file?).")


def _first_frames(container: InputContainer, stream: VideoStream) -> list[VideoFrame]:
    import av

    frames: list[VideoFrame] = []
    bad_packets = 0
    for packet in container.demux(stream):
        try:
            frames.extend(stream.decode(packet))
        except av.FFmpegError:
            bad_packets += 1
            if bad_packets > _BAD_PACKETS_ALLOWED:
                break
        if len(frames) >= _FRAMES_TO_DECODE:
            break
    if not frames:
        raise ProbeError(
            "undecodable", "The video track is damaged: none of its first frames could be decoded."
        )
    return frames


def _describe(
    path: Path,
    size: int,
    container: InputContainer,
    stream: VideoStream,
    frames: list[VideoFrame],
) -> SourceInfo:
    import av

    first = frames[0]
    sar = stream.sample_aspect_ratio or Fraction(1)
    rotation = _clockwise(first.rotation)
    width, height = first.width, first.height
    display = (round(width * sar), height)
    display_width, display_height = display[::-1] if rotation in (90, 270) else display

    header_duration = container.duration / av.time_base if container.duration else None
    header_rate = _trusted_rate(stream)
    if header_duration is None or header_rate is None:
        measured_duration, measured_rate = _measure(path, stream.index, whole=not header_duration)
    else:
        measured_duration, measured_rate = None, None
    duration = header_duration or measured_duration or 0.0
    if duration <= 0:
        raise ProbeError(
            "no_duration", "The video has no timing, so we cannot tell how long it plays."
        )
    rate = header_rate or measured_rate or float(stream.guessed_rate or _FALLBACK_RATE)

    pix_fmt = first.format.name
    transfer = _TRANSFERS.get(first.color_trc) or _TRANSFERS.get(stream.color_trc)
    from av.sidedata.sidedata import Type as SideDataType

    dolby_vision = any(
        kind in frame.side_data
        for frame in frames
        for kind in (SideDataType.DOVI_METADATA, SideDataType.DOVI_RPU_BUFFER)
    )
    audio = container.streams.audio
    return SourceInfo(
        container=container.format.name,
        size_bytes=size,
        duration=duration,
        video_codec=stream.codec.canonical_name,
        width=width,
        height=height,
        sample_aspect_ratio=sar,
        display_width=display_width,
        display_height=display_height,
        rotation=rotation,
        frame_rate=rate,
        variable_frame_rate=_variable(rate, stream.base_rate),
        pix_fmt=pix_fmt,
        bit_depth=first.format.components[0].bits,
        color_range="pc"
        if pix_fmt.startswith("yuvj")
        else _RANGES.get(first.color_range) or _RANGES.get(stream.color_range),
        color_transfer=transfer,
        color_primaries=_PRIMARIES.get(first.color_primaries)
        or _PRIMARIES.get(stream.color_primaries),
        color_space=_SPACES.get(first.colorspace) or _SPACES.get(stream.colorspace),
        hdr=transfer in _HDR_TRANSFERS or dolby_vision,
        interlaced=stream.codec_context.field_order in _INTERLACED_FIELD_ORDERS
        or any(frame.interlaced_frame for frame in frames),
        audio_codec=audio[0].codec.canonical_name if audio else None,
        audio_channels=audio[0].codec_context.channels if audio else 0,
        audio_streams=len(audio),
    )


def _clockwise(display_matrix_degrees: int) -> int:
    """The display matrix turns counter-clockwise; players think in clockwise quarter turns."""
    return round(-display_matrix_degrees / 90) % 4 * 90


def _trusted_rate(stream: VideoStream) -> float | None:
    average, nominal = stream.average_rate, stream.base_rate
    if not average or average <= 0:
        return None
    if nominal and average > nominal * _RATE_SLACK:
        return None
    return float(average)


def _variable(average: float, nominal: Fraction | None) -> bool:
    """An average off the nominal rate means frames came at uneven times."""
    return nominal is not None and nominal > 0 and abs(average / nominal - 1) > _VFR_TOLERANCE


def _measure(path: Path, video_index: int, *, whole: bool) -> tuple[float | None, float | None]:
    """Duration and video frame rate from packet timestamps: demuxing only, no decoding.

    Reads the whole file only when the duration is wanted (a header without one,
    as Chrome's MediaRecorder writes); a frame rate needs just the first packets.
    """
    import av

    start, end = math.inf, -math.inf
    video_times: list[float] = []
    with av.open(str(path)) as container:
        streams = [*container.streams.video, *container.streams.audio]
        for packet in container.demux(streams):
            time_base = packet.time_base
            if packet.pts is None or time_base is None:
                continue
            time = float(packet.pts * time_base)
            start = min(start, time)
            end = max(end, time + float((packet.duration or 0) * time_base))
            if packet.stream.index == video_index:
                video_times.append(time)
                if not whole and len(video_times) >= _RATE_SAMPLE_PACKETS:
                    break
    duration = end - start if whole and end > start else None
    span = max(video_times, default=0.0) - min(video_times, default=0.0)
    rate = (len(video_times) - 1) / span if span > 0 else None
    return duration, rate
