import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
from typer.testing import CliRunner

from kushfilms.cli import app
from tests.conftest import (
    PASSWORD,
    POSTGRES_URL,
    create_postgres_database,
    drop_postgres_database,
)

KUSHFILMS = Path(sys.executable).parent / "kushfilms"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The CLI against a fresh embedded install in a temporary directory."""
    for name in list(os.environ):
        if name.startswith("KF_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KF_DATA_DIR", str(tmp_path / "var"))
    return CliRunner()


def test_migrate_is_idempotent(cli: CliRunner, tmp_path: Path) -> None:
    first = cli.invoke(app, ["migrate"])
    second = cli.invoke(app, ["migrate"])

    assert first.exit_code == second.exit_code == 0, first.output
    assert "up to date" in second.output
    assert (tmp_path / "var" / "kushfilms.db").exists()


def test_create_admin_creates_then_promotes(cli: CliRunner) -> None:
    cli.invoke(app, ["migrate"])

    created = cli.invoke(
        app, ["create-admin", "--email", "Boss@Example.com", "--password", PASSWORD]
    )
    again = cli.invoke(app, ["create-admin", "--email", "boss@example.com"])

    assert created.exit_code == 0, created.output
    assert "Created administrator boss@example.com" in created.output
    assert again.exit_code == 0, again.output
    assert "Promoted" in again.output


def test_create_admin_asks_for_a_password_for_a_new_account(cli: CliRunner) -> None:
    cli.invoke(app, ["migrate"])

    result = cli.invoke(
        app, ["create-admin", "--email", "ops@example.com"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )

    assert result.exit_code == 0, result.output
    assert "Created administrator ops@example.com" in result.output


def test_create_admin_refuses_bad_input(cli: CliRunner) -> None:
    cli.invoke(app, ["migrate"])

    weak = cli.invoke(app, ["create-admin", "--email", "ops@example.com", "--password", "password"])
    bad_email = cli.invoke(app, ["create-admin", "--email", "nope", "--password", PASSWORD])

    assert weak.exit_code == 1
    assert "too easy to guess" in weak.output
    assert bad_email.exit_code == 2
    assert "Invalid email" in bad_email.output


def test_demo_seeds_once_and_shows_the_password_once(cli: CliRunner) -> None:
    cli.invoke(app, ["migrate"])

    first = cli.invoke(app, ["demo", "--seconds", "1"])
    second = cli.invoke(app, ["demo", "--seconds", "1"])

    assert first.exit_code == 0, first.output
    assert "admin@kushfilms.example" in first.output
    assert "password:" in first.output
    assert "Added 14 playable demo films" in first.output
    assert second.exit_code == 0
    assert "password:" not in second.output
    assert "Nothing to do" in second.output


def test_invalid_settings_are_reported_plainly(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KF_ENV", "production")

    result = cli.invoke(app, ["migrate"])

    assert result.exit_code == 2
    assert "KF_SECRET_KEY must be set" in result.output


def test_every_command_has_help() -> None:
    for command in ([], ["serve"], ["migrate"], ["create-admin"], ["demo"]):
        result = subprocess.run(
            [KUSHFILMS, *command, "--help"], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr
        assert "Usage" in result.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_worker_refuses_an_unmigrated_database(cli: CliRunner) -> None:
    result = cli.invoke(app, ["worker"])

    assert result.exit_code == 2
    assert "kushfilms migrate" in result.output


def _ready(base: str, server: subprocess.Popen[bytes]) -> httpx.Response:
    deadline = time.monotonic() + 60
    while True:
        try:
            response = httpx.get(f"{base}/health/ready", timeout=5)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        assert server.poll() is None, "serve exited"
        assert time.monotonic() < deadline, "serve did not become ready"
        time.sleep(0.1)


def test_serve_migrates_a_fresh_embedded_install_even_twice_at_once(tmp_path: Path) -> None:
    """No `kushfilms migrate` first: each server brings the schema up to date, taking
    turns, then answers (and its worker runs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KF_")}
    env.update({"KF_DATA_DIR": str(tmp_path), "KF_LOG_LEVEL": "warning"})
    ports = [_free_port(), _free_port()]
    servers = [
        subprocess.Popen(
            [KUSHFILMS, "serve", "--port", str(port)],
            env={**env, "KF_WORKER_IN_SERVE": "true" if port == ports[0] else "false"},
            start_new_session=True,
        )
        for port in ports
    ]
    try:
        readiness = [
            _ready(f"http://127.0.0.1:{port}", server)
            for port, server in zip(ports, servers, strict=True)
        ]
        catalogue = httpx.get(f"http://127.0.0.1:{ports[1]}/api/movies")
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
        for server in servers:
            server.wait(timeout=60)

    assert [r.json()["checks"]["schema"] for r in readiness] == ["ok", "ok"]
    assert readiness[0].json()["checks"]["worker"] == "ok"
    assert catalogue.status_code == 200


@pytest.mark.skipif(not POSTGRES_URL, reason="needs KF_TEST_POSTGRES_URL")
async def test_serve_and_worker_refuse_an_unmigrated_external_database(tmp_path: Path) -> None:
    """Operators migrate PostgreSQL as a step of their deploy: `serve` never does it."""
    name = f"kf_unmigrated_{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KF_")}
    env.update(
        {"KF_DATA_DIR": str(tmp_path), "KF_DATABASE_URL": await create_postgres_database(name)}
    )
    try:
        refusals = [
            await asyncio.to_thread(
                subprocess.run,
                [KUSHFILMS, *command],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            for command in (["serve", "--port", str(_free_port())], ["worker"])
        ]
    finally:
        await drop_postgres_database(name)

    for refusal in refusals:
        assert refusal.returncode == 2, refusal.stderr
        assert "kushfilms migrate" in refusal.stderr
        assert "none (empty database)" in refusal.stderr


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url) as response:
        return json.loads(response.read())


def test_make_run_serves_a_playable_demo(tmp_path: Path) -> None:
    """What `make run` does: migrate, seed the demo, serve; a film then plays."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KF_")}
    env["KF_DATA_DIR"] = str(tmp_path)
    subprocess.run([KUSHFILMS, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([KUSHFILMS, "demo", "--seconds", "1"], env=env, check=True, capture_output=True)
    port = _free_port()
    server = subprocess.Popen(
        [KUSHFILMS, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                movies = _get_json(f"{base}/api/movies?search=bunny")
                break
            except OSError:
                time.sleep(0.1)
        film = movies["items"][0]
        assert film["title"] == "Big Buck Bunny"
        playback = _get_json(f"{base}/api/movies/{film['slug']}/playback")
        with urllib.request.urlopen(base + playback["manifest_url"]) as response:
            assert response.read().startswith(b"#EXTM3U")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


class Serving:
    """`kushfilms serve` as an operator runs it, on a fresh embedded install of its own."""

    def __init__(self, tmp_path: Path, **settings: str) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("KF_")}
        self.env.update({"KF_DATA_DIR": str(tmp_path), "KF_LOG_LEVEL": "warning", **settings})
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        subprocess.run([KUSHFILMS, "migrate"], env=self.env, check=True, capture_output=True)

    def run(self, *command: str) -> None:
        subprocess.run([KUSHFILMS, *command], env=self.env, check=True, capture_output=True)

    def start(self) -> subprocess.Popen[bytes]:
        self.process = subprocess.Popen(
            [KUSHFILMS, "serve", "--port", str(self.port)],
            env=self.env,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{self.base}/health", timeout=1)
                return self.process
            except httpx.TransportError:
                assert self.process.poll() is None, "serve exited"
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def sign_in(self) -> dict[str, str]:
        self.run("create-admin", "--email", "ops@example.com", "--password", PASSWORD)
        login = httpx.post(
            f"{self.base}/api/auth/login",
            json={"email": "ops@example.com", "password": PASSWORD},
        )
        return {"Authorization": f"Bearer {login.json()['access_token']}"}

    def readiness_until(self, status: int) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while True:
            response = httpx.get(f"{self.base}/health/ready", timeout=5)
            if response.status_code == status:
                return dict(response.json())
            assert time.monotonic() < deadline, response.json()
            time.sleep(0.05)


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[Any]:
    made: list[Serving] = []

    def make(**settings: str) -> Serving:
        made.append(Serving(tmp_path, **settings))
        return made[-1]

    yield make
    for server in made:
        server.stop()


def _workers_of(server: subprocess.Popen[bytes]) -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process(server.pid).children()
        if "worker" in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE
    ]


def test_serve_starts_its_worker_again_when_it_is_killed(serving: Any) -> None:
    server = serving()
    process = server.start()
    ready = server.readiness_until(200)
    (first,) = _workers_of(process)

    first.kill()
    meanwhile = server.readiness_until(503)
    back = server.readiness_until(200)
    (second,) = _workers_of(process)
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=60)

    assert ready["checks"]["worker"] == back["checks"]["worker"] == "ok"
    assert meanwhile["checks"]["worker"].startswith("no job worker seen")
    assert second.pid != first.pid
    assert not second.is_running(), "the worker stops with the server"


DRAIN_SECONDS = 6
BODY_TIMEOUT_SECONDS = 2


def test_a_stalled_upload_holds_no_restart_and_resumes_after_it(
    serving: Any, tmp_path: Path
) -> None:
    server = serving(
        KF_WORKER_IN_SERVE="false",
        KF_SHUTDOWN_DRAIN_SECONDS=str(DRAIN_SECONDS),
        KF_BODY_READ_TIMEOUT_SECONDS=str(BODY_TIMEOUT_SECONDS),
    )
    process = server.start()
    signed_in = server.sign_in()
    data = os.urandom(300_000)
    sent = 120_000
    tus = {**signed_in, "Tus-Resumable": "1.0.0"}
    created = httpx.post(
        f"{server.base}/api/admin/uploads", headers={**tus, "Upload-Length": str(len(data))}
    )
    path = urlsplit(created.headers["Location"]).path
    staged = tmp_path / "uploads" / path.rsplit("/", 1)[-1]

    # A client that sends the headers and part of the body, then nothing more.
    with socket.create_connection(("127.0.0.1", server.port), timeout=DRAIN_SECONDS + 30) as sock:
        head = "".join(
            f"{name}: {value}\r\n"
            for name, value in {
                **tus,
                "Host": "kushfilms.test",
                "Content-Type": "application/offset+octet-stream",
                "Content-Length": str(len(data)),
                "Upload-Offset": "0",
            }.items()
        )
        sock.sendall(f"PATCH {path} HTTP/1.1\r\n{head}\r\n".encode() + data[:sent])
        deadline = time.monotonic() + 10
        while not staged.exists():  # the request has reached the upload
            assert time.monotonic() < deadline
            time.sleep(0.01)

        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=DRAIN_SECONDS + 10)  # raises if the stalled upload holds it
        answer = sock.recv(65536)

    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b'"code":"request_timeout"' in answer
    server.start()
    offset = httpx.head(f"{server.base}{path}", headers=tus)
    assert offset.headers["Upload-Offset"] == str(sent)
    rest = httpx.patch(
        f"{server.base}{path}",
        headers={
            **tus,
            "Content-Type": "application/offset+octet-stream",
            "Upload-Offset": str(sent),
        },
        content=data[sent:],
    )
    assert rest.status_code == 204, rest.text
    assert rest.headers["Upload-Offset"] == str(len(data))
    assert staged.read_bytes() == data
