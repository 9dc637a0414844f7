import asyncio
import base64
import fcntl
import hashlib
import os
import socket
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import update
from tusclient import client as tus

from kushfilms.db import Database, transaction
from kushfilms.kit.clock import utcnow
from kushfilms.media import layout
from kushfilms.media.ingest import uploads
from kushfilms.media.ingest.tus import encode_metadata, parse_metadata
from kushfilms.models import Upload
from tests.conftest import Backend

UPLOADS = "/api/admin/uploads"
TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_STREAM = "application/offset+octet-stream"
KIB = 1024


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def checksum(algorithm: str, data: bytes) -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


def upload_id(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def staged(env: Backend, url: str) -> Path:
    return layout.staged_upload(env.settings, upload_id(url))


async def start(
    client: httpx.AsyncClient, admin: dict[str, Any], length: int, **headers: str
) -> str:
    """Create an upload; returns its path."""
    response = await client.post(
        UPLOADS, headers={**admin["headers"], **TUS, "Upload-Length": str(length), **headers}
    )
    assert response.status_code == 201, response.text
    return urlsplit(response.headers["location"]).path


async def send(
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    url: str,
    offset: int,
    body: bytes | AsyncIterator[bytes],
    **headers: str,
) -> httpx.Response:
    return await client.patch(
        url,
        content=body,
        headers={
            **admin["headers"],
            **TUS,
            "Content-Type": OFFSET_STREAM,
            "Upload-Offset": str(offset),
            **headers,
        },
    )


async def head(client: httpx.AsyncClient, admin: dict[str, Any], url: str) -> httpx.Response:
    return await client.head(url, headers={**admin["headers"], **TUS})


async def offset_of(client: httpx.AsyncClient, admin: dict[str, Any], url: str) -> int:
    response = await head(client, admin, url)
    assert response.status_code == 200, response.text
    return int(response.headers["upload-offset"])


async def change_row(env: Backend, url: str, **values: Any) -> None:
    db: Database = env.app.state.db
    async with transaction(db.writer) as session:
        await session.execute(update(Upload).where(Upload.id == upload_id(url)).values(**values))


def make_file(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


async def test_options_describe_the_server(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    response = await client.options(UPLOADS, headers=admin["headers"])

    assert response.status_code == 204
    assert response.headers["tus-resumable"] == "1.0.0"
    assert response.headers["tus-version"] == "1.0.0"
    assert set(response.headers["tus-extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "termination",
        "expiration",
        "checksum",
    }
    assert response.headers["tus-max-size"] == str(env.settings.upload_max_bytes)
    assert response.headers["tus-checksum-algorithm"] == "sha1,sha256"


async def test_tuspy_uploads_a_file_in_chunks(
    live_server: str, admin: dict[str, Any], env: Backend, tmp_path: Path
) -> None:
    source = tmp_path / "film.mp4"
    data = make_file(source, 3 * 1024 * KIB + 123)

    with source.open("rb") as stream:  # given a path, tuspy leaves files open
        uploader = tus.TusClient(f"{live_server}{UPLOADS}", headers=admin["headers"]).uploader(
            file_stream=stream,
            chunk_size=256 * KIB,
            metadata={"filename": "film.mp4", "filetype": "video/mp4"},
            upload_checksum=True,
        )
        await asyncio.to_thread(uploader.upload)

    assert uploader.url.startswith(f"{live_server}{UPLOADS}/")
    assert sha256(staged(env, uploader.url).read_bytes()) == sha256(data)
    async with httpx.AsyncClient(base_url=live_server) as http:
        described = await http.get(urlsplit(uploader.url).path, headers=admin["headers"])
    body = described.json()
    assert (body["offset"], body["length"]) == (len(data), len(data))
    assert body["filename"] == "film.mp4"
    assert body["completed_at"] is not None


async def test_an_upload_can_start_with_its_first_bytes(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    data = os.urandom(40 * KIB)
    response = await client.post(
        UPLOADS,
        content=data[: 10 * KIB],
        headers={
            **admin["headers"],
            **TUS,
            "Upload-Length": str(len(data)),
            "Content-Type": OFFSET_STREAM,
            "Upload-Checksum": checksum("sha256", data[: 10 * KIB]),
        },
    )

    assert response.status_code == 201, response.text
    assert response.headers["upload-offset"] == str(10 * KIB)
    assert response.headers["tus-resumable"] == "1.0.0"
    assert response.headers["upload-expires"].endswith(" GMT")
    assert response.json()["offset"] == 10 * KIB
    url = urlsplit(response.headers["location"]).path
    assert (await send(client, admin, url, 10 * KIB, data[10 * KIB :])).status_code == 204
    assert staged(env, url).read_bytes() == data


FILENAME = "Ålesund, 東京 à l'aube.mkv"


async def test_metadata_round_trips(client: httpx.AsyncClient, admin: dict[str, Any]) -> None:
    encoded = ",".join(
        [
            f"filename {base64.b64encode(FILENAME.encode()).decode()}",
            "is_confidential",
            f"filetype {base64.b64encode(b'video/x-matroska').decode()}",
        ]
    )
    url = await start(client, admin, 10, **{"Upload-Metadata": encoded})

    described = await head(client, admin, url)
    assert described.status_code == 200
    assert described.headers["upload-metadata"] == encoded
    assert described.headers["upload-length"] == "10"
    assert described.headers["upload-offset"] == "0"
    assert described.headers["cache-control"] == "no-store"
    body = (await client.get(url, headers=admin["headers"])).json()
    assert body["filename"] == FILENAME
    assert body["metadata"] == {
        "filename": FILENAME,
        "is_confidential": "",
        "filetype": "video/x-matroska",
    }


NOT_UTF8 = base64.b64encode(b"\xff").decode()


@pytest.mark.parametrize(
    "metadata", ["filename not-base64!", "filename a b", "name YQ==,name Yg==", f"name {NOT_UTF8}"]
)
async def test_malformed_metadata_is_refused(
    client: httpx.AsyncClient, admin: dict[str, Any], metadata: str
) -> None:
    response = await client.post(
        UPLOADS,
        headers={**admin["headers"], **TUS, "Upload-Length": "10", "Upload-Metadata": metadata},
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_upload_header"


async def test_the_length_must_be_given_and_allowed(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    base = {**admin["headers"], **TUS}

    missing = await client.post(UPLOADS, headers=base)
    deferred = await client.post(UPLOADS, headers={**base, "Upload-Defer-Length": "1"})
    too_large = await client.post(
        UPLOADS, headers={**base, "Upload-Length": str(env.settings.upload_max_bytes + 1)}
    )

    assert missing.status_code == deferred.status_code == 400
    assert too_large.status_code == 413
    assert too_large.json()["error"]["code"] == "upload_too_large"


async def test_requests_without_the_tus_version_are_refused(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    url = await start(client, admin, 10)
    auth = admin["headers"]

    for response in [
        await client.post(UPLOADS, headers={**auth, "Upload-Length": "10"}),
        await client.head(url, headers=auth),
        await client.patch(
            url,
            content=b"x",
            headers={**auth, "Content-Type": OFFSET_STREAM, "Upload-Offset": "0"},
        ),
        await client.delete(url, headers={**auth, "Tus-Resumable": "0.2.2"}),
    ]:
        assert response.status_code == 412
        assert response.headers["tus-version"] == "1.0.0"
        if response.request.method != "HEAD":
            assert response.json()["error"]["code"] == "tus_version_unsupported"
    assert (await client.options(UPLOADS, headers=auth)).status_code == 204


async def test_only_administrators_may_upload(
    client: httpx.AsyncClient, admin: dict[str, Any], viewer: dict[str, Any]
) -> None:
    url = await start(client, admin, 10)
    creation = {**TUS, "Upload-Length": "10"}

    anonymous = await client.post(UPLOADS, headers=creation)
    as_viewer = await client.post(UPLOADS, headers={**viewer["headers"], **creation})
    viewer_head = await client.head(url, headers={**viewer["headers"], **TUS})

    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthorized"
    assert as_viewer.status_code == viewer_head.status_code == 403
    assert as_viewer.json()["error"]["code"] == "forbidden"


async def test_unknown_uploads_are_not_found(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    missing = f"{UPLOADS}/{'A' * 32}"

    assert (await head(client, admin, missing)).status_code == 404
    response = await send(client, admin, missing, 0, b"abc")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "upload_not_found"
    assert (await client.delete(missing, headers={**admin["headers"], **TUS})).status_code == 404


async def test_a_chunk_must_start_at_the_current_offset(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    url = await start(client, admin, 100)
    assert (await send(client, admin, url, 0, b"a" * 30)).status_code == 204

    response = await send(client, admin, url, 10, b"b" * 30)

    assert response.status_code == 409
    assert response.headers["upload-offset"] == "30"
    assert response.json()["error"] | {"message": ""} == {
        "code": "upload_offset_mismatch",
        "message": "",
        "offset": 30,
    }


async def test_a_chunk_must_be_an_offset_stream(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    url = await start(client, admin, 100)

    response = await send(client, admin, url, 0, b"abc", **{"Content-Type": "application/json"})

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


async def test_bytes_past_the_length_are_refused_and_not_kept(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    url = await start(client, admin, 100)
    assert (await send(client, admin, url, 0, b"a" * 60)).status_code == 204

    async def streamed() -> AsyncIterator[bytes]:  # no Content-Length: found while streaming
        yield b"b" * 30
        yield b"c" * 30

    declared = await send(client, admin, url, 60, b"b" * 41)
    undeclared = await send(client, admin, url, 60, streamed())

    assert declared.status_code == undeclared.status_code == 413
    assert undeclared.json()["error"]["code"] == "upload_too_large"
    assert await offset_of(client, admin, url) == 60
    assert staged(env, url).read_bytes() == b"a" * 60


async def test_checksums_are_verified(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    data = os.urandom(3000)
    url = await start(client, admin, len(data))

    sha1 = await send(
        client, admin, url, 0, data[:1000], **{"Upload-Checksum": checksum("sha1", data[:1000])}
    )
    wrong = await send(
        client,
        admin,
        url,
        1000,
        data[1000:2000],
        **{"Upload-Checksum": checksum("sha256", data[2000:])},
    )

    assert sha1.status_code == 204
    assert wrong.status_code == 460
    assert wrong.json()["error"]["code"] == "checksum_mismatch"
    assert await offset_of(client, admin, url) == 1000
    assert staged(env, url).stat().st_size == 1000
    sha256_chunk = await send(
        client,
        admin,
        url,
        1000,
        data[1000:],
        **{"Upload-Checksum": checksum("sha256", data[1000:])},
    )
    assert sha256_chunk.status_code == 204
    assert staged(env, url).read_bytes() == data


@pytest.mark.parametrize("header", ["md5 1B2M2Y8AsgTpgAmY7PhCfg==", "sha256 not-base64", "sha1"])
async def test_unusable_checksums_are_refused(
    client: httpx.AsyncClient, admin: dict[str, Any], header: str
) -> None:
    url = await start(client, admin, 10)

    response = await send(client, admin, url, 0, b"abc", **{"Upload-Checksum": header})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_upload_header"
    assert await offset_of(client, admin, url) == 0


async def test_a_checksum_mismatch_is_answered_460_over_http(
    live_server: str, admin: dict[str, Any]
) -> None:
    async with httpx.AsyncClient(base_url=live_server) as http:
        url = await start(http, admin, 10)
        response = await send(
            http, admin, url, 0, b"0123456789", **{"Upload-Checksum": checksum("sha1", b"x")}
        )

    assert response.status_code == 460
    assert response.json()["error"]["code"] == "checksum_mismatch"


async def test_an_interrupted_body_keeps_what_arrived(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    data = os.urandom(200 * KIB)
    url = await start(client, admin, len(data))

    async def cut_short() -> AsyncIterator[bytes]:
        yield data[: 50 * KIB]
        yield data[50 * KIB : 80 * KIB]

    response = await send(client, admin, url, 0, cut_short(), **{"Content-Length": str(len(data))})

    assert response.status_code == 204
    assert response.headers["upload-offset"] == str(80 * KIB)
    assert await offset_of(client, admin, url) == 80 * KIB
    assert (await send(client, admin, url, 80 * KIB, data[80 * KIB :])).status_code == 204
    assert sha256(staged(env, url).read_bytes()) == sha256(data)


def _send_part_and_hang_up(base_url: str, url: str, auth: str, data: bytes, sent: int) -> None:
    address = urlsplit(base_url)
    request = (
        f"PATCH {url} HTTP/1.1\r\nHost: {address.netloc}\r\nAuthorization: {auth}\r\n"
        f"Tus-Resumable: 1.0.0\r\nContent-Type: {OFFSET_STREAM}\r\nUpload-Offset: 0\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    ).encode()
    with socket.create_connection((address.hostname, address.port)) as connection:
        connection.sendall(request + data[:sent])
        time.sleep(0.3)  # the server takes the bytes in; then the client vanishes


async def test_a_dropped_connection_keeps_what_arrived_and_tuspy_resumes(
    live_server: str, admin: dict[str, Any], env: Backend, tmp_path: Path
) -> None:
    source = tmp_path / "film.mp4"
    data = make_file(source, 1024 * KIB)
    async with httpx.AsyncClient(base_url=live_server) as http:
        url = await start(http, admin, len(data))
        await asyncio.to_thread(
            _send_part_and_hang_up,
            live_server,
            url,
            admin["headers"]["Authorization"],
            data,
            300 * KIB,
        )
        for _ in range(100):
            if await offset_of(http, admin, url) == 300 * KIB:
                break
            await asyncio.sleep(0.05)
        assert await offset_of(http, admin, url) == 300 * KIB

    with source.open("rb") as stream:
        uploader = tus.TusClient(f"{live_server}{UPLOADS}", headers=admin["headers"]).uploader(
            file_stream=stream, url=f"{live_server}{url}", chunk_size=256 * KIB
        )
        assert uploader.offset == 300 * KIB
        await asyncio.to_thread(uploader.upload)

    assert sha256(staged(env, url).read_bytes()) == sha256(data)


async def test_an_upload_resumes_after_a_restart(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, client_of_app: Any
) -> None:
    data = os.urandom(100 * KIB)
    url = await start(client, admin, len(data))
    assert (await send(client, admin, url, 0, data[: 64 * KIB])).status_code == 204

    restarted = await client_of_app()

    assert await offset_of(restarted, admin, url) == 64 * KIB
    assert (await send(restarted, admin, url, 64 * KIB, data[64 * KIB :])).status_code == 204
    assert sha256(staged(env, url).read_bytes()) == sha256(data)


async def test_bytes_written_but_never_recorded_are_sent_again(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    data = os.urandom(1000)
    url = await start(client, admin, len(data))
    assert (await send(client, admin, url, 0, data[:400])).status_code == 204
    with staged(env, url).open("ab") as file:  # a request died before recording these
        file.write(b"?" * 300)

    assert await offset_of(client, admin, url) == 400
    assert (await send(client, admin, url, 400, data[400:])).status_code == 204
    assert staged(env, url).read_bytes() == data


async def test_recorded_bytes_lost_on_disk_are_sent_again(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    data = os.urandom(1000)
    url = await start(client, admin, len(data))
    assert (await send(client, admin, url, 0, data[:600])).status_code == 204
    os.truncate(staged(env, url), 250)

    assert await offset_of(client, admin, url) == 250
    assert (await send(client, admin, url, 600, data[600:])).status_code == 409
    assert (await send(client, admin, url, 250, data[250:])).status_code == 204
    assert staged(env, url).read_bytes() == data


async def test_one_request_at_a_time_writes_an_upload(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    url = await start(client, admin, 20)
    writing, release = asyncio.Event(), asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        writing.set()  # the body is read only once the upload is locked
        yield b"a" * 10
        await release.wait()
        yield b"b" * 10

    first = asyncio.create_task(send(client, admin, url, 0, slow()))
    await writing.wait()
    second = await send(client, admin, url, 0, b"c" * 10)
    release.set()

    assert second.status_code == 409
    assert second.json()["error"]["code"] == "upload_busy"
    assert (await first).status_code == 204
    assert staged(env, url).read_bytes() == b"a" * 10 + b"b" * 10


async def test_an_upload_can_be_terminated(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    url = await start(client, admin, 100)
    assert (await send(client, admin, url, 0, b"a" * 10)).status_code == 204

    response = await client.delete(url, headers={**admin["headers"], **TUS})

    assert response.status_code == 204
    assert response.headers["tus-resumable"] == "1.0.0"
    assert (await head(client, admin, url)).status_code == 404
    assert not staged(env, url).exists()


async def test_an_expired_upload_is_gone(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    url = await start(client, admin, 100)
    await change_row(env, url, expires_at=utcnow() - timedelta(seconds=1))

    described = await head(client, admin, url)
    appended = await send(client, admin, url, 0, b"a")

    assert described.status_code == appended.status_code == 410
    assert appended.json()["error"]["code"] == "upload_expired"


async def test_activity_pushes_the_expiry_back(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    url = await start(client, admin, 100)
    await change_row(env, url, expires_at=utcnow() + timedelta(minutes=1))

    await send(client, admin, url, 0, b"a")

    body = (await client.get(url, headers=admin["headers"])).json()
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert expires_at > utcnow() + timedelta(hours=env.settings.upload_expiry_hours, minutes=-1)


async def _upload(client: httpx.AsyncClient, admin: dict[str, Any], data: bytes) -> str:
    url = await start(client, admin, len(data))
    assert (await send(client, admin, url, 0, data)).status_code == 204
    return url


async def test_only_a_completed_upload_can_be_taken_and_only_once(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    db: Database = env.app.state.db
    url = await start(client, admin, 20)
    assert (await send(client, admin, url, 0, b"a" * 10)).status_code == 204

    with pytest.raises(uploads.UploadIncomplete):
        async with transaction(db.writer) as session:
            await uploads.take_completed_upload(session, upload_id(url), env.settings)
    assert (await send(client, admin, url, 10, b"b" * 10)).status_code == 204
    async with transaction(db.writer) as session:
        taken = await uploads.take_completed_upload(session, upload_id(url), env.settings)
    with pytest.raises(uploads.UploadAlreadyAttached):
        async with transaction(db.writer) as session:
            await uploads.take_completed_upload(session, upload_id(url), env.settings)

    assert taken.attached_at is not None
    assert (await send(client, admin, url, 20, b"")).status_code == 409


async def test_expire_uploads_clears_stale_rows_and_files(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    db: Database = env.app.state.db
    abandoned, attached, busy, fresh = [await _upload(client, admin, b"x" * 10) for _ in "abcd"]
    async with transaction(db.writer) as session:
        await uploads.take_completed_upload(session, upload_id(attached), env.settings)
    for url in (abandoned, attached, busy):
        await change_row(env, url, expires_at=utcnow() - timedelta(minutes=1))

    with staged(env, busy).open("rb") as file:  # as a PATCH holds it while it streams
        fcntl.flock(file.fileno(), fcntl.LOCK_EX)
        async with transaction(db.writer) as session:
            cleared = await uploads.expire_uploads(session, env.settings, now=utcnow())

    assert cleared == 2
    assert [staged(env, url).exists() for url in (abandoned, attached, busy, fresh)] == [
        False,
        False,
        True,
        True,
    ]
    statuses = [(await head(client, admin, url)).status_code for url in (abandoned, attached)]
    assert statuses == [404, 200]
    async with transaction(db.writer) as session:
        assert await uploads.expire_uploads(session, env.settings, now=utcnow()) == 1
    assert not staged(env, busy).exists()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", {}),
        ("a", {"a": ""}),
        ("a YQ==, b  ,c Yw==", {"a": "a", "b": "", "c": "c"}),
    ],
)
def test_parse_metadata(header: str, expected: dict[str, str]) -> None:
    assert parse_metadata(header) == expected
    assert parse_metadata(encode_metadata(expected)) == expected
