"""What a browser reported while a test used it: console output, page errors, failed requests."""

import time

from playwright.async_api import BrowserContext, ConsoleMessage, Request, Response, WebError

# Chromium's word for a request the page itself cancelled: the viewer left the page,
# or the player changed its mind (hls.js drops a segment when it switches quality).
CANCELLED = "net::ERR_ABORTED"


class Recording:
    """Everything one browser context said, and the part of it a viewer would notice as
    going wrong: console errors, uncaught exceptions, failed requests, 4xx/5xx answers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: list[str] = []
        self.problems: list[str] = []
        self._started = time.monotonic()

    @classmethod
    def of(cls, context: BrowserContext, name: str) -> "Recording":
        recording = cls(name)
        context.on("console", recording._on_console)
        context.on("weberror", recording._on_error)
        context.on("requestfailed", recording._on_request_failed)
        context.on("response", recording._on_response)
        return recording

    def note(self, line: str, *, problem: bool = False) -> None:
        stamped = f"{time.monotonic() - self._started:7.2f}s {line}"
        self.lines.append(stamped)
        if problem:
            self.problems.append(stamped)

    def assert_clean(self) -> None:
        assert not self.problems, f"the browser ({self.name}) reported:\n" + "\n".join(
            self.problems
        )

    def _on_console(self, message: ConsoleMessage) -> None:
        where = message.location.get("url", "")
        line = f"console.{message.type}: {message.text} ({where})"
        self.note(line, problem=message.type == "error")

    def _on_error(self, error: WebError) -> None:
        self.note(f"uncaught: {error.error}", problem=True)

    def _on_request_failed(self, request: Request) -> None:
        failure = request.failure or "failed"
        line = f"request failed: {request.method} {request.url}: {failure}"
        self.note(line, problem=failure != CANCELLED)

    def _on_response(self, response: Response) -> None:
        line = f"{response.status} {response.request.method} {response.url}"
        self.note(line, problem=response.status >= 400)
