"""A request body that stops arriving is cut off, so that no stalled client holds a
request (and a graceful restart) open for ever.

When no chunk of the body arrives for ``seconds``, the application is told that
the client went away, exactly as if it had: it ends what it was doing the way
it ends a dropped request (a tus upload keeps and records the bytes it has, so
the client resumes from there). The client is answered 408 ``request_timeout``
and the connection is closed, as the rest of its body can no longer be read.

Once the body is complete the application's reads pass straight through: a
streaming response waits on them for a disconnect for as long as it streams.
"""

import asyncio
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kushfilms.errors import error_json

log = logging.getLogger(__name__)
_DISCONNECT: Message = {"type": "http.disconnect"}


class BodyReadTimeoutMiddleware:
    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = False
        timed_out = False
        app_answered = False

        async def read_with_timeout() -> Message:
            nonlocal body_done, timed_out
            if body_done:
                return await receive()
            if timed_out:
                return _DISCONNECT
            try:
                message = await asyncio.wait_for(receive(), self.seconds)
            except TimeoutError:
                timed_out = True
                log.info(
                    "%s %s: no request body for %g s; cut off",
                    scope["method"],
                    scope["path"],
                    self.seconds,
                )
                return _DISCONNECT
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def send_unless_cut_off(message: Message) -> None:
            nonlocal app_answered
            if timed_out and not app_answered:
                return  # the client is answered 408 instead, once the app is done
            app_answered = True
            await send(message)

        try:
            await self.app(scope, read_with_timeout, send_unless_cut_off)
        except Exception as error:
            if not timed_out or app_answered:
                raise
            log.info(
                "%s %s ended by %s after its body was cut off",
                scope["method"],
                scope["path"],
                type(error).__name__,
            )
        if timed_out and not app_answered:
            await _request_timeout(self.seconds)(scope, receive, send)


def _request_timeout(seconds: float) -> ASGIApp:
    response = error_json(
        408,
        "request_timeout",
        f"No part of the request body arrived for {seconds:g} s; send it again "
        "(an upload keeps what arrived: ask for its offset and resume).",
    )
    response.headers["Connection"] = "close"  # the rest of the body will not be read
    return response
