"""Small ASGI middleware every response passes through."""

import re
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kushfilms.errors import error_json

_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, content_security_policy: str = "") -> None:
        self.app = app
        self.headers = list(_SECURITY_HEADERS)
        if content_security_policy:
            self.headers.append((b"content-security-policy", content_security_policy.encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class NulPathMiddleware:
    """404 for a path that holds a NUL (``%00``): no route or file has one, and past
    here it would reach the database (PostgreSQL cannot store it) or the file
    system (Python refuses it), and answer 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "\x00" in scope["path"]:
            await error_json(404, "not_found", "Not found.")(scope, receive, send)
            return
        await self.app(scope, receive, send)


class CompressTextMiddleware:
    """gzip for pages, scripts and JSON; media files go out as they are (ranges, video)."""

    def __init__(self, app: ASGIApp, *, skip: tuple[str, ...] = ("/media/",)) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=1024)
        self.skip = skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(self.skip):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuse request bodies over a size, by their Content-Length or as they stream.

    ``limits`` gives other sizes to the paths its patterns match from the start
    (so a plain prefix works too); the first match wins.
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, limits: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.limits = [(re.compile(pattern), size) for pattern, size in (limits or {}).items()]

    def limit_for(self, path: str) -> int:
        return next((size for pattern, size in self.limits if pattern.match(path)), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(limit)(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413)
            return message

        await self.app(scope, counting_receive, send)


def _too_large(limit: int) -> ASGIApp:
    return error_json(
        413,
        "payload_too_large",
        f"The request body is larger than the {limit // 1024} KiB allowed.",
    )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
