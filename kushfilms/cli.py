"""The ``kushfilms`` command."""

import asyncio
import signal
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
import uvicorn
from alembic import command
from alembic.config import Config
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms import demo
from kushfilms.accounts import service as accounts
from kushfilms.accounts.schemas import normalize_email
from kushfilms.config import Settings
from kushfilms.db import Database, transaction
from kushfilms.errors import KushError
from kushfilms.kit.process import die_with_parent
from kushfilms.logs import configure_logging
from kushfilms.media import gc
from kushfilms.media.storage import open_storage
from kushfilms.media.tasks import transcode
from kushfilms.worker.queue import Jobs
from kushfilms.worker.runner import all_jobs, run_worker

app = typer.Typer(
    help="Kush Films: a self-hostable video streaming platform.",
    no_args_is_help=True,
    add_completion=False,
)
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
T = TypeVar("T")


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
            for e in error.errors()
        )
        typer.secho(f"Invalid settings: {problems}", fg="red", err=True)
        raise typer.Exit(2) from error


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    return config


def migrate_database(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings), "head")


def in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction: all of it is kept, or none."""

    async def run() -> T:
        db = Database(settings)
        try:
            async with transaction(db.writer) as session:
                return await work(session)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except KushError as error:
        typer.secho(error.detail, fg="red", err=True)
        raise typer.Exit(1) from error


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind [KF_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [KF_PORT]")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes [KF_WORKERS]", min=1)
    ] = None,
) -> None:
    """Serve the platform over HTTP (and, unless KF_WORKER_IN_SERVE=false, run a worker)."""
    settings = load_settings()
    worker = start_worker_process() if settings.worker_in_serve else None
    try:
        uvicorn.run(
            "kushfilms.app:create_app",
            factory=True,
            host=host or settings.host,
            port=port or settings.port,
            workers=workers or settings.workers,
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
            log_level=settings.log_level,
            server_header=False,
        )
    finally:
        if worker is not None:
            stop_worker_process(worker)


@app.command("worker")
def run_jobs(
    threads: Annotated[
        int | None, typer.Option(help="Jobs run at once [KF_WORKER_THREADS]", min=1)
    ] = None,
) -> None:
    """Run background jobs (transcoding, deletions, emails, renewals); run as many as you like."""
    settings = load_settings()
    configure_logging(settings.log_level)
    run_worker(settings, threads=threads or settings.worker_threads)


def start_worker_process() -> subprocess.Popen[bytes]:
    """A `kushfilms worker` beside the server, which dies with it."""
    return subprocess.Popen(
        [sys.executable, "-m", "kushfilms", "worker"], preexec_fn=die_with_parent
    )


def stop_worker_process(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGINT)  # huey finishes the running job's step and stops
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (safe to run again)."""
    settings = load_settings()
    migrate_database(settings)
    typer.echo("Database is up to date.")


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="Email of the administrator")],
    password: Annotated[
        str | None,
        typer.Option(help="Password (asked for when creating an account and not given)"),
    ] = None,
    name: Annotated[str, typer.Option(help="Display name for a new account")] = "Administrator",
) -> None:
    """Create an administrator, or promote the existing account with this email."""
    settings = load_settings()
    try:
        email = normalize_email(email)
    except ValueError as error:
        typer.secho(f"Invalid email: {error}", fg="red", err=True)
        raise typer.Exit(2) from error

    async def exists(session: AsyncSession) -> bool:
        return await accounts.find_user_by_email(session, email) is not None

    if password is None and not in_transaction(settings, exists):
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def work(session: AsyncSession) -> bool:
        _, created = await accounts.ensure_admin(session, email=email, password=password, name=name)
        return created

    created = in_transaction(settings, work)
    typer.echo(f"{'Created' if created else 'Promoted'} administrator {email}.")


@app.command("demo")
def seed_demo(
    seconds: Annotated[
        float | None,
        typer.Option(help="Length of every generated clip (default: 5 to 14 s each)", min=0.5),
    ] = None,
) -> None:
    """Create a demo admin (if there is no admin) and a demo catalogue of playable films
    (if the catalogue is empty)."""
    settings = load_settings()
    storage = open_storage(settings)
    jobs = Jobs(settings, all_jobs())
    with tempfile.TemporaryDirectory(prefix="kushfilms-demo-") as clips:

        async def seed(session: AsyncSession) -> demo.DemoOutcome:
            return await demo.seed(
                session,
                settings=settings,
                storage=storage,
                jobs=jobs,
                clips=Path(clips),
                seconds=seconds,
            )

        outcome = in_transaction(settings, seed)
    if outcome.admin_password:
        typer.secho("Demo administrator created; this password is shown only once:", bold=True)
        typer.echo(f"  email:    {outcome.admin_email}")
        typer.echo(f"  password: {outcome.admin_password}")
    if not outcome.movies:
        if not outcome.admin_password:
            typer.echo("Nothing to do: there is an administrator and a catalogue already.")
        return
    for number, video_id in enumerate(outcome.videos, start=1):
        typer.echo(f"Transcoding demo film {number} of {len(outcome.videos)}...")
        transcode(jobs, str(video_id))

    async def publish(session: AsyncSession) -> int:
        return await demo.publish_ready(session, outcome.movies)

    typer.echo(f"Added {in_transaction(settings, publish)} playable demo films.")


media_app = typer.Typer(help="Media housekeeping.", no_args_is_help=True)
app.add_typer(media_app, name="media")


@media_app.command("gc")
def media_gc(
    dry_run: Annotated[bool, typer.Option(help="Only list what would be deleted")] = False,
) -> None:
    """Delete stored objects and staged uploads that nothing refers to (older than 1 h)."""
    settings = load_settings()
    storage = open_storage(settings)

    async def work(session: AsyncSession) -> gc.Garbage:
        return await gc.collect(session, storage, settings, delete=not dry_run)

    found = in_transaction(settings, work)
    verb = "Would delete" if dry_run else "Deleted"
    for prefix in found.prefixes:
        typer.echo(f"{verb} {prefix}")
    for upload_id in found.staged_files:
        typer.echo(f"{verb} staged upload file {upload_id}")
    for video_id in found.work_dirs:
        typer.echo(f"{verb} scratch directory of video {video_id}")
    typer.echo(
        f"{verb} {len(found.prefixes)} object prefixes, {len(found.staged_files)} staged "
        f"files, {len(found.work_dirs)} scratch directories; "
        f"{found.expired_uploads} expired uploads removed."
    )


def main() -> None:
    app()
