"""A request body that stops arriving is cut off with a 408; one that arrives is not."""

import asyncio
import json

from starlette.types import Message, Receive, Scope, Send

from kushfilms.kit.body_timeout import BodyReadTimeoutMiddleware

SECONDS = 0.05
SCOPE: Scope = {"type": "http", "method": "PATCH", "path": "/upload", "headers": []}


class Client:
    """The server's side of one request: the chunks a client sends, then silence."""

    def __init__(self, *chunks: bytes, ends: bool) -> None:
        self.messages: list[Message] = [
            {"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks
        ]
        if ends:
            self.messages.append({"type": "http.request", "body": b"", "more_body": False})
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        if self.messages:
            return self.messages.pop(0)
        await asyncio.sleep(3600)  # the client went quiet
        raise AssertionError("unreachable")

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])


class Uploader:
    """An app that keeps what arrives until the client goes away, then answers 204."""

    def __init__(self) -> None:
        self.kept = b""

    async def __call__(self, _scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            self.kept += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def test_a_stalled_body_is_cut_off_and_what_arrived_is_kept() -> None:
    app = Uploader()
    client = Client(b"abc", b"def", ends=False)

    await BodyReadTimeoutMiddleware(app, seconds=SECONDS)(SCOPE, client.receive, client.send)

    assert app.kept == b"abcdef"
    assert client.status == 408
    assert client.headers[b"connection"] == b"close"
    body = json.loads(client.sent[1]["body"])
    assert body["error"]["code"] == "request_timeout"
    assert len(client.sent) == 2  # the app's own 204 was not sent


async def test_a_body_that_arrives_passes_untouched() -> None:
    app = Uploader()
    client = Client(b"abc", b"def", ends=True)

    await BodyReadTimeoutMiddleware(app, seconds=SECONDS)(SCOPE, client.receive, client.send)

    assert app.kept == b"abcdef"
    assert client.status == 204


async def test_after_the_body_a_wait_for_the_disconnect_is_not_cut() -> None:
    """A streaming response listens for the client going away for as long as it streams."""
    client = Client(ends=True)
    outcome: list[str] = []

    async def streamer(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        try:
            await asyncio.wait_for(receive(), 4 * SECONDS)
        except TimeoutError:
            outcome.append("still listening")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    await BodyReadTimeoutMiddleware(streamer, seconds=SECONDS)(SCOPE, client.receive, client.send)

    assert outcome == ["still listening"]
    assert client.status == 200


async def test_an_app_that_fails_on_the_cut_off_body_answers_408() -> None:
    client = Client(b"{", ends=False)

    async def parser(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        raise ConnectionAbortedError("the body ended early")

    await BodyReadTimeoutMiddleware(parser, seconds=SECONDS)(SCOPE, client.receive, client.send)

    assert client.status == 408


async def test_an_answer_already_started_is_left_alone() -> None:
    client = Client(ends=False)

    async def early(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 413, "headers": []})
        message = await receive()
        await send({"type": "http.response.body", "body": message["type"].encode()})

    await BodyReadTimeoutMiddleware(early, seconds=SECONDS)(SCOPE, client.receive, client.send)

    assert client.status == 413
    assert client.sent[1]["body"] == b"http.disconnect"
    assert len(client.sent) == 2
