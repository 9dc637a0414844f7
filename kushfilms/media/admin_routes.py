"""The administrators' film routes: movies with their video's state, publishing,
deletion, attaching a video and setting its pictures (poster and backdrop)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, UploadFile, status

from kushfilms.accounts.deps import AdminUser
from kushfilms.catalog import service as catalog
from kushfilms.catalog.service import MovieFilter, Sort
from kushfilms.deps import AppSettings, DbSession, JobQueue, MediaStorage, PageQuery, ReadSession
from kushfilms.errors import COMMON_ERRORS, error_responses
from kushfilms.kit.pagination import Page, to_page
from kushfilms.kit.text import SingleLine
from kushfilms.media import flows, layout
from kushfilms.media import service as media
from kushfilms.media.pictures import Pictures
from kushfilms.media.schemas import AdminMovieOut, AttachVideo, ThumbnailOut, VideoOut, admin_movie
from kushfilms.models import AccessLevel
from kushfilms.state import app_state

router = APIRouter(
    prefix="/api/admin/movies",
    tags=["admin: catalogue"],
    responses=error_responses(*COMMON_ERRORS, 401, 403),
)

MAX_THUMBNAIL_BYTES = flows.MAX_POSTER_BYTES  # the body limit's allowance (kushfilms.app)


@router.get("", summary="Movies, published or not, with their video's state")
async def list_movies(
    _: AdminUser,
    session: ReadSession,
    page: PageQuery,
    search: Annotated[SingleLine | None, Query(max_length=200)] = None,
    category: Annotated[SingleLine | None, Query(max_length=100)] = None,
    access_level: AccessLevel | None = None,
    sort: Sort | None = None,
) -> Page[AdminMovieOut]:
    query = MovieFilter(
        search=search,
        category=category,
        access_level=access_level,
        sort=sort,
        include_unpublished=True,
    )
    found = await catalog.list_movies(session, query, page)
    videos = await media.videos_of(session, [movie.id for movie in found.items])
    return to_page(found, lambda movie: admin_movie(movie, videos.get(movie.id)))


@router.get(
    "/{movie_id}", responses=error_responses(404), summary="One movie and its video's state"
)
async def get_movie(movie_id: uuid.UUID, _: AdminUser, session: ReadSession) -> AdminMovieOut:
    movie = await catalog.get_movie(session, movie_id, include_unpublished=True)
    return admin_movie(movie, await media.get_video(session, movie_id))


@router.post(
    "/{movie_id}/publish",
    responses=error_responses(404, 409),
    summary="Publish a movie (its video must be ready)",
)
async def publish_movie(movie_id: uuid.UUID, _: AdminUser, session: DbSession) -> AdminMovieOut:
    film = await flows.publish_film(session, movie_id=movie_id)
    return admin_movie(film.movie, film.video)


@router.post("/{movie_id}/unpublish", responses=error_responses(404), summary="Unpublish a movie")
async def unpublish_movie(movie_id: uuid.UUID, _: AdminUser, session: DbSession) -> AdminMovieOut:
    film = await flows.unpublish_film(session, movie_id=movie_id)
    return admin_movie(film.movie, film.video)


@router.delete(
    "/{movie_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(404),
    summary="Delete a movie; its video and pictures are deleted in the background",
)
async def delete_movie(
    movie_id: uuid.UUID, _: AdminUser, session: DbSession, jobs: JobQueue
) -> Response:
    await flows.delete_film(session, movie_id=movie_id, jobs=jobs)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{movie_id}/video",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(404, 409),
    summary="Attach a finished upload as the movie's video and start processing it",
)
async def attach_video(
    request: Request,
    movie_id: uuid.UUID,
    body: AttachVideo,
    _: AdminUser,
    caller: ReadSession,
    settings: AppSettings,
    jobs: JobQueue,
) -> VideoOut:
    # Who is calling is known: end that read before the file is probed, which
    # takes a while and must not keep a transaction open (the service opens its own).
    await caller.close()
    video = await media.attach_video(
        app_state(request).db,
        movie_id=movie_id,
        upload_id=body.upload_id,
        settings=settings,
        jobs=jobs,
    )
    return VideoOut.of(video)


@router.post(
    "/{movie_id}/thumbnail",
    responses=error_responses(404),
    summary="Upload the movie's poster: portrait, 2:3 (JPEG, PNG or WebP, at most 15 MiB)",
)
async def upload_thumbnail(
    request: Request,
    movie_id: uuid.UUID,
    file: UploadFile,
    _: AdminUser,
    caller: ReadSession,
    storage: MediaStorage,
) -> ThumbnailOut:
    await caller.close()  # no transaction stays open across the image work
    return _pictures_out(
        await flows.set_picture(
            app_state(request).db, movie_id=movie_id, kind="poster", image=file, storage=storage
        )
    )


@router.post(
    "/{movie_id}/backdrop",
    responses=error_responses(404),
    summary="Upload the movie's backdrop: landscape, 16:9 (JPEG, PNG or WebP, at most 15 MiB)",
)
async def upload_backdrop(
    request: Request,
    movie_id: uuid.UUID,
    file: UploadFile,
    _: AdminUser,
    caller: ReadSession,
    storage: MediaStorage,
) -> ThumbnailOut:
    await caller.close()  # no transaction stays open across the image work
    return _pictures_out(
        await flows.set_picture(
            app_state(request).db, movie_id=movie_id, kind="backdrop", image=file, storage=storage
        )
    )


def _pictures_out(pictures: Pictures) -> ThumbnailOut:
    poster, backdrop = pictures.poster_key, pictures.backdrop_key
    # An upload leaves both: the one uploaded, and the other given or derived.
    assert poster is not None
    assert backdrop is not None
    poster_url = layout.art_url(poster)
    return ThumbnailOut(
        thumbnail_url=poster_url, poster_url=poster_url, backdrop_url=layout.art_url(backdrop)
    )
