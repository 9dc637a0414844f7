"""Typed dependencies shared by the API routes and the pages: the settings and the
collaborators that ``create_app`` sets up once on ``app.state``.

A domain with dependencies of its own keeps them in its ``deps.py``; pages take
theirs from here or from there, never from an API route module.
"""

from typing import Annotated

from fastapi import Depends, Request

from kushfilms.config import Settings
from kushfilms.media.storage import Storage
from kushfilms.worker.queue import Jobs


def settings_of(request: Request) -> Settings:
    """The application's settings, for code that holds the request."""
    settings: Settings = request.app.state.settings
    return settings


# Dependencies are coroutines: FastAPI runs plain functions in a thread pool.
async def _settings(request: Request) -> Settings:
    return settings_of(request)


async def _storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


async def _jobs(request: Request) -> Jobs:
    jobs: Jobs = request.app.state.jobs
    return jobs


AppSettings = Annotated[Settings, Depends(_settings)]
MediaStorage = Annotated[Storage, Depends(_storage)]
JobQueue = Annotated[Jobs, Depends(_jobs)]
