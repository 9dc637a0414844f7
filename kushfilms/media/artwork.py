"""A poster frame: upright, SDR, and not one of the black or blank frames films begin with."""

import io
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageStat

from kushfilms.media.ffmpeg import TranscodeError
from kushfilms.media.ladder import frame_size, picture_filters, scale_filters
from kushfilms.media.probe import SourceInfo

POSTER_LONG_SIDE = 1280
CANDIDATES = (0.10, 0.25, 0.40, 0.60)  # fractions of the running time
# On 0-255 luma: darker than this is a fade or a title card's black.
_MIN_BRIGHTNESS = 24.0
# Less spread than this is a flat field (a blank wall, a solid colour slate).
_MIN_CONTRAST = 16.0
_JPEG_QUALITY = 88
_GRAB_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class FrameScore:
    brightness: float
    contrast: float

    @property
    def usable(self) -> bool:
        return self.brightness >= _MIN_BRIGHTNESS and self.contrast >= _MIN_CONTRAST


def score(image: Image.Image) -> FrameScore:
    stats = ImageStat.Stat(image.convert("L"))
    return FrameScore(brightness=stats.mean[0], contrast=stats.stddev[0])


def pick(scores: Sequence[FrameScore]) -> int:
    """The first usable frame, else the one with the most contrast (a detailed dark frame
    makes a better poster than a bright blank one)."""
    for index, candidate in enumerate(scores):
        if candidate.usable:
            return index
    return max(range(len(scores)), key=lambda index: scores[index].contrast)


def poster_size(info: SourceInfo) -> tuple[int, int]:
    """The display size, shrunk to fit POSTER_LONG_SIDE, with even sides."""
    short, long = sorted((info.display_width, info.display_height))
    factor = min(1.0, POSTER_LONG_SIDE / long)
    # Rounding the short side down keeps the long side, which follows it, within bounds.
    return frame_size(info, max(2, int(short * factor) // 2 * 2))


def grab_command(ffmpeg: str, source: Path, info: SourceInfo, at: float) -> list[str]:
    """One frame at ``at`` seconds as PNG on stdout, filtered like the ladder's pictures."""
    filters = ",".join([*picture_filters(info, fps=None), *scale_filters(*poster_size(info))])
    return [
        *(ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error"),
        *("-ss", f"{at:.3f}", "-i", str(source), "-map", "0:v:0", "-frames:v", "1"),
        *("-vf", filters, "-f", "image2pipe", "-c:v", "png", "pipe:1"),
    ]


def make_poster(ffmpeg: str, source: Path, dest: Path, info: SourceInfo) -> None:
    """Write a JPEG poster to ``dest``, chosen among a few frames spread through the film."""
    frames = [
        frame
        for fraction in CANDIDATES
        if (frame := _grab(grab_command(ffmpeg, source, info, info.duration * fraction)))
    ]
    if not frames:
        raise TranscodeError("Could not take a poster frame from the video.")
    best = frames[pick([score(frame) for frame in frames])]
    best.convert("RGB").save(dest, "JPEG", quality=_JPEG_QUALITY, optimize=True)


def _grab(command: list[str]) -> Image.Image | None:
    """The frame, or None when there is none to take there (a seek past the last frame)."""
    try:
        done = subprocess.run(  # noqa: S603 (built by grab_command from our own values)
            command, capture_output=True, timeout=_GRAB_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0 or not done.stdout:
        return None
    return Image.open(io.BytesIO(done.stdout))
