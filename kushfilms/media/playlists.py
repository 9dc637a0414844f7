"""Our own master playlist and scrub-preview index, measured from the files ffmpeg wrote."""

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av
from PIL import Image

from kushfilms.media.ladder import SPRITE_DIR, SPRITE_PATTERN, Rung, SpriteSpec
from kushfilms.media.probe import SourceInfo

_EXTINF = re.compile(r"^#EXTINF:([0-9.]+)")
_MAP_URI = re.compile(r'^#EXT-X-MAP:.*URI="([^"]+)"')
# avc1.PPCCLL: High profile (100 = 0x64), no constraint flags, then the level.
_HIGH_PROFILE = "64"
_AAC_LC = "mp4a.40.2"


@dataclass(frozen=True)
class Rendition:
    name: str
    width: int
    height: int
    bandwidth: int
    average_bandwidth: int
    codecs: str
    frame_rate: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Rendition":
        return cls(**data)


@dataclass(frozen=True)
class MediaPlaylist:
    init_uri: str
    segments: list[tuple[str, float]]  # URI and duration in seconds


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    uri: str


def read_media_playlist(text: str) -> MediaPlaylist:
    """The init segment and the (URI, duration) of each media segment of an fMP4 playlist."""
    init_uri = ""
    segments: list[tuple[str, float]] = []
    duration: float | None = None
    for line in filter(None, (raw.strip() for raw in text.splitlines())):
        if tag := _MAP_URI.match(line):
            init_uri = tag.group(1)
        elif tag := _EXTINF.match(line):
            duration = float(tag.group(1))
        elif not line.startswith("#") and duration is not None:
            segments.append((line, duration))
            duration = None
    return MediaPlaylist(init_uri, segments)


def bandwidths(init_bytes: int, segments: Sequence[tuple[int, float]]) -> tuple[int, int]:
    """Peak and average bits/s of (size in bytes, seconds) segments, init segment counted in.

    A player that switches to a rendition fetches its init segment with the
    first media segment, so both figures include it.
    """
    peak = max((init_bytes + size) * 8 / seconds for size, seconds in segments)
    total_bytes = init_bytes + sum(size for size, _ in segments)
    average = total_bytes * 8 / sum(seconds for _, seconds in segments)
    return math.ceil(peak), math.ceil(average)


def codecs(rung: Rung, *, audio: bool) -> str:
    level = round(float(rung.level) * 10)
    video = f"avc1.{_HIGH_PROFILE}00{level:02x}"
    return f"{video},{_AAC_LC}" if audio else video


def master_playlist(renditions: Sequence[Rendition]) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for rendition in sorted(renditions, key=_bandwidth):
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={rendition.bandwidth},"
            f"AVERAGE-BANDWIDTH={rendition.average_bandwidth},"
            f"RESOLUTION={rendition.width}x{rendition.height},"
            f'FRAME-RATE={rendition.frame_rate:.3f},CODECS="{rendition.codecs}"'
        )
        lines.append(f"{rendition.name}/index.m3u8")
    return "\n".join(lines) + "\n"


def write_master_playlist(out_dir: Path, rungs: Sequence[Rung]) -> list[Rendition]:
    """Measure each rung's playlist and segments on disk; write ``out_dir/master.m3u8``.

    ffmpeg's own master would state the configured bitrates, not the real ones.
    """
    renditions = sorted((_measure(out_dir / rung.name, rung) for rung in rungs), key=_bandwidth)
    (out_dir / "master.m3u8").write_text(master_playlist(renditions))
    return renditions


def sprite_cues(
    duration: float, spec: SpriteSpec, *, sheets: int, tile_width: int, tile_height: int
) -> list[Cue]:
    """One cue per interval, ``[t, t + interval)``, the last one running to the end."""
    per_sheet = spec.columns * spec.rows
    count = min(math.ceil(duration / spec.interval), sheets * per_sheet)
    cues: list[Cue] = []
    for index in range(count):
        sheet, tile = divmod(index, per_sheet)
        row, column = divmod(tile, spec.columns)
        x, y = column * tile_width, row * tile_height
        uri = f"{SPRITE_PATTERN % sheet}#xywh={x},{y},{tile_width},{tile_height}"
        end = duration if index == count - 1 else (index + 1) * spec.interval
        cues.append(Cue(index * spec.interval, end, uri))
    return cues


def webvtt(cues: Sequence[Cue]) -> str:
    blocks = ["WEBVTT"]
    blocks += [f"{_timestamp(cue.start)} --> {_timestamp(cue.end)}\n{cue.uri}" for cue in cues]
    return "\n\n".join(blocks) + "\n"


def sprite_vtt(out_dir: Path, info: SourceInfo, spec: SpriteSpec) -> Path:
    """Write ``thumbs/thumbnails.vtt`` for the sprite sheets the ladder command made."""
    thumbs = out_dir / SPRITE_DIR
    sheets = sorted(thumbs.glob("sprite_*.jpg"))
    with Image.open(sheets[0]) as first:  # reads the header only
        sheet_width, sheet_height = first.size
    cues = sprite_cues(
        info.duration,
        spec,
        sheets=len(sheets),
        tile_width=sheet_width // spec.columns,
        tile_height=sheet_height // spec.rows,
    )
    path = thumbs / "thumbnails.vtt"
    path.write_text(webvtt(cues))
    return path


def _measure(rung_dir: Path, rung: Rung) -> Rendition:
    playlist = read_media_playlist((rung_dir / "index.m3u8").read_text())
    init = rung_dir / playlist.init_uri
    sizes = [((rung_dir / uri).stat().st_size, seconds) for uri, seconds in playlist.segments]
    peak, average = bandwidths(init.stat().st_size, sizes)
    with av.open(str(init)) as container:  # the init segment declares the tracks
        audio = bool(container.streams.audio)
    return Rendition(
        name=rung.name,
        width=rung.width,
        height=rung.height,
        bandwidth=peak,
        average_bandwidth=average,
        codecs=codecs(rung, audio=audio),
        frame_rate=round(rung.fps, 3),
    )


def _bandwidth(rendition: Rendition) -> int:
    return rendition.bandwidth


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"
