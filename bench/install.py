"""A standalone install in a temp dir, with films, served by `kushfilms serve`: what benches run on.

`demo_install` makes it the platform's own way: `kushfilms migrate`, `kushfilms
create-admin`, then `kushfilms demo --seconds N`, which generates 14 clips
(1280x720 test pictures with a tone), transcodes each into the HLS ladder and
publishes them. `serving` then runs one `kushfilms serve` on a free port.
"""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ADMIN_EMAIL = "bench@example.com"


@dataclass
class Install:
    env: dict[str, str]
    password: str  # the admin's, ADMIN_EMAIL
    media_dir: Path


def demo_install(tmp: Path, *, film_seconds: float, database_url: str = "") -> Install:
    """An install in ``tmp`` with an admin and the demo films, ``film_seconds`` long each."""
    data_dir = tmp / "data"
    env = install_env(data_dir, database_url=database_url)
    password = secrets.token_urlsafe(18)
    started = time.monotonic()
    print(f"Preparing films: kushfilms demo --seconds {film_seconds:g} ...", flush=True)
    kushfilms(env, "migrate")
    kushfilms(env, "create-admin", "--email", ADMIN_EMAIL, "--password", password)
    kushfilms(env, "demo", "--seconds", str(film_seconds))
    print(f"... ready in {time.monotonic() - started:.0f} s", flush=True)
    return Install(env=env, password=password, media_dir=data_dir / "media")


def install_env(data_dir: Path, *, database_url: str = "") -> dict[str, str]:
    """The environment of an install keeping everything in ``data_dir`` (SQLite unless
    ``database_url``), without the KF_ variables of whoever runs the bench."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("KF_")}
    env |= {
        "KF_DATA_DIR": str(data_dir),
        "KF_STORAGE_URL": (data_dir / "media").as_uri(),
        "KF_LOG_LEVEL": "warning",
        # The general limit stays on (its cost is part of every request) but
        # high enough that one load generator is never refused.
        "KF_RATE_LIMIT_API": "100000000/minute",
    }
    if database_url:
        env["KF_DATABASE_URL"] = database_url
    return env


def kushfilms(env: dict[str, str], *arguments: str) -> None:
    done = subprocess.run(
        [str(BIN / "kushfilms"), *arguments], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"kushfilms {arguments[0]} failed:\n{done.stdout}{done.stderr}")


@contextmanager
def serving(env: dict[str, str], delivery: str) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """One `kushfilms serve` without its worker, on a free port; media sent by ``delivery``."""
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "kushfilms"), "serve", "--port", str(port)],
        env={**env, "KF_MEDIA_DELIVERY": delivery, "KF_WORKER_IN_SERVE": "false"},
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        wait_for_port(port, process)
        yield port, process
    finally:
        stop(process)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], log: Callable[[], str] = str
) -> None:
    """Wait until ``process`` listens on ``port``; ``log`` tells why it did not."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}:\n{log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listened on port {port} within 30 s:\n{log()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def fetch(port: int, path: str, *, token: str = "", body: Any = None) -> bytes:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback http
        return bytes(response.read())
