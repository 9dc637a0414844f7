"""The ``kushfilms`` command."""

import asyncio
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
    """Serve the platform over HTTP."""
    settings = load_settings()
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
def seed_demo() -> None:
    """Create a demo admin (if there is no admin) and a demo catalogue (if it is empty)."""
    settings = load_settings()
    outcome = in_transaction(settings, demo.seed)
    if outcome.admin_password:
        typer.secho("Demo administrator created; this password is shown only once:", bold=True)
        typer.echo(f"  email:    {outcome.admin_email}")
        typer.echo(f"  password: {outcome.admin_password}")
    if outcome.movies_created:
        typer.echo(f"Added {outcome.movies_created} demo films.")
    if not outcome.admin_password and not outcome.movies_created:
        typer.echo("Nothing to do: there is an administrator and a catalogue already.")


def main() -> None:
    app()
