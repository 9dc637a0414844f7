"""What a ladder run leaves, measured from the files ffmpeg wrote: our own master
playlist (ffmpeg's would state the configured bitrates, not the real ones) and the
scrub-preview index of the sprite sheets."""

import shutil
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from kushfilms.media import layout
from kushfilms.media.ingest.probe import SourceInfo
from kushfilms.media.playlists import (
    Rendition,
    bandwidths,
    by_bandwidth,
    codecs,
    master_playlist,
    read_media_playlist,
    sprite_cues,
    webvtt,
)
from kushfilms.media.transcoding.artwork import make_poster, make_sprites
from kushfilms.media.transcoding.ladder import Rung, SpriteSpec


def finish_outputs(
    out_dir: Path, frame: Path, info: SourceInfo, rungs: Sequence[Rung], sprite: SpriteSpec
) -> list[Rendition]:
    """Make what follows from the ladder run's files in ``out_dir``: the master playlist,
    the scrub-preview sheets and their index, and the film's frame at ``frame``; the
    stills they are made of go (never published). Returns the renditions."""
    renditions = write_master_playlist(out_dir, rungs)
    stills = out_dir / layout.STILLS_DIR
    make_sprites(stills, out_dir / layout.SPRITE_DIR, sprite, info)
    sprite_vtt(out_dir, info, sprite)
    make_poster(stills, frame)
    shutil.rmtree(stills)
    return renditions


def write_master_playlist(out_dir: Path, rungs: Sequence[Rung]) -> list[Rendition]:
    """Measure each rung's playlist and segments on disk; write ``out_dir/master.m3u8``."""
    renditions = sorted((_measure(out_dir / rung.name, rung) for rung in rungs), key=by_bandwidth)
    (out_dir / layout.MASTER_PLAYLIST).write_text(master_playlist(renditions))
    return renditions


def sprite_vtt(out_dir: Path, info: SourceInfo, spec: SpriteSpec) -> Path:
    """Write ``thumbs/thumbnails.vtt`` for the sprite sheets the ladder command made."""
    sheets = sorted((out_dir / layout.SPRITE_DIR).glob(layout.files_like(layout.SPRITE_PATTERN)))
    with Image.open(sheets[0]) as first:  # reads the header only
        sheet_width, sheet_height = first.size
    cues = sprite_cues(
        info.duration,
        spec,
        sheets=len(sheets),
        tile_width=sheet_width // spec.columns,
        tile_height=sheet_height // spec.rows,
    )
    path = out_dir / layout.THUMBNAILS_PATH
    path.write_text(webvtt(cues))
    return path


def _measure(rung_dir: Path, rung: Rung) -> Rendition:
    playlist = read_media_playlist((rung_dir / layout.MEDIA_PLAYLIST).read_text())
    init = rung_dir / playlist.init_uri
    sizes = [((rung_dir / uri).stat().st_size, seconds) for uri, seconds in playlist.segments]
    peak, average = bandwidths(init.stat().st_size, sizes)
    import av  # loaded here: the web server imports this module but never measures

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
