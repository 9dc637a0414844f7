"""All HLS (and scrub-preview WebVTT) text the platform reads and writes, as pure
functions: the master playlist the transcode writes from measured rungs, the media
playlists ffmpeg wrote as we read them, the sprites' index, and the rewrites each
playback fetch makes (the rungs a viewer may watch, the files' signed URLs).
"""

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from kushfilms.media import layout
from kushfilms.media.transcoding.ladder import Rung, SpriteSpec

_EXTINF = re.compile(r"^#EXTINF:([0-9.]+)")
_MAP_TAG_URI = re.compile(r'^#EXT-X-MAP:.*URI="([^"]+)"')
_MAP_URI = re.compile(r'URI="([^"]+)"')
_RESOLUTION = re.compile(r"RESOLUTION=(\d+)x(\d+)")
# A playlist line naming one of the video's own files (a segment, a sprite).
_RELATIVE_FILE = re.compile(r"^[A-Za-z0-9_.-]+\.(?:m4s|mp4|jpg)(?:#[^\s]*)?$")
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


# --- Written by the transcode -------------------------------------------------------


def read_media_playlist(text: str) -> MediaPlaylist:
    """The init segment and the (URI, duration) of each media segment of an fMP4 playlist."""
    init_uri = ""
    segments: list[tuple[str, float]] = []
    duration: float | None = None
    for line in filter(None, (raw.strip() for raw in text.splitlines())):
        if tag := _MAP_TAG_URI.match(line):
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
    for rendition in sorted(renditions, key=by_bandwidth):
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={rendition.bandwidth},"
            f"AVERAGE-BANDWIDTH={rendition.average_bandwidth},"
            f"RESOLUTION={rendition.width}x{rendition.height},"
            f'FRAME-RATE={rendition.frame_rate:.3f},CODECS="{rendition.codecs}"'
        )
        lines.append(f"{rendition.name}/{layout.MEDIA_PLAYLIST}")
    return "\n".join(lines) + "\n"


def by_bandwidth(rendition: Rendition) -> int:
    return rendition.bandwidth


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
        uri = f"{layout.SPRITE_PATTERN % sheet}#xywh={x},{y},{tile_width},{tile_height}"
        end = duration if index == count - 1 else (index + 1) * spec.interval
        cues.append(Cue(index * spec.interval, end, uri))
    return cues


def webvtt(cues: Sequence[Cue]) -> str:
    blocks = ["WEBVTT"]
    blocks += [f"{_timestamp(cue.start)} --> {_timestamp(cue.end)}\n{cue.uri}" for cue in cues]
    return "\n\n".join(blocks) + "\n"


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


# --- Rewritten at each playback fetch ----------------------------------------------


def filter_master(playlist: str, max_height: int) -> str:
    """Keep only the variants whose short side is at most ``max_height``."""
    lines = playlist.splitlines()
    kept: list[str] = []
    skip_next = False
    for line in lines:
        if skip_next:
            skip_next = False
            continue
        if line.startswith("#EXT-X-STREAM-INF:"):
            size = _RESOLUTION.search(line)
            if size and min(int(size.group(1)), int(size.group(2))) > max_height:
                skip_next = True  # the variant's URI is on the next line
                continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def rewrite_uris(playlist: str, url_of: Callable[[str], str]) -> str:
    """A playlist (HLS or the sprites' WebVTT) whose relative file URIs (init and
    media segments, sprites) are replaced by ``url_of(name)``, fragments kept."""

    def direct(uri: str) -> str:
        name, _, fragment = uri.partition("#")
        url = url_of(name)
        return f"{url}#{fragment}" if fragment else url

    out: list[str] = []
    for line in playlist.splitlines():
        if line.startswith("#EXT-X-MAP:"):
            uri = _MAP_URI.search(line)
            if uri:
                line = line.replace(uri.group(1), direct(uri.group(1)))
        elif _RELATIVE_FILE.fullmatch(line):
            line = direct(line)
        out.append(line)
    return "\n".join(out) + "\n"
