"""Handing media bytes to the client: from disk, through nginx, or from the store."""

from fastapi.responses import FileResponse, RedirectResponse, Response

from kushfilms.config import Settings
from kushfilms.media.storage import Storage, content_type

# Media objects never change once written (new content gets new keys).
IMMUTABLE = "private, max-age=31536000, immutable"
PUBLIC_IMMUTABLE = "public, max-age=31536000, immutable"
PRESIGN_SECONDS = 3600


def deliver(storage: Storage, key: str, settings: Settings, *, cache_control: str) -> Response:
    """A response that gets the object ``key`` to the client the cheapest way."""
    local = storage.local_path(key)
    headers = {"Cache-Control": cache_control}
    if local is None:
        url = storage.presigned_url(key, expires_in=PRESIGN_SECONDS)
        assert url is not None
        return RedirectResponse(url, status_code=302, headers=headers)
    if settings.media_delivery == "nginx":
        # nginx serves the file from an internal location (see docs/nginx.conf).
        headers["X-Accel-Redirect"] = settings.nginx_internal_prefix + key
        return Response(media_type=content_type(key), headers=headers)
    return FileResponse(local, media_type=content_type(key), headers=headers)
