"""A real HTTP server, so that real clients (tuspy, raw sockets) can talk to the app."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import boto3
import pytest
import uvicorn
from moto.server import ThreadedMotoServer

from kushfilms.app import create_app
from kushfilms.worker.queue import Jobs
from kushfilms.worker.runner import all_jobs
from tests.conftest import Backend, settings_environment

S3_BUCKET = "kushfilms-test"
_START_SECONDS = 10.0
_STOP_SECONDS = 5.0


@pytest.fixture(scope="session")
def live_server(env: Backend) -> Iterator[str]:
    """The backend's app served by uvicorn on a free loopback port; yields its base URL.

    The server runs its own event loop in a background thread, so it serves an
    app of its own made from the backend's settings (same database, same upload
    directory): database connections belong to the loop that opened them.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        create_app(env.settings),
        lifespan="on",
        log_level="warning",
        ws="none",
        timeout_graceful_shutdown=_STOP_SECONDS,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="live-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + _START_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=2 * _STOP_SECONDS)
    listener.close()


@pytest.fixture(scope="session")
def job_worker(env: Backend) -> Iterator[subprocess.Popen[bytes]]:
    """A real `kushfilms worker` consuming the backend's job queue."""
    Jobs(env.settings, all_jobs()).huey.flush()  # nothing left over from earlier runs
    process = subprocess.Popen(
        [sys.executable, "-m", "kushfilms", "worker"],
        env=settings_environment(env.settings),
        start_new_session=True,
    )
    yield process
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on loopback (a real S3 API over HTTP), with a bucket made."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(Bucket=S3_BUCKET)
    yield endpoint
    server.stop()
