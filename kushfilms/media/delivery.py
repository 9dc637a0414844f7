"""Handing media bytes to the client: from disk, through nginx, or from the store."""

from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, Response

from kushfilms.config import Settings
from kushfilms.media.storage import Storage, content_type

# Media objects never change once written (new content gets new keys).
IMMUTABLE = "private, max-age=31536000, immutable"
PUBLIC_IMMUTABLE = "public, max-age=31536000, immutable"
# Posters are public; a redirect to the store is good for an hour.
PUBLIC_PRESIGN_SECONDS = 3600


def deliver(
    storage: Storage,
    key: str,
    settings: Settings,
    *,
    cache_control: str,
    expires_in: int = PUBLIC_PRESIGN_SECONDS,
) -> Response:
    """A response that gets the object ``key`` to the client the cheapest way: the
    file itself, nginx's (``X-Accel-Redirect``), or a redirect to the store's URL
    presigned for ``expires_in`` seconds."""
    local = storage.local_path(key)
    headers = {"Cache-Control": cache_control}
    if local is None:
        url = storage.presigned_url(key, expires_in=expires_in)
        assert url is not None
        # The redirect is kept no longer than half the life of the URL it names.
        audience = cache_control.split(",", 1)[0]
        headers["Cache-Control"] = f"{audience}, max-age={expires_in // 2}"
        return RedirectResponse(url, status_code=302, headers=headers)
    if settings.media_delivery == "nginx":
        # nginx serves the file from an internal location (see docs/nginx.conf).
        headers["X-Accel-Redirect"] = settings.nginx_internal_prefix + key
        return Response(media_type=content_type(key), headers=headers)
    return FileResponse(local, media_type=content_type(key), headers=headers)


def playlist_response(text: str, *, media_type: str, cache_control: str) -> Response:
    """A playlist the app wrote for this request (never a stored file as it is)."""
    return PlainTextResponse(text, media_type=media_type, headers={"Cache-Control": cache_control})
