"""Pictures of a film made from frames its ladder run took (upright and SDR, filtered like
the rungs' pictures): the scrub-preview sprite sheets, and a poster frame that is not one
of the black or blank frames films begin with (:func:`poster_spec` says which frames are
candidates).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageStat

from kushfilms.media import layout
from kushfilms.media.ffmpeg import TranscodeError
from kushfilms.media.ingest.probe import SourceInfo
from kushfilms.media.transcoding.ladder import PosterSpec, SpriteSpec, frame_size, thumbnail_size

POSTER_LONG_SIDE = 1280
CANDIDATES = (0.10, 0.25, 0.40, 0.60)  # fractions of the running time
# On 0-255 luma: darker than this is a fade or a title card's black.
_MIN_BRIGHTNESS = 24.0
# Less spread than this is a flat field (a blank wall, a solid colour slate).
_MIN_CONTRAST = 16.0
_JPEG_QUALITY = 88
_SPRITE_QUALITY = 80


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


def poster_spec(info: SourceInfo) -> PosterSpec:
    """The candidate frames the ladder run takes: at each of CANDIDATES, at poster size."""
    width, height = poster_size(info)
    times = tuple(info.duration * fraction for fraction in CANDIDATES)
    return PosterSpec(times=times, width=width, height=height)


def make_sprites(stills: Path, sheets_dir: Path, spec: SpriteSpec, info: SourceInfo) -> None:
    """Tile the run's thumbnails in ``stills``, in film order, left to right and top to
    bottom, into full-size sheets ``sheets_dir/sprite_000.jpg``..."""
    width, height = thumbnail_size(spec, info)
    thumbnails = sorted(stills.glob(layout.files_like(layout.THUMB_PATTERN)))
    per_sheet = spec.columns * spec.rows
    for number, first in enumerate(range(0, len(thumbnails), per_sheet)):
        sheet = Image.new("RGB", (width * spec.columns, height * spec.rows))
        for index, path in enumerate(thumbnails[first : first + per_sheet]):
            row, column = divmod(index, spec.columns)
            with Image.open(path) as thumbnail:
                sheet.paste(thumbnail, (column * width, row * height))
        destination = sheets_dir / (layout.SPRITE_PATTERN % number)
        sheet.save(destination, "JPEG", quality=_SPRITE_QUALITY, optimize=True)


def make_poster(stills: Path, dest: Path) -> None:
    """Write a JPEG poster to ``dest``: the best of the run's candidate frames in ``stills``,
    named in film order as :class:`PosterSpec` describes them."""
    paths = sorted(stills.glob(layout.files_like(layout.POSTER_PATTERN)))
    # The film's first frame is the poster only when its pictures stopped before
    # the first candidate time (a long soundtrack on a short video).
    chosen = paths[1:] or paths
    if not chosen:
        raise TranscodeError("Could not take a poster frame from the video.")
    frames = []
    for path in chosen:
        with Image.open(path) as image:
            frames.append(image.convert("RGB"))
    best = frames[pick([score(frame) for frame in frames])]
    best.save(dest, "JPEG", quality=_JPEG_QUALITY, optimize=True)
