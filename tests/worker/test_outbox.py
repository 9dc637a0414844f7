"""The job outbox: a job stands or falls with the transaction that asked for it, and
nothing queued while the queue is down is lost."""

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from kushfilms.accounts import admins
from kushfilms.db import Database, transaction
from kushfilms.kit.clock import utcnow
from kushfilms.media.service import TRANSCODE
from kushfilms.models import OutboxJob
from kushfilms.notify.service import SEND_EMAIL
from kushfilms.worker.outbox import GRACE, OutboxRelay
from kushfilms.worker.queue import Jobs, JobSpec, bind_jobs, enqueue
from tests.conftest import PASSWORD, Backend, app_of, bearer, make_settings
from tests.media.journey import attach, new_movie
from tests.media.samples import sample
from tests.outages import PrivateRedis

LATER = GRACE * 2  # when the sweep takes over what a process did not send itself


async def _note(context: object, value: str) -> None:
    pass


class Boom(Exception):
    pass


@pytest.fixture
async def queue(env: Backend, tmp_path: Path) -> Any:
    """A job queue of the test's own (SQLite, beside the data) and a database bound to it."""
    jobs = Jobs(
        make_settings(tmp_path, database_url=env.settings.database_url, redis_url=""),
        [JobSpec("note", _note)],
    )
    db = Database(jobs.settings)
    relay = bind_jobs(db, jobs)
    yield jobs, db, relay
    await db.dispose()


async def _outbox(db: Database) -> list[OutboxJob]:
    async with db.reader() as session:
        return list((await session.scalars(select(OutboxJob).order_by(OutboxJob.id))).all())


async def test_a_job_is_sent_when_its_transaction_commits_and_its_row_then_goes(
    client: httpx.AsyncClient, queue: Any
) -> None:
    jobs, db, relay = queue
    async with transaction(db.writer) as session:
        enqueue(session, jobs, "note", "hello")
        assert jobs.huey.pending_count() == 0  # not before the commit

    assert [task.args for task in jobs.huey.pending()] == [("hello",)]
    await relay.relay_once()
    assert await _outbox(db) == []


async def test_a_job_of_a_transaction_undone_is_neither_sent_nor_kept(
    client: httpx.AsyncClient, queue: Any
) -> None:
    jobs, db, _ = queue

    async def fail_after_queueing() -> None:
        async with transaction(db.writer) as session:
            enqueue(session, jobs, "note", "never")
            await session.flush()
            raise Boom

    with pytest.raises(Boom):
        await fail_after_queueing()

    assert jobs.huey.pending_count() == 0
    assert await _outbox(db) == []


async def test_an_unknown_job_is_refused_when_asked_for(
    client: httpx.AsyncClient, queue: Any
) -> None:
    jobs, db, _ = queue
    with pytest.raises(ValueError, match="no job is called 'nope'"):
        async with transaction(db.writer) as session:
            enqueue(session, jobs, "nope")
    assert await _outbox(db) == []


async def test_a_job_its_process_did_not_send_is_swept_up_once_after_the_grace(
    client: httpx.AsyncClient, queue: Any
) -> None:
    jobs, db, relay = queue
    async with transaction(db.writer) as session:  # as a process that died after its commit
        session.add(OutboxJob(name="note", args=["left"], created_at=utcnow()))

    assert await relay.relay_once() == 0  # its own process may still send it
    assert await relay.relay_once(now=utcnow() + LATER) == 1
    assert await relay.relay_once(now=utcnow() + 2 * LATER) == 0

    assert [task.args for task in jobs.huey.pending()] == [("left",)]
    assert await _outbox(db) == []


async def test_two_relays_sweeping_at_once_send_each_job_once(
    client: httpx.AsyncClient, env: Backend, queue: Any
) -> None:
    """Each relay claims what it sends; on PostgreSQL they really run side by side."""
    jobs, db, relay = queue
    async with transaction(db.writer) as session:
        for number in range(60):
            session.add(OutboxJob(name="note", args=[str(number)], created_at=utcnow()))
    others = [Database(jobs.settings) for _ in range(3)]
    relays = [relay, *(bind_jobs(other, jobs) for other in others)]
    try:
        later = utcnow() + LATER
        sent = await asyncio.gather(*(each.relay_once(now=later) for each in relays))
    finally:
        for other in others:
            await other.dispose()

    assert sum(sent) == 60
    assert sorted(int(task.args[0]) for task in jobs.huey.pending()) == list(range(60))
    assert await _outbox(db) == []


async def test_a_relay_that_cannot_reach_the_queue_keeps_the_jobs_for_later(
    client: httpx.AsyncClient, env: Backend, tmp_path: Path
) -> None:
    redis = PrivateRedis()  # not started yet: the queue is down
    settings = make_settings(tmp_path, database_url=env.settings.database_url, redis_url=redis.url)
    jobs = Jobs(settings, [JobSpec("note", _note)])
    db = Database(settings)
    relay = bind_jobs(db, jobs)
    try:
        async with transaction(db.writer) as session:
            enqueue(session, jobs, "note", "patient")
        assert await relay.relay_once(now=utcnow() + LATER) == 0
        [kept] = await _outbox(db)
        assert kept.attempts == 1  # claimed, and left for the next try

        with redis:
            # Not before its claim runs out, then once.
            assert await relay.relay_once(now=utcnow() + LATER) == 0
            assert await relay.relay_once(now=utcnow() + 3 * LATER) == 1
            assert [task.args for task in jobs.huey.pending()] == [("patient",)]
        assert await _outbox(db) == []
    finally:
        await db.dispose()
        jobs.close()


async def test_sign_ups_during_a_redis_outage_get_their_welcome_emails_afterwards(
    client: httpx.AsyncClient, client_of_app: Any
) -> None:
    """Redis down: every sign-up succeeds and keeps its welcome email; Redis back: all
    of them are queued, none twice."""
    redis = PrivateRedis()
    site = await client_of_app(redis_url=redis.url)
    app = app_of(site)
    emails = [f"outage-{number}@example.com" for number in range(12)]

    for email in emails:
        response = await site.post(
            "/api/auth/register", json={"email": email, "password": PASSWORD, "name": "Dee"}
        )
        assert response.status_code == 201, response.text

    db: Database = app.state.db
    kept = await _outbox(db)
    assert [row.name for row in kept] == [SEND_EMAIL] * len(emails)

    with redis:
        relay: OutboxRelay = app.state.relay
        assert await relay.relay_once(now=utcnow() + timedelta(minutes=5)) == len(emails)
        pending = app.state.jobs.huey.pending()
        welcomed = [task.args[1] for task in pending if task.name == SEND_EMAIL]
        assert len(welcomed) == len(set(welcomed)) == len(emails)

        async with db.reader() as session:
            assert await session.scalar(select(func.count()).select_from(OutboxJob)) == 0

        # A sign-up now that Redis is back is queued at once, as ever.
        response = await site.post(
            "/api/auth/register",
            json={"email": "after@example.com", "password": PASSWORD, "name": "Al"},
        )
        assert response.status_code == 201
        assert len(app.state.jobs.huey.pending()) == len(emails) + 1


async def test_a_film_attached_during_a_redis_outage_is_transcoded_once_redis_is_back(
    client: httpx.AsyncClient, client_of_app: Any, tmp_path: Path
) -> None:
    """The attach answers as usual and its transcode waits in the outbox, so the film
    is never left 'uploaded' with no job."""
    redis = PrivateRedis()
    site = await client_of_app(redis_url=redis.url)
    app = app_of(site)
    admin = await _admin(app, site)
    movie = await new_movie(site, admin, "Patience")

    response = await attach(site, admin, movie, sample("10"))

    assert response.status_code == 202, response.text
    video_id = response.json()["id"]
    [kept] = await _outbox(app.state.db)
    assert (kept.name, kept.args) == (TRANSCODE, [video_id])
    with redis:
        assert await app.state.relay.relay_once(now=utcnow() + LATER) == 1
        [task] = app.state.jobs.huey.pending()
        assert (task.name, task.args) == (TRANSCODE, (video_id,))


async def _admin(app: Any, site: httpx.AsyncClient) -> dict[str, Any]:
    async with transaction(app.state.db.writer) as session:
        await admins.ensure_admin(
            session,
            email="boss@example.com",
            password=PASSWORD,
            name="Boss",
            hasher=app.state.password_hasher,
        )
    response = await site.post(
        "/api/auth/login", json={"email": "boss@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"headers": bearer(response.json()["access_token"])}
