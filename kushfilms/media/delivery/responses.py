"""Media files as HTTP responses: a playlist written for the request, or a stored
object handed to the client the cheapest way (from disk, through nginx, or from the
store)."""

from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, Response

from kushfilms.config import Settings
from kushfilms.media.delivery.files import Stored, Written
from kushfilms.media.storage import Storage, content_type


def respond(file: Written | Stored, storage: Storage, settings: Settings) -> Response:
    if isinstance(file, Written):
        return PlainTextResponse(
            file.text, media_type=file.media_type, headers={"Cache-Control": file.cache_control}
        )
    return deliver(storage, file, settings)


def deliver(storage: Storage, file: Stored, settings: Settings) -> Response:
    """The stored object itself, nginx's (``X-Accel-Redirect``), or a redirect to the
    store's URL presigned for ``file.expires_in`` seconds."""
    local = storage.local_path(file.key)
    headers = {"Cache-Control": file.cache_control}
    if local is None:
        url = storage.presigned_url(file.key, expires_in=file.expires_in)
        assert url is not None
        # The redirect is kept no longer than half the life of the URL it names.
        audience = file.cache_control.split(",", 1)[0]
        headers["Cache-Control"] = f"{audience}, max-age={file.expires_in // 2}"
        return RedirectResponse(url, status_code=302, headers=headers)
    if settings.media_delivery == "nginx":
        # nginx serves the file from an internal location (see docs/nginx.conf).
        headers["X-Accel-Redirect"] = settings.nginx_internal_prefix + file.key
        return Response(media_type=content_type(file.key), headers=headers)
    return FileResponse(local, media_type=content_type(file.key), headers=headers)
