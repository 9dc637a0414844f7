"""What the admin pages share: how a video's state and a film's pictures read, htmx
requests, notices."""

from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import Request

from kushfilms.media import layout
from kushfilms.media.pictures import OTHER, Kind
from kushfilms.models import Movie, Video, VideoStatus
from kushfilms.web.auth_pages import safe_next

StateKey = Literal["none", "uploaded", "processing", "ready", "failed"]

# Short messages pages show after a redirect, by the code in ``?notice=`` or
# ``?problem=``: a link cannot make a page say anything else.
NOTICES = {
    "created": "Film created. Now upload its video.",
    "saved": "Changes saved.",
    "poster": "Poster updated.",
    "backdrop": "Backdrop updated.",
    "published": "The film is published.",
    "unpublished": "The film is unpublished.",
    "deleted": "The film is deleted.",
    "role": "Role changed.",
    "category_created": "Category created.",
    "category_renamed": "Category renamed.",
    "category_deleted": "Category deleted.",
}
PROBLEMS = {
    "video_not_ready": "A film can be published only once its video is ready.",
    "last_admin": "The last administrator cannot be demoted.",
}


@dataclass(frozen=True, slots=True)
class VideoState:
    """A movie's video as the console shows it."""

    key: StateKey
    label: str
    percent: float = 0.0
    eta_seconds: int | None = None
    error: str | None = None

    @property
    def busy(self) -> bool:
        return self.key in ("uploaded", "processing")

    @property
    def publishable(self) -> bool:
        return self.key == "ready"

    @property
    def unpublishable_reason(self) -> str:
        """Why the film cannot be published yet ("" when it can)."""
        return {
            "none": "Upload a video first.",
            "uploaded": "The video is waiting to be processed.",
            "processing": "The video is still processing.",
            "failed": "The video failed to process; upload it again.",
            "ready": "",
        }[self.key]


def video_state(video: Video | None) -> VideoState:
    if video is None:
        return VideoState("none", "No video")
    if video.status == VideoStatus.READY:
        return VideoState("ready", "Ready", percent=100.0)
    if video.status == VideoStatus.FAILED:
        return VideoState("failed", "Failed", error=video.error)
    if video.status == VideoStatus.PROCESSING:
        percent = round(video.progress)
        return VideoState(
            "processing", f"Processing {percent} %", percent=percent, eta_seconds=video.eta_seconds
        )
    # Uploaded and queued; after a failed attempt the note says a retry is coming.
    return VideoState("uploaded", "Waiting to process", error=video.error)


@dataclass(frozen=True, slots=True)
class PictureSlot:
    """One of a film's pictures as its edit page shows it: where it came from, and what
    uploading one would do."""

    kind: Kind
    url: str | None
    note: str


def picture_slots(movie: Movie) -> list[PictureSlot]:
    keys: dict[Kind, str | None] = {"poster": movie.poster_key, "backdrop": movie.backdrop_key}
    slots = []
    for kind, key in keys.items():
        other = OTHER[kind]
        if key is None:
            note = (
                f"No {kind} yet: one is taken from the video when it is processed, or made"
                f" from the {other} when you upload that."
            )
        else:
            note = {
                "upload": "Uploaded.",
                "frame": f"Taken from the video. Upload a {kind} to use your own.",
                "derived": f"Made from the {other}, shown whole over a blurred fill. Upload"
                f" a {kind} to use your own.",
            }[layout.art_origin(key)]
        slots.append(PictureSlot(kind, layout.art_url(key) if key else None, note))
    return slots


def is_htmx(request: Request) -> bool:
    """An htmx request for a fragment (not htmx restoring a whole page from history)."""
    headers = request.headers
    return headers.get("hx-request") == "true" and headers.get("hx-history-restore-request") is None


def back_to(target: str, fallback: str, **params: str) -> str:
    """A local URL to return to, with ``params`` set in its query."""
    url = safe_next(target) if target else fallback
    if url == "/" and fallback != "/":
        url = fallback
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in params]
    query += list(params.items())
    return urlunsplit(("", "", parts.path, urlencode(query), parts.fragment))


def page_messages(request: Request) -> tuple[str, str]:
    """The notice and the problem named in the query, as sentences."""
    params = request.query_params
    return NOTICES.get(params.get("notice", ""), ""), PROBLEMS.get(params.get("problem", ""), "")
