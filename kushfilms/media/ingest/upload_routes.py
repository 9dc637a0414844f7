"""The tus 1.0 upload server for administrators.

Core protocol with the creation, creation-with-upload, termination, expiration
and checksum extensions; https://tus.io/protocols/resumable-upload.
"""

from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import datetime
from email.utils import format_datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import ClientDisconnect

from kushfilms.accounts.deps import AdminUser
from kushfilms.db import transaction
from kushfilms.deps import DbSession, ReadSession, settings_of
from kushfilms.errors import COMMON_ERRORS, KushError, error_responses
from kushfilms.kit.text import SingleLine
from kushfilms.media.ingest import tus, uploads
from kushfilms.media.ingest.tus import TUS_VERSION
from kushfilms.models import Upload
from kushfilms.state import app_state

OFFSET_STREAM = "application/offset+octet-stream"
TUS_EXTENSIONS = "creation,creation-with-upload,termination,expiration,checksum"


class _TusRoute(APIRoute):
    """Every answer of the upload server, errors too, names its protocol version."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_tus(request: Request) -> Response:
            try:
                response = await handle(request)
            except KushError as error:
                error.headers.setdefault("Tus-Resumable", TUS_VERSION)
                raise
            response.headers.setdefault("Tus-Resumable", TUS_VERSION)
            return response

        return handle_tus


# For CORS: what tus clients send and must be allowed to read.
TUS_REQUEST_HEADERS = (
    "Tus-Resumable",
    "Upload-Length",
    "Upload-Offset",
    "Upload-Metadata",
    "Upload-Checksum",
    "Upload-Defer-Length",
)
TUS_RESPONSE_HEADERS = (
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Checksum-Algorithm",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Expires",
)

router = APIRouter(
    prefix="/api/admin/uploads",
    tags=["admin: uploads"],
    route_class=_TusRoute,
    responses=error_responses(*COMMON_ERRORS, 401, 403),
)


class UploadOut(BaseModel):
    id: str
    length: int
    offset: int
    filename: str
    metadata: dict[str, str]
    expires_at: datetime
    completed_at: datetime | None


async def _require_tus_resumable(
    tus_resumable: Annotated[str | None, Header(description=f"Must be {TUS_VERSION}")] = None,
) -> None:
    if tus_resumable != TUS_VERSION:
        raise tus.TusVersionUnsupported()


TusRequest = Depends(_require_tus_resumable)
UploadId = Annotated[str, Path(max_length=64)]
ChecksumHeader = Annotated[
    str | None,
    Header(description="`sha1 <base64 digest>` or `sha256 <base64 digest>` of this chunk"),
]


# What a client says of the file is kept and shown: a line of text each.
_METADATA = TypeAdapter(dict[SingleLine, SingleLine])


def _metadata(header: str) -> dict[str, str]:
    """The pairs of an Upload-Metadata header; 422 naming the key of a value that is
    not a line of text (a NUL in a file name cannot be stored)."""
    try:
        return _METADATA.validate_python(tus.parse_metadata(header))
    except ValidationError as error:
        raise RequestValidationError(
            [
                {**problem, "loc": ("header", "Upload-Metadata", *problem["loc"])}
                for problem in error.errors(include_url=False)
            ]
        ) from error


def _http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


def _progress_headers(upload: Upload, offset: int) -> dict[str, str]:
    return {"Upload-Offset": str(offset), "Upload-Expires": _http_date(upload.expires_at)}


def _upload_out(upload: Upload, offset: int) -> UploadOut:
    return UploadOut(
        id=upload.id,
        length=upload.length,
        offset=offset,
        filename=upload.filename,
        metadata=upload.metadata_,
        expires_at=upload.expires_at,
        completed_at=upload.completed_at,
    )


def _is_offset_stream(content_type: str | None) -> bool:
    return (content_type or "").partition(";")[0].strip().lower() == OFFSET_STREAM


async def _body(request: Request) -> AsyncIterator[bytes]:
    """The body as it arrives; when the client goes away it just ends early."""
    try:
        async for piece in request.stream():
            yield piece
    except ClientDisconnect:
        return


async def _receive(
    request: Request, upload_id: str, offset: int, checksum: tus.Checksum | None
) -> Upload:
    length = request.headers.get("content-length", "")
    return await uploads.receive_chunk(
        app_state(request).db,
        settings_of(request),
        upload_id,
        offset=offset,
        body=_body(request),
        declared_length=int(length) if length.isdigit() else None,
        checksum=checksum,
    )


@router.options(
    "",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="What this tus server supports (tus discovery)",
)
async def describe_server(request: Request, _: AdminUser) -> Response:
    return Response(
        status_code=status.HTTP_204_NO_CONTENT,
        headers={
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Max-Size": str(settings_of(request).upload_max_bytes),
            "Tus-Checksum-Algorithm": ",".join(tus.CHECKSUM_ALGORITHMS),
        },
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[TusRequest],
    responses=error_responses(412, 460),
    summary="Start an upload, optionally with its first bytes (tus creation)",
)
async def start_upload(
    request: Request,
    response: Response,
    admin: AdminUser,
    auth_session: ReadSession,
    upload_length: Annotated[int | None, Header(ge=0, description="The file's size")] = None,
    upload_defer_length: Annotated[str | None, Header(description="Not supported")] = None,
    upload_metadata: Annotated[
        str, Header(description="`key base64value` pairs; `filename` names the file")
    ] = "",
    content_type: Annotated[
        str | None, Header(description=f"{OFFSET_STREAM} when the body holds the first bytes")
    ] = None,
    upload_checksum: ChecksumHeader = None,
) -> UploadOut:
    if upload_length is None or upload_defer_length is not None:
        raise tus.InvalidUploadHeader("Send Upload-Length; deferred lengths are not supported.")
    metadata = _metadata(upload_metadata)
    checksum = tus.parse_checksum(upload_checksum) if upload_checksum else None
    # The sign-in check is done; its read transaction must not last the upload.
    await auth_session.close()
    settings = settings_of(request)
    async with transaction(app_state(request).db.writer) as session:
        upload = await uploads.create_upload(
            session, length=upload_length, metadata=metadata, created_by=admin.id, settings=settings
        )
    if _is_offset_stream(content_type):
        upload = await _receive(request, upload.id, 0, checksum)
    response.headers["Location"] = str(request.url_for("describe_upload", upload_id=upload.id))
    response.headers.update(_progress_headers(upload, upload.offset))
    return _upload_out(upload, upload.offset)


@router.head(
    "/{upload_id}",
    dependencies=[TusRequest],
    responses=error_responses(404, 410, 412),
    summary="How far an upload has come, in its headers (tus core)",
)
@router.get(
    "/{upload_id}",
    responses=error_responses(404, 410),
    summary="How far an upload has come",
)
async def describe_upload(
    upload_id: UploadId, request: Request, response: Response, _: AdminUser, session: ReadSession
) -> UploadOut:
    upload = await uploads.get_upload(session, upload_id)
    offset = uploads.resumable_offset(settings_of(request), upload)
    response.headers.update(_progress_headers(upload, offset))
    response.headers["Upload-Length"] = str(upload.length)
    if upload.metadata_:
        response.headers["Upload-Metadata"] = tus.encode_metadata(upload.metadata_)
    response.headers["Cache-Control"] = "no-store"
    return _upload_out(upload, offset)


@router.patch(
    "/{upload_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[TusRequest],
    responses=error_responses(404, 409, 410, 412, 460),
    summary="Send the next bytes of an upload (tus core)",
)
async def append_to_upload(
    upload_id: UploadId,
    request: Request,
    _: AdminUser,
    auth_session: ReadSession,
    upload_offset: Annotated[int, Header(ge=0, description="Where these bytes go")],
    content_type: Annotated[str | None, Header(description=OFFSET_STREAM)] = None,
    upload_checksum: ChecksumHeader = None,
) -> Response:
    if not _is_offset_stream(content_type):
        raise tus.NotAnOffsetStream()
    checksum = tus.parse_checksum(upload_checksum) if upload_checksum else None
    # The sign-in check is done; its read transaction must not last the upload.
    await auth_session.close()
    upload = await _receive(request, upload_id, upload_offset, checksum)
    return Response(
        status_code=status.HTTP_204_NO_CONTENT, headers=_progress_headers(upload, upload.offset)
    )


@router.delete(
    "/{upload_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[TusRequest],
    responses=error_responses(404, 412),
    summary="Abandon an upload and delete its bytes (tus termination)",
)
async def terminate_upload(
    upload_id: UploadId, request: Request, _: AdminUser, session: DbSession
) -> Response:
    await uploads.delete_upload(session, upload_id, settings_of(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
