import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kushfilms.cli import app
from tests.conftest import PASSWORD

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
