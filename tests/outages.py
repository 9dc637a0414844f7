"""Servers of a test's own, to stop and start again: a PostgreSQL cluster and a Redis.

Outage tests must never stop the shared servers (others' tests use them), so
each starts its own, on a free loopback port, in a temporary directory:

    with PrivatePostgres() as postgres:   # postgres.url: a database "kf"
        postgres.stop()                            # an outage
        postgres.start()                           # the same data, the same port

    with PrivateRedis() as redis:                 # redis.url: redis://127.0.0.1:N/0
        redis.stop(); redis.start(); redis.restart()

PostgreSQL runs as the ``postgres`` user (it refuses to run as root), in a
directory of its own under the system's temporary directory, with trust
authentication on the loopback only. Redis keeps nothing on disk, so a
restart starts empty, as a Redis that lost its memory does.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

from tests.conftest import create_postgres_database, drop_postgres_database

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
_START_SECONDS = 30.0
_STOP_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _as_postgres(*command: str | Path) -> list[str]:
    if os.geteuid() != 0:
        return [str(part) for part in command]
    return ["runuser", "-u", "postgres", "--", *(str(part) for part in command)]


class PrivatePostgres:
    """A PostgreSQL cluster of one test's own, with a database ``kf``."""

    def __init__(self, *, database: str = "kf") -> None:
        if not (POSTGRES_BIN / "initdb").exists():
            pytest.skip(f"PostgreSQL server binaries are not in {POSTGRES_BIN}")
        # Not under pytest's tmp_path: the postgres user cannot enter root's 0700 directories.
        self.root = Path(tempfile.mkdtemp(prefix="kf-postgres-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.database = database
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def __enter__(self) -> Self:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            POSTGRES_BIN / "initdb",
            "--pgdata", self.data,
            "--username", "postgres",
            "--auth", "trust",
            "--encoding", "UTF8",
            "--no-sync",
        )  # fmt: skip
        try:
            self.start()
            self._run(
                POSTGRES_BIN / "createdb",
                "--host", "127.0.0.1", "--port", str(self.port), "--username", "postgres",
                self.database,
            )  # fmt: skip
        except BaseException:
            self.stop()
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def start(self) -> None:
        """Start the server and wait until it takes connections."""
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c fsync=off "
            f"-c unix_socket_directories={self.root} -c max_connections=100"
        )
        self._run(
            POSTGRES_BIN / "pg_ctl",
            "--pgdata", self.data,
            "--log", self.root / "server.log",
            "--options", options,
            "--wait",
            f"--timeout={int(_START_SECONDS)}",
            "start",
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the server at once (fast mode: sessions are ended); no-op if stopped."""
        if not (self.data / "postmaster.pid").exists():
            return
        self._run(
            POSTGRES_BIN / "pg_ctl",
            "--pgdata", self.data,
            "--mode", "fast",
            "--wait",
            f"--timeout={int(_STOP_SECONDS)}",
            "stop",
        )  # fmt: skip

    def restart(self) -> None:
        self.stop()
        self.start()

    def _run(self, *command: str | Path) -> None:
        done = subprocess.run(
            _as_postgres(*command),
            capture_output=True,
            text=True,
            check=False,
            timeout=_START_SECONDS + 30,
        )
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{' '.join(map(str, command))} failed: {done.stderr or done.stdout}\n{tail}"
            )


class PrivateRedis:
    """A redis-server of one test's own, on a free port, keeping nothing on disk."""

    def __init__(self) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            pytest.skip("redis-server is not installed")
        self.executable = executable
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the server and wait until it takes connections; no-op if running."""
        if self.running:
            return
        self.process = subprocess.Popen(
            [
                self.executable,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + _START_SECONDS
        while not _listening(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the server (its data is gone); no-op if stopped."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@asynccontextmanager
async def database_of_its_own(backend: str, directory: Path) -> AsyncIterator[str]:
    """A database that no other test (nor their workers) uses, on the backend's
    kind of server: a file in ``directory``, or a new database on the shared PostgreSQL
    (made here, dropped after). Yields its URL."""
    if backend != "postgres":
        yield f"sqlite+aiosqlite:///{directory / 'own.db'}"
        return
    name = f"kf_own_{uuid.uuid4().hex[:12]}"
    url = await create_postgres_database(name)
    try:
        yield url
    finally:
        await drop_postgres_database(name)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    with PrivatePostgres() as postgres:
        yield postgres


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    with PrivateRedis() as redis:
        yield redis
