"""The ``kushfilms`` command."""

import asyncio
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import FrameType
from typing import Annotated, TypeVar

import typer
import uvicorn
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms import demo
from kushfilms.accounts import admins
from kushfilms.accounts import service as accounts
from kushfilms.accounts.passwords import PasswordHasher
from kushfilms.accounts.schemas import normalize_email
from kushfilms.config import Settings
from kushfilms.db import Database, transaction
from kushfilms.errors import KushError
from kushfilms.jobs import job_context, job_queue, work
from kushfilms.kit.process import die_with_parent
from kushfilms.logs import configure_logging
from kushfilms.media import gc
from kushfilms.media.storage import open_storage
from kushfilms.migrations_state import alembic_config, migrate_database, schema_state_of
from kushfilms.worker.queue import bind_jobs
from kushfilms.worker.supervisor import Supervisor

app = typer.Typer(
    help="Kush Films: a self-hostable video streaming platform.",
    no_args_is_help=True,
    add_completion=False,
)
log = logging.getLogger(__name__)
T = TypeVar("T")
__all__ = ["alembic_config", "app", "main", "migrate_database", "worker_command"]


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


def refuse_unless_migrated(settings: Settings) -> None:
    """Exit (status 2) naming `kushfilms migrate` when the schema is not at head: every
    request or job would fail on it. A database out of reach is left to the readiness
    probe and the retries, as it may come back."""
    try:
        state = schema_state_of(settings)
    except (OSError, SQLAlchemyError) as error:
        log.warning("could not read the schema's revision: %s", error)
        return
    if not state.at_head:
        typer.secho(f"The database schema is out of date: {state.describe()}.", fg="red", err=True)
        raise typer.Exit(2)


def in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction: all of it is kept, or none."""

    async def run() -> T:
        db = Database(settings)
        bind_jobs(db, job_queue(settings))  # jobs it queues are sent after commit
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
    """Serve the platform over HTTP (and, unless KF_WORKER_IN_SERVE=false, run a worker,
    started again whenever it dies).

    On the embedded database (SQLite) it first brings the schema up to date; on an
    external one it refuses to start until `kushfilms migrate` has run.

    On SIGTERM or Ctrl-C the server stops taking connections, gives the requests
    under way up to KF_SHUTDOWN_DRAIN_SECONDS to finish, then stops the worker.
    """
    settings = load_settings()
    configure_logging(settings.log_level)
    if settings.is_sqlite:
        migrate_database(settings)  # the embedded install keeps itself up to date
    else:
        refuse_unless_migrated(settings)  # operators migrate as a step of their deploy
    supervisor = Supervisor(worker_command()) if settings.worker_in_serve else None
    if supervisor is not None:
        supervisor.start()
    # uvicorn raises SIGTERM again once it has drained; as an exception here it
    # lets the worker be stopped before the process ends.
    signal.signal(signal.SIGTERM, _exit_on_signal)
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
            timeout_graceful_shutdown=settings.shutdown_drain_seconds,
        )
    finally:
        if supervisor is not None:
            supervisor.stop()


def worker_command() -> list[str]:
    """The `kushfilms worker` that `serve` runs beside itself, dying with it."""
    return [sys.executable, "-m", "kushfilms", "worker", "--supervised-by", str(os.getpid())]


def _exit_on_signal(number: int, _: FrameType | None) -> None:
    raise SystemExit(128 + number)


@app.command("worker")
def run_jobs(
    threads: Annotated[
        int | None, typer.Option(help="Jobs run at once [KF_WORKER_THREADS]", min=1)
    ] = None,
    supervised_by: Annotated[
        int | None, typer.Option(hidden=True, help="Die with this process (serve's worker)")
    ] = None,
) -> None:
    """Run background jobs (transcoding, deletions, emails, renewals); run as many as you like."""
    if supervised_by is not None:
        die_with_parent()
        if os.getppid() != supervised_by:  # it died before this process could ask
            raise typer.Exit(1)
    settings = load_settings()
    configure_logging(settings.log_level)
    refuse_unless_migrated(settings)
    work(settings, threads=threads or settings.worker_threads)


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
        _, created = await admins.ensure_admin(
            session,
            email=email,
            password=password,
            name=name,
            hasher=PasswordHasher.from_settings(settings),
        )
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
    (if the catalogue is empty); safe beside a running server."""
    settings = load_settings()

    async def claim(session: AsyncSession) -> demo.Claimed:
        return await demo.claim(session, settings=settings)

    claimed = in_transaction(settings, claim)
    if claimed.admin_password:
        typer.secho("Demo administrator created; this password is shown only once:", bold=True)
        typer.echo(f"  email:    {claimed.admin_email}")
        typer.echo(f"  password: {claimed.admin_password}")
    if not claimed.movies:
        if not claimed.admin_password:
            typer.echo("Nothing to do: there is an administrator and a catalogue already.")
        return
    with tempfile.TemporaryDirectory(prefix="kushfilms-demo-") as clips:

        async def making() -> demo.Made:
            async with job_context(settings) as context:  # it transcodes what no worker took
                return await demo.make_films(
                    claimed, context=context, clips=Path(clips), seconds=seconds, report=typer.echo
                )

        try:
            made = asyncio.run(making())
        except KushError as error:
            typer.secho(error.detail, fg="red", err=True)
            raise typer.Exit(1) from error
    if made.failed:
        typer.secho(f"Not published (see above): {', '.join(made.failed)}", fg="red", err=True)
    if made.unfinished:
        typer.secho(
            f"Still transcoding, publish them from the admin pages once ready: "
            f"{', '.join(made.unfinished)}",
            fg="yellow",
            err=True,
        )
    typer.echo(f"Added {len(made.published)} playable demo films.")
    if not made.published:
        raise typer.Exit(1)


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
    for video_id in found.held_sources:
        typer.echo(f"{verb} held source of deleted video {video_id}")
    for video_id in found.work_dirs:
        typer.echo(f"{verb} scratch directory of video {video_id}")
    typer.echo(
        f"{verb} {len(found.prefixes)} object prefixes, {len(found.staged_files)} staged "
        f"files, {len(found.work_dirs)} scratch directories; "
        f"{found.expired_uploads} expired uploads removed."
    )


def main() -> None:
    app()
