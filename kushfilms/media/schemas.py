import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StrictInt

from kushfilms.accounts.device_names import NAME_LENGTH
from kushfilms.billing.streams import Stream
from kushfilms.catalog.schemas import MovieOut
from kushfilms.kit.pagination import Page
from kushfilms.kit.schema import RequestModel, ResponseModel
from kushfilms.media.watching import MAX_POSITION
from kushfilms.models import Video, VideoStatus


class AttachVideo(RequestModel):
    upload_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class SourceOut(ResponseModel):
    filename: str
    size: int
    container: str
    video_codec: str
    width: int = Field(description="Display width (after rotation and pixel aspect)")
    height: int
    frame_rate: float
    duration: float
    rotation: int
    audio_codec: str | None
    audio_channels: int


class RenditionOut(ResponseModel):
    name: str
    width: int
    height: int
    bandwidth: int


class VideoOut(ResponseModel):
    id: uuid.UUID
    status: VideoStatus
    progress: float = Field(
        description="Percent of the whole job done (storing the source, encoding, pictures,"
        " storing the outputs, each weighted by its cost); it never falls, not even when an"
        " attempt is retried, and is 100 once ready"
    )
    eta_seconds: int | None = Field(
        description="Seconds left while processing, from the job's pace so far (smoothed);"
        " null until it can be estimated, and once the video is ready"
    )
    error: str | None
    attempts: int
    source: SourceOut
    renditions: list[RenditionOut]
    ready_at: datetime | None

    @classmethod
    def of(cls, video: Video) -> "VideoOut":
        return cls(
            id=video.id,
            status=video.status,
            progress=video.progress,
            eta_seconds=video.eta_seconds,
            error=video.error,
            attempts=video.attempts,
            source=SourceOut(
                filename=video.source_filename,
                size=video.source_size,
                container=video.source_container,
                video_codec=video.source_video_codec,
                width=video.source_width,
                height=video.source_height,
                frame_rate=video.source_frame_rate,
                duration=video.source_duration,
                rotation=video.source_rotation,
                audio_codec=video.source_audio_codec,
                audio_channels=video.source_audio_channels,
            ),
            renditions=[RenditionOut.model_validate(r) for r in video.renditions],
            ready_at=video.ready_at,
        )


class AdminMovieOut(MovieOut):
    video: VideoOut | None


class ThumbnailOut(ResponseModel):
    """The film's pictures after one was uploaded (the other one derived from it, unless
    it was uploaded too)."""

    thumbnail_url: str = Field(description="The poster (the same as `poster_url`)")
    poster_url: str = Field(description="The portrait poster (2:3)")
    backdrop_url: str = Field(description="The landscape backdrop (16:9)")


class PlaybackOut(ResponseModel):
    manifest_url: str = Field(
        description="The master playlist. It and the media playlists it names are checked"
        " against the film and the viewer's plan at every fetch (403 once they no longer"
        " allow playback)"
    )
    expires_at: datetime = Field(
        description="When the playlist URLs lapse (`KF_MEDIA_URL_SECONDS` after the start);"
        " ask for playback again to watch on"
    )
    max_height: int = Field(description="The tallest rung (short side, px) this viewer may watch")
    poster_url: str | None
    thumbnails_vtt_url: str
    duration: int
    resume_position: int = Field(description="Seconds to start from")
    device_id: str | None = Field(
        description="The device this stream is counted against (the X-Device-Id header, the"
        " kf_device cookie, or one derived from the User-Agent); null when anonymous"
    )
    segment_url_seconds: int = Field(
        description="How long the segment (and sprite) URLs inside a media playlist (or the"
        " WebVTT index) work after that playlist was fetched. Fetch the media playlist"
        " again before then, say when its URLs are half that old, and take the next"
        " segments' URLs from the fresh copy; a segment answering 403 means its URL lapsed:"
        " fetch the playlist again and retry"
    )
    preview: bool = Field(
        description="An administrator's preview (`?preview=true`): no stream session, no"
        " view counted, and no progress to report"
    )


class ProgressIn(RequestModel):
    movie_id: uuid.UUID
    progress: Annotated[StrictInt, Field(ge=0, le=MAX_POSITION, description="Seconds watched")]


class ProgressOut(ResponseModel):
    movie_id: uuid.UUID
    progress: int
    completed: bool
    watched_at: datetime


class StreamMovieOut(ResponseModel):
    id: uuid.UUID
    title: str
    slug: str


class StreamOut(ResponseModel):
    device_id: str
    label: str = Field(description='The device for people, e.g. "Chrome on Linux"')
    name: str | None = Field(
        description='The name the viewer gave it ("Living-room TV"), if any: show it beside'
        " the label"
    )
    movie: StreamMovieOut | None = Field(description="The film it plays (null if deleted)")
    started_at: datetime
    last_seen_at: datetime = Field(description="Its last heartbeat (a progress report)")
    current: bool = Field(description="Whether it is the device making this request")

    @classmethod
    def of(cls, stream: Stream, *, current_device: str) -> "StreamOut":
        movie = stream.movie
        return cls(
            device_id=stream.device_id,
            label=stream.label,
            name=stream.name,
            movie=StreamMovieOut(id=movie.id, title=movie.title, slug=movie.slug)
            if movie
            else None,
            started_at=stream.started_at,
            last_seen_at=stream.last_seen_at,
            current=stream.device_id == current_device,
        )


class DeviceNameIn(RequestModel):
    name: str = Field(
        description=f"1 to {NAME_LENGTH} characters once trimmed, on one line, with no"
        " control or text-direction characters (else 422 `invalid_device_name`)",
        examples=["Living-room TV"],
    )


class DeviceNameOut(ResponseModel):
    device_id: str
    name: str = Field(description="As kept: trimmed")


class StreamsPage(Page[StreamOut]):
    limit: int = Field(description="How many devices the viewer's plan lets play at once")


class HistoryItem(ResponseModel):
    movie: MovieOut
    progress: int
    completed: bool
    watched_at: datetime


def admin_movie(movie: Any, video: Video | None) -> AdminMovieOut:
    return AdminMovieOut.model_validate(
        {
            **MovieOut.model_validate(movie).model_dump(),
            "video": VideoOut.of(video) if video else None,
        }
    )
