"""Where a film's media lives: every key in the media store and every local directory
the pipeline stages files in, spelled here once.

In the store (``KF_STORAGE_URL``)::

    videos/<video>/source                       the uploaded file, as it came
    videos/<video>/hls/master.m3u8              the rungs, as the transcode measured them
    videos/<video>/hls/<rung>/index.m3u8        a rung's media playlist (rung: "720p")
    videos/<video>/hls/<rung>/init.mp4          its init segment
    videos/<video>/hls/<rung>/seg_00000.m4s     its media segments
    videos/<video>/hls/thumbs/thumbnails.vtt    the scrub-preview index
    videos/<video>/hls/thumbs/sprite_000.jpg    its sprite sheets
    art/<movie>/<stem>-<width>.jpg              a picture (its poster, its backdrop), in
                                                each of its widths; "<stem>-frame-<width>"
                                                for a frame of the video, "<stem>-derived-
                                                <width>" for one made from the other picture

Everything of a video lives under its prefix, and a new upload makes a new video, so
a movie's old and new outputs never mix and one prefix deletes them all. A picture is
stored under a fresh stem each time, so no cache ever serves an old one; its key names
its widest width. Rows hold these keys (``Video.source_key``, ``Movie.poster_key``,
``Movie.backdrop_key``), never URLs.

Inside a video's ``hls/`` folder the paths are the same in the store, in the folder
the ladder run writes, and in playback URLs (``/media/<movie>/<grant>/<path>``).

On local disk::

    KF_UPLOAD_DIR/<upload id>                   an upload's bytes as they arrive
    KF_UPLOAD_DIR/<video>.source                an attached upload's bytes, held for its job
    KF_DATA_DIR/work/<video>/                   a transcode's scratch directory:
        source                                  the source, when the store is remote
        out/                                    what the ladder run writes (becomes hls/)
        out/stills/                             frames for the pictures; never stored
        poster.jpg                              the poster frame chosen
"""

import re
import uuid
from pathlib import Path
from typing import Literal

from kushfilms.config import Settings

VIDEOS = "videos/"
ART = "art/"

# --- Inside a video's HLS folder --------------------------------------------------

MASTER_PLAYLIST = "master.m3u8"
MEDIA_PLAYLIST = "index.m3u8"
INIT_SEGMENT = "init.mp4"
SEGMENT_PATTERN = "seg_%05d.m4s"  # ffmpeg's numbering
SPRITE_DIR = "thumbs"
SPRITE_PATTERN = "sprite_%03d.jpg"
THUMBNAILS_INDEX = "thumbnails.vtt"
THUMBNAILS_PATH = f"{SPRITE_DIR}/{THUMBNAILS_INDEX}"

# The names above as a client may ask for them (more digits once a film runs long).
_RUNG = re.compile(r"^(\d{2,4})p$")
_SEGMENT_FILE = re.compile(r"^(init\.mp4|seg_\d{5,9}\.m4s)$")
_SPRITE_FILE = re.compile(r"^sprite_\d{3,6}\.jpg$")
# A picture's file name: its stem (a random hex token), what made it, and its width.
POSTER_FILE = r"^[a-z0-9]+(?:-frame|-derived)?-\d+\.jpg$"
_POSTER_WIDTH = re.compile(r"-(\d+)\.jpg$")
# Who made a picture: an administrator's upload, the video (a frame), or the platform
# from the film's other picture.
ArtOrigin = Literal["upload", "frame", "derived"]


def rung_name(short_side: int) -> str:
    """A rung is named by its short side: "720p" for 1280x720 and for 720x1280."""
    return f"{short_side}p"


def rung_height(name: str) -> int | None:
    """The short side a rung's name says, or None when it names no rung."""
    match = _RUNG.fullmatch(name)
    return int(match.group(1)) if match else None


def files_like(pattern: str) -> str:
    """A glob for the files a numbered pattern names: "sprite_*.jpg" for "sprite_%03d.jpg"."""
    return re.sub(r"%\d*d", "*", pattern)


def is_segment_name(name: str) -> bool:
    """An init or media segment's name, as a rung's folder holds them."""
    return _SEGMENT_FILE.fullmatch(name) is not None


def is_sprite_name(name: str) -> bool:
    return _SPRITE_FILE.fullmatch(name) is not None


# --- Keys of a video ----------------------------------------------------------------


def video_prefix(video_id: uuid.UUID) -> str:
    return f"{VIDEOS}{video_id}/"


def source_key(video_id: uuid.UUID) -> str:
    return f"{video_prefix(video_id)}source"


def hls_prefix(video_id: uuid.UUID) -> str:
    return f"{video_prefix(video_id)}hls/"


def master_key(video_id: uuid.UUID) -> str:
    return hls_prefix(video_id) + MASTER_PLAYLIST


def media_playlist_key(video_id: uuid.UUID, rung: str) -> str:
    return f"{hls_prefix(video_id)}{rung}/{MEDIA_PLAYLIST}"


def segment_key(video_id: uuid.UUID, rung: str, name: str) -> str:
    """A rung's init or media segment."""
    return f"{hls_prefix(video_id)}{rung}/{name}"


def thumbnails_key(video_id: uuid.UUID) -> str:
    return hls_prefix(video_id) + THUMBNAILS_PATH


def sprite_key(video_id: uuid.UUID, name: str) -> str:
    return f"{hls_prefix(video_id)}{SPRITE_DIR}/{name}"


# --- Keys of a movie's pictures --------------------------------------------------------


def art_prefix(movie_id: uuid.UUID) -> str:
    return f"{ART}{movie_id}/"


def art_key(movie_id: uuid.UUID, name: str) -> str:
    """A file in the movie's art folder, by its name."""
    return art_prefix(movie_id) + name


def poster_key(movie_id: uuid.UUID, stem: str, width: int, origin: ArtOrigin = "upload") -> str:
    """A picture (a poster or a backdrop) at one of its widths."""
    made_by = "" if origin == "upload" else f"-{origin}"
    return art_key(movie_id, f"{stem}{made_by}-{width}.jpg")


def art_origin(key: str) -> ArtOrigin:
    """Who made the picture stored at ``key`` (pictures stored before the mark was kept
    read as uploads)."""
    name = key.rsplit("/", 1)[-1]
    if "-frame-" in name:
        return "frame"
    return "derived" if "-derived-" in name else "upload"


def art_width(key: str) -> int | None:
    """The width the picture stored at ``key`` has (None if the key names none)."""
    match = _POSTER_WIDTH.search(key)
    return int(match.group(1)) if match else None


def poster_variant(key: str, width: int) -> str:
    """The picture stored at ``key``, in another of the widths it was stored in."""
    return _POSTER_WIDTH.sub(f"-{width}.jpg", key)


def is_poster_file(name: str, key: str | None) -> bool:
    """Whether ``name``, a file in a movie's art folder, is one of the widths of the
    picture stored at ``key``."""
    if key is None:
        return False
    stem = key.rsplit("/", 1)[-1].split("-")[0]
    return name.startswith(f"{stem}-")


# --- As the app serves them -------------------------------------------------------

MEDIA_URL_ROOT = "/media/"


def art_url(key: str) -> str:
    """Where the app serves a picture stored at ``key``: pictures are public, so the
    URL is the key itself, under ``/media/``."""
    return MEDIA_URL_ROOT + key


def grant_url(movie_id: uuid.UUID, token: str) -> str:
    """The folder a playback grant opens: its video's ``hls/`` folder, the same paths
    inside."""
    return f"{MEDIA_URL_ROOT}{movie_id}/{token}/"


# --- Local disk -------------------------------------------------------------------

_UPLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
HELD_SUFFIX = ".source"  # never in an upload id, so the two kinds of name never meet
# Inside a ladder run's output: the frames taken for the pictures made after it.
STILLS_DIR = "stills"
THUMB_PATTERN = "thumb_%05d.jpg"
POSTER_PATTERN = "poster_%02d.jpg"


def staged_upload(settings: Settings, upload_id: str) -> Path:
    """Where an upload's bytes are staged as they arrive."""
    if not _UPLOAD_ID.fullmatch(upload_id):
        raise ValueError(f"not an upload id: {upload_id!r}")
    return settings.upload_dir / upload_id


def held_source(settings: Settings, video_id: uuid.UUID) -> Path:
    """Where an attached upload's bytes wait for their video's job to store them."""
    return settings.upload_dir / f"{video_id}{HELD_SUFFIX}"


def scratch_root(settings: Settings) -> Path:
    return settings.data_dir / "work"


def scratch_dir(settings: Settings, video_id: uuid.UUID) -> Path:
    """A transcode's scratch directory; its name is the video's id."""
    return scratch_root(settings) / str(video_id)


def scratch_source(scratch: Path) -> Path:
    return scratch / "source"


def ladder_output(scratch: Path) -> Path:
    """The folder the ladder run writes: the video's ``hls/`` folder to be."""
    return scratch / "out"


def scratch_poster(scratch: Path) -> Path:
    return scratch / "poster.jpg"
