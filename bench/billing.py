"""Billing: Stripe webhook events applied per second, and the entitlement check inside playback.

Makes an embedded install in a temp dir (SQLite, `kushfilms migrate`) with
KF_STRIPE_WEBHOOK_SECRET set and KF_STRIPE_SECRET_KEY empty, so the webhook
handler fetches the subscription an event names from the built-in local
provider (kushfilms/billing/local.py), which reads it from the database where
Stripe's would ask Stripe's API over the network. In this process it seeds
--viewers viewers who each subscribed through the local checkout's own path
(customer, checkout, the test card that pays; Basic and Premium in turn), four
Free viewers, and six published films (two per access level) with a ready
video. Then it starts one `kushfilms serve` (KF_WORKER_IN_SERVE=false: no
worker competes) and the bare FastAPI app of bench/bare_app.py on the same
uvicorn settings, and drives them in turn with an asyncio httpx client from
this process, each load --seconds after a second of warm-up:

- webhooks, 1 and --connections at once: distinct events, each with an id of
  its own and signed as Stripe signs them: renewals paid (`invoice.paid`, a new
  invoice each), `customer.subscription.updated`, `invoice.payment_failed`,
  `charge.refunded`, types we do not act on, and redeliveries of events already
  answered (see MIX). Events answered and applied per second, and latency.
  Baseline: the same stream posted to a bare endpoint that only verifies the
  signature (`stripe.Webhook.construct_event`).
- the entitlement check, 1 and --playback-connections at once: four signed-in
  viewers of each plan start the films their plan opens (`GET
  /api/movies/{slug}/playback` with an `X-Device-Id`, over as many devices as
  the plan allows, so stream sessions are opened and reused). The check's
  duration is read from the answer's Server-Timing header (`entitlement;dur=`).
  Baseline: the bare app's /timed, whose Server-Timing times an awaited no-op
  (one turn of the event loop) the same way.

    python bench/billing.py [--viewers 500] [--seconds 5] [--connections 16]
                            [--playback-connections 4] [--json PATH]
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import httpx
import stripe
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bench.bare_app import WEBHOOK_SECRET
from bench.install import (
    BIN,
    ROOT,
    fetch,
    free_port,
    install_env,
    kushfilms,
    serving,
    stop,
    wait_for_port,
)
from bench.playback import percentile
from kushfilms.accounts.passwords import PasswordHasher
from kushfilms.billing import service as billing
from kushfilms.billing.local import PAYS, LocalProvider
from kushfilms.billing.plans import LEVEL_RANK, RANK, plans_from
from kushfilms.catalog import service as catalog
from kushfilms.config import Settings
from kushfilms.db import Database, transaction
from kushfilms.jobs import all_jobs
from kushfilms.media import layout
from kushfilms.media.playlists import Rendition, master_playlist
from kushfilms.media.storage import open_storage
from kushfilms.models import AccessLevel, LocalPaymentObject, Plan, User, Video, VideoStatus
from kushfilms.worker.queue import Jobs

WEBHOOK_TARGET = 300.0  # events applied per second, one process
ENTITLEMENT_TARGET_MS = 2.0  # p95 of the check inside a playback request
WARM_UP_SECONDS = 1.0
CHECKOUTS_PER_TRANSACTION = 50
SIGNED_IN_PER_PLAN = 4
SITE = "http://127.0.0.1"
WEBHOOK = "/api/webhooks/stripe"
BARE_WEBHOOK = "/webhook"
BARE = "bare FastAPI"  # bench/bare_app.py
# What Stripe sends a subscription business, by share of the events.
MIX = {
    "invoice.paid": 30,  # a renewal paid: a new invoice, a payment, a receipt email
    "customer.subscription.updated": 25,
    "invoice.payment_failed": 10,  # a renewal declined: a failed payment, an email
    "charge.refunded": 5,
    "unhandled": 15,  # types we acknowledge and leave: customer.updated, ...
    "redelivery": 15,  # an event already answered, sent again
}
UNHANDLED = ("customer.updated", "payment_intent.succeeded", "invoice.finalized")
LADDER = (
    (640, 360, 800_000),
    (854, 480, 1_400_000),
    (1280, 720, 2_800_000),
    (1920, 1080, 5_000_000),
)


# -- the install ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscriber:
    email: str
    plan: Plan
    customer: str
    price_id: str
    price_cents: int
    subscription: dict[str, Any]  # the local provider's record, in Stripe's shape
    charge: str  # of the checkout's invoice


@dataclass(frozen=True)
class Film:
    slug: str
    level: AccessLevel


@dataclass(frozen=True)
class Seeded:
    subscribers: list[Subscriber]
    free_emails: list[str]
    films: list[Film]
    seconds: float


def settings_of(env: dict[str, str]) -> Settings:
    """The settings the server reads from ``env``, for seeding its database from here."""
    return Settings(
        data_dir=Path(env["KF_DATA_DIR"]),
        storage_url=env["KF_STORAGE_URL"],
        database_url="",
        redis_url="",
        stripe_secret_key="",
        stripe_webhook_secret=env["KF_STRIPE_WEBHOOK_SECRET"],
        stripe_price_basic="",
        stripe_price_premium="",
    )


async def seed(settings: Settings, *, viewers: int, free_viewers: int, password: str) -> Seeded:
    """Viewers who subscribed through the local checkout, Free viewers, and films."""
    started = time.monotonic()
    jobs = Jobs(settings, all_jobs())  # the emails the checkouts send are queued, as they are
    db = jobs.database()
    try:
        # One hash for all: argon2 is slow.
        password_hash = await PasswordHasher.from_settings(settings).hash(password)
        users = [
            User(
                email=f"viewer-{n:04d}@bench.example",
                name=f"Viewer {n}",
                password_hash=password_hash,
            )
            for n in range(viewers + free_viewers)
        ]
        async with transaction(db.writer) as session:
            session.add_all(users)
        for batch in range(0, viewers, CHECKOUTS_PER_TRANSACTION):
            async with transaction(db.writer) as session:
                for n in range(batch, min(viewers, batch + CHECKOUTS_PER_TRANSACTION)):
                    await subscribe(session, settings, users[n], (Plan.BASIC, Plan.PREMIUM)[n % 2])
        subscribers = await subscribers_of(
            db, settings, {str(user.id): user.email for user in users}
        )
        films = await add_films(db, settings)
    finally:
        await db.dispose()
    return Seeded(
        subscribers=subscribers,
        free_emails=[user.email for user in users[viewers:]],
        films=films,
        seconds=time.monotonic() - started,
    )


async def subscribe(session: AsyncSession, settings: Settings, user: User, plan: Plan) -> None:
    """The local checkout's own path: a customer, a checkout, the test card that pays."""
    provider = LocalProvider(session, settings)
    url = await billing.start_checkout(
        session, provider, settings, user=user, plan=plan, base_url=SITE
    )
    await provider.complete_checkout(url.rsplit("/", 1)[1], card_number=PAYS)


async def subscribers_of(
    db: Database, settings: Settings, emails: dict[str, str]
) -> list[Subscriber]:
    plans = plans_from(settings)
    async with db.reader() as session:
        records = (await session.scalars(select(LocalPaymentObject))).all()
    charges = {
        record.data["subscription"]: record.data["charge"]
        for record in records
        if record.kind == "invoice"
    }
    subscribers = []
    for record in records:
        if record.kind != "subscription":
            continue
        data = record.data
        price_id = data["items"]["data"][0]["price"]["id"]
        offer = plans.by_price(price_id)
        assert offer is not None
        subscribers.append(
            Subscriber(
                email=emails[data["metadata"]["user_id"]],
                plan=offer.plan,
                customer=data["customer"],
                price_id=price_id,
                price_cents=offer.price_cents,
                subscription=data,
                charge=charges[data["id"]],
            )
        )
    return sorted(subscribers, key=lambda subscriber: subscriber.email)


async def add_films(db: Database, settings: Settings) -> list[Film]:
    """Two published films per access level, each with a ready video as the worker leaves it."""
    storage = open_storage(settings)
    renditions = [
        Rendition(
            name=f"{height}p",
            width=width,
            height=height,
            bandwidth=rate,
            average_bandwidth=rate * 9 // 10,
            codecs="avc1.64001f,mp4a.40.2",
            frame_rate=25.0,
        )
        for width, height, rate in LADDER
    ]
    films = []
    async with transaction(db.writer) as session:
        for level in AccessLevel:
            for number in (1, 2):
                movie = await catalog.create_movie(
                    session,
                    {
                        "title": f"{level.title()} film {number}",
                        "access_level": level,
                        "duration": 5400,
                    },
                )
                await catalog.set_published(session, movie.id, True)
                video = Video(
                    movie_id=movie.id,
                    status=VideoStatus.READY,
                    source_key=layout.source_key(uuid.uuid4()),
                    source_filename="film.mp4",
                    renditions=[rendition.to_dict() for rendition in renditions],
                )
                session.add(video)
                await session.flush()
                await storage.put_bytes(
                    layout.master_key(video.id),
                    master_playlist(renditions).encode(),
                    content_type="application/vnd.apple.mpegurl",
                )
                films.append(Film(movie.slug, level))
    return films


@contextmanager
def serving_bare(env: dict[str, str]) -> Iterator[int]:
    """bench/bare_app.py on uvicorn, with the settings `kushfilms serve` gives it."""
    port = free_port()
    process = subprocess.Popen(
        [
            str(BIN / "uvicorn"),
            "bench.bare_app:app",
            *("--port", str(port), "--log-level", "warning", "--no-server-header"),
        ],
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        wait_for_port(port, process)
        yield port
    finally:
        stop(process)


# -- load ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    kind: str  # what is sent: an event type, a plan
    method: str
    path: str
    headers: dict[str, str]
    content: bytes | None = None


class Source(Protocol):
    def next_call(self) -> Call: ...

    def answered(self, call: Call, status: int) -> None: ...


@dataclass(frozen=True)
class Sample:
    kind: str
    ms: float
    status: int
    server_timing: str
    body: bytes


async def load(
    port: int, source: Source, *, seconds: float, connections: int
) -> tuple[list[Sample], float]:
    """``connections`` clients, each sending its next call when the last is answered."""
    samples: list[Sample] = []
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30
    ) as client:

        async def client_loop(deadline: float) -> list[Sample]:
            done = []
            while time.perf_counter() < deadline:
                call = source.next_call()
                began = time.perf_counter()
                try:
                    response = await client.request(
                        call.method, call.path, headers=call.headers, content=call.content
                    )
                except httpx.HTTPError:  # a timeout, say: an error, and the run goes on
                    done.append(Sample(call.kind, (time.perf_counter() - began) * 1000, 0, "", b""))
                    continue
                took = (time.perf_counter() - began) * 1000
                source.answered(call, response.status_code)
                timing = response.headers.get("server-timing", "")
                done.append(Sample(call.kind, took, response.status_code, timing, response.content))
            return done

        for duration, kept in ((WARM_UP_SECONDS, False), (seconds, True)):
            started = time.perf_counter()
            runs = await asyncio.gather(
                *(client_loop(started + duration) for _ in range(connections))
            )
            elapsed = time.perf_counter() - started
            if kept:
                samples = [sample for run in runs for sample in run]
    return samples, elapsed


def sign(payload: bytes, secret: str) -> str:
    """The Stripe-Signature header as Stripe makes it: an HMAC-SHA256 of "<t>.<payload>",
    keyed with the whole whsec_ secret, hex, under scheme v1."""
    moment = int(time.time())
    digest = hmac.new(secret.encode(), f"{moment}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={moment},v1={digest}"


class Events:
    """A stream of distinct, signed Stripe events about the seeded subscribers."""

    def __init__(self, subscribers: list[Subscriber], *, path: str, seed: int) -> None:
        self.subscribers = subscribers
        self.path = path
        self.rng = random.Random(seed)
        self.tag = uuid.uuid4().hex[:8]  # ids never met before, whatever the seed
        self.count = 0
        self.refundable = [(subscriber, subscriber.charge) for subscriber in subscribers]
        self.rng.shuffle(self.refundable)
        self.answered_payloads: list[bytes] = []

    def next_call(self) -> Call:
        [kind] = self.rng.choices(list(MIX), weights=list(MIX.values()))
        if kind == "redelivery":
            if self.answered_payloads:  # signed anew, as Stripe does for each attempt
                return self._post("redelivery", self.rng.choice(self.answered_payloads))
            kind = "invoice.paid"
        if kind == "unhandled":
            kind = self.rng.choice(UNHANDLED)
        if kind == "charge.refunded" and not self.refundable:
            kind = "invoice.paid"
        self.count += 1
        event = {
            "id": self._id("evt"),
            "object": "event",
            "api_version": stripe.api_version,
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "type": kind,
            "data": {"object": self._object(kind)},
        }
        return self._post(kind, json.dumps(event).encode())

    def _id(self, prefix: str) -> str:
        return f"{prefix}_bench_{self.tag}{self.count:07d}"

    def _post(self, kind: str, payload: bytes) -> Call:
        headers = {
            "Content-Type": "application/json",
            "Stripe-Signature": sign(payload, WEBHOOK_SECRET),
        }
        return Call(kind, "POST", self.path, headers, payload)

    def answered(self, call: Call, status: int) -> None:
        if call.kind != "redelivery" and 200 <= status < 300 and call.content:
            self.answered_payloads.append(call.content)

    def _object(self, kind: str) -> dict[str, Any]:
        if kind == "charge.refunded":
            subscriber, charge = self.refundable.pop()
            return {
                "id": charge,
                "object": "charge",
                "amount": subscriber.price_cents,
                "amount_refunded": subscriber.price_cents,
                "currency": "usd",
                "customer": subscriber.customer,
                "paid": True,
                "refunded": True,
            }
        subscriber = self.rng.choice(self.subscribers)
        if kind == "customer.subscription.updated":
            return subscriber.subscription
        if kind == "customer.updated":
            return {"id": subscriber.customer, "object": "customer", "email": subscriber.email}
        if kind == "payment_intent.succeeded":
            return {
                "id": self._id("pi"),
                "object": "payment_intent",
                "amount": subscriber.price_cents,
                "currency": "usd",
                "customer": subscriber.customer,
                "status": "succeeded",
            }
        return self._invoice(subscriber, paid=kind != "invoice.payment_failed")

    def _invoice(self, subscriber: Subscriber, *, paid: bool) -> dict[str, Any]:
        """A renewal's invoice, as the local provider (and Stripe before 2025) shapes it."""
        now = int(time.time())
        item = subscriber.subscription["items"]["data"][0]
        charge = self._id("ch") if paid else None
        if charge:
            self.refundable.insert(0, (subscriber, charge))  # refunded last, if at all
        return {
            "id": self._id("in"),
            "object": "invoice",
            "customer": subscriber.customer,
            "subscription": subscriber.subscription["id"],
            "currency": "usd",
            "amount_due": subscriber.price_cents,
            "amount_paid": subscriber.price_cents if paid else 0,
            "status": "paid" if paid else "open",
            "charge": charge,
            "created": now,
            "status_transitions": {"paid_at": now if paid else None},
            "next_payment_attempt": None if paid else now + 3 * 86400,
            "lines": {
                "object": "list",
                "data": [
                    {
                        "description": f"Kush Films {subscriber.plan.title()}, monthly",
                        "price": {"id": subscriber.price_id},
                        "period": {
                            "start": item["current_period_end"],
                            "end": item["current_period_end"] + 30 * 86400,
                        },
                    }
                ],
            },
        }


@dataclass(frozen=True)
class Watcher:
    plan: Plan
    token: str
    devices: list[str]


class Plays:
    """Signed-in viewers starting the films their plan opens, on each of their devices."""

    def __init__(self, watchers: list[Watcher], films: list[Film], seed: int) -> None:
        self.calls = [
            Call(
                watcher.plan.value,
                "GET",
                f"/api/movies/{film.slug}/playback",
                {"Authorization": f"Bearer {watcher.token}", "X-Device-Id": device},
            )
            for watcher in watchers
            for device in watcher.devices
            for film in films
            if RANK[watcher.plan] >= LEVEL_RANK[film.level]
        ]
        random.Random(seed).shuffle(self.calls)
        self.count = 0

    def next_call(self) -> Call:
        self.count += 1
        return self.calls[self.count % len(self.calls)]

    def answered(self, call: Call, status: int) -> None:
        pass


class Noops:
    """The bare app's timed no-op, asked the same way."""

    def next_call(self) -> Call:
        return Call("noop", "GET", "/timed", {})

    def answered(self, call: Call, status: int) -> None:
        pass


def sign_in(port: int, seeded: Seeded, settings: Settings, password: str) -> list[Watcher]:
    """SIGNED_IN_PER_PLAN viewers of each plan, with one device per stream the plan allows."""
    emails = {
        Plan.FREE: seeded.free_emails,
        **{
            plan: [s.email for s in seeded.subscribers if s.plan == plan]
            for plan in (Plan.BASIC, Plan.PREMIUM)
        },
    }
    plans = plans_from(settings)
    watchers = []
    for plan, addresses in emails.items():
        for email in addresses[:SIGNED_IN_PER_PLAN]:
            login = json.loads(
                fetch(port, "/api/auth/login", body={"email": email, "password": password})
            )
            name = email.split("@")[0]
            devices = [f"bench-{name}-{n}" for n in range(plans[plan].streams)]
            watchers.append(Watcher(plan, login["access_token"], devices))
    return watchers


# -- figures -------------------------------------------------------------------------------


@dataclass
class Latency:
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @classmethod
    def of(cls, values: list[float]) -> "Latency":
        ordered = sorted(values)
        return cls(percentile(ordered, 50), percentile(ordered, 95), percentile(ordered, 99))


@dataclass
class WebhookRun:
    where: str
    connections: int
    answered: int
    applied: int  # answered 2xx and not a duplicate
    errors: int  # not 2xx
    per_second: float
    applied_per_second: float
    latency: Latency
    sent: dict[str, int]


@dataclass
class PlaybackRun:
    where: str
    connections: int
    requests: int
    per_second: float
    errors: int
    request: Latency  # as the client saw the whole request
    steps: dict[str, Latency] = field(default_factory=dict)  # from Server-Timing


def webhook_run(where: str, connections: int, samples: list[Sample], elapsed: float) -> WebhookRun:
    good = [sample for sample in samples if 200 <= sample.status < 300]
    applied = sum(1 for sample in good if not json.loads(sample.body).get("duplicate", False))
    return WebhookRun(
        where=where,
        connections=connections,
        answered=len(samples),
        applied=applied,
        errors=len(samples) - len(good),
        per_second=len(samples) / elapsed,
        applied_per_second=applied / elapsed,
        latency=Latency.of([sample.ms for sample in samples]),
        sent=dict(Counter(sample.kind for sample in samples).most_common()),
    )


def timings(header: str) -> dict[str, float]:
    """A Server-Timing header's durations by metric name."""
    found = {}
    for metric in filter(None, header.split(",")):
        name, *params = (part.strip() for part in metric.split(";"))
        for param in params:
            if param.startswith("dur="):
                found[name] = float(param.removeprefix("dur="))
    return found


def playback_run(
    where: str, connections: int, samples: list[Sample], elapsed: float
) -> PlaybackRun:
    good = [sample for sample in samples if sample.status == 200]
    steps: dict[str, list[float]] = {}
    for sample in good:
        for name, ms in timings(sample.server_timing).items():
            steps.setdefault(name, []).append(ms)
    return PlaybackRun(
        where=where,
        connections=connections,
        requests=len(samples),
        per_second=len(samples) / elapsed,
        errors=len(samples) - len(good),
        request=Latency.of([sample.ms for sample in samples]),
        steps={name: Latency.of(values) for name, values in steps.items()},
    )


@dataclass
class Report:
    date: str
    cores: int
    load_average: float  # 1 min, before the run
    viewers: int
    free_viewers: int
    films: int
    seed_seconds: float
    connections: int
    seconds: float
    webhooks: list[WebhookRun]
    playback: list[PlaybackRun]


async def measure(
    port: int, bare: int, seeded: Seeded, watchers: list[Watcher], args: Any
) -> tuple[list[WebhookRun], list[PlaybackRun]]:
    """Ours and the bare app in turn: webhooks, then playback, each at 1 and N at once."""
    webhooks = []
    # One stream of events each, going on from one measurement to the next.
    ours = Events(seeded.subscribers, path=WEBHOOK, seed=5)
    theirs = Events(seeded.subscribers, path=BARE_WEBHOOK, seed=5)
    for connections in (1, args.connections):
        for where, at, source in (("kushfilms serve", port, ours), (BARE, bare, theirs)):
            print(f"Webhooks: {where}, {connections} at once ...", flush=True)
            samples, elapsed = await load(at, source, seconds=args.seconds, connections=connections)
            webhooks.append(webhook_run(where, connections, samples, elapsed))
    playback = []
    for connections in (1, args.playback_connections):
        for where, at, plays in (
            ("playback API", port, Plays(watchers, seeded.films, seed=7)),
            (BARE, bare, Noops()),
        ):
            print(f"Playback: {where}, {connections} at once ...", flush=True)
            samples, elapsed = await load(at, plays, seconds=args.seconds, connections=connections)
            playback.append(playback_run(where, connections, samples, elapsed))
    return webhooks, playback


def run(args: Any, tmp: Path) -> Report:
    load_average = os.getloadavg()[0]
    env = install_env(tmp / "data") | {
        "KF_STRIPE_SECRET_KEY": "",  # no Stripe: the local provider answers from the database
        "KF_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "KF_RATE_LIMIT_LOGIN": "100000/minute",
    }
    password = f"bench-{uuid.uuid4().hex}"
    kushfilms(env, "migrate")
    settings = settings_of(env)
    print(f"Seeding {args.viewers} subscribers through the local checkout ...", flush=True)
    seeded = asyncio.run(
        seed(settings, viewers=args.viewers, free_viewers=SIGNED_IN_PER_PLAN, password=password)
    )
    print(f"... ready in {seeded.seconds:.0f} s", flush=True)
    with serving(env, "app") as (port, _server), serving_bare(env) as bare:
        watchers = sign_in(port, seeded, settings, password)
        webhooks, playback = asyncio.run(measure(port, bare, seeded, watchers, args))
    return Report(
        date=date.today().isoformat(),
        cores=os.cpu_count() or 0,
        load_average=load_average,
        viewers=args.viewers,
        free_viewers=SIGNED_IN_PER_PLAN,
        films=len(seeded.films),
        seed_seconds=seeded.seconds,
        connections=args.connections,
        seconds=args.seconds,
        webhooks=webhooks,
        playback=playback,
    )


def print_report(report: Report) -> None:
    print(
        f"\n{report.viewers} subscribers (Basic and Premium in turn), {report.films} films;"
        f" SQLite, one `kushfilms serve`, no worker; {report.seconds:g} s per measurement after"
        f" {WARM_UP_SECONDS:g} s of warm-up; {report.cores} cores, 1-min load average"
        f" {report.load_average:.1f} before the run"
    )
    print(
        "\nwebhooks: no Stripe keys, so the handler's provider is the built-in local one, which"
        " reads subscriptions from the database (Stripe would be one API call per event);"
        f" {BARE}: only stripe.Webhook.construct_event"
    )
    print(
        f"{'where':<18}{'at once':>8}{'events/s':>10}{'applied/s':>11}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'vs bare':>9}  errors"
    )
    for ours, bare in zip(report.webhooks[::2], report.webhooks[1::2], strict=True):
        for hook in (ours, bare):
            ratio = f"{ours.per_second / bare.per_second:>8.2f}x" if hook is ours else ""
            print(
                f"{hook.where:<18}{hook.connections:>8}{hook.per_second:>10.0f}"
                f"{hook.applied_per_second:>11.0f}{hook.latency.p50_ms:>9.2f}"
                f"{hook.latency.p95_ms:>9.2f}{hook.latency.p99_ms:>9.2f}{ratio:>9}{hook.errors:>8}"
            )
    sent = ", ".join(f"{kind} {count}" for kind, count in report.webhooks[-2].sent.items())
    print(f"sent to ours at {report.webhooks[-2].connections} at once: {sent}")

    print(
        "\nplayback: signed-in viewers of each plan start the films their plan opens, on one"
        " device per stream it allows; check = the entitlement step from Server-Timing"
        f" (for {BARE}: /timed, an awaited no-op timed the same way), ms"
    )
    print(
        f"{'where':<18}{'at once':>8}{'req/s':>8}{'request p50':>12}{'p95':>7}{'p99':>7}"
        f"{'check p50':>10}{'p95':>7}{'p99':>7}{'streams p95':>12}{'total p95':>10}  errors"
    )
    for run in report.playback:
        check = run.steps.get("entitlement") or run.steps["noop"]
        steps = "".join(
            f"{run.steps[name].p95_ms:>{width}.2f}" if name in run.steps else " " * width
            for name, width in (("streams", 12), ("total", 10))
        )
        print(
            f"{run.where:<18}{run.connections:>8}{run.per_second:>8.0f}"
            f"{run.request.p50_ms:>12.2f}{run.request.p95_ms:>7.2f}{run.request.p99_ms:>7.2f}"
            f"{check.p50_ms:>10.3f}{check.p95_ms:>7.3f}{check.p99_ms:>7.3f}{steps}{run.errors:>8}"
        )

    print(f"\n{'target':<52}{'figure':>10}  {'limit':<10}verdict")
    busiest = report.webhooks[-2]
    applied = busiest.applied_per_second
    name = f"webhook events applied/s, {busiest.connections} at once"
    target(name, f"{applied:.0f}/s", f">= {WEBHOOK_TARGET:g}/s", applied >= WEBHOOK_TARGET)
    for run in report.playback:
        if "entitlement" in run.steps:
            p95 = run.steps["entitlement"].p95_ms
            limit = f"< {ENTITLEMENT_TARGET_MS:g} ms"
            name = f"entitlement check p95 in playback, {run.connections} at once"
            target(name, f"{p95:.2f} ms", limit, p95 < ENTITLEMENT_TARGET_MS)
    errors = sum(hook.errors for hook in report.webhooks)
    errors += sum(run.errors for run in report.playback)
    target("answers other than 2xx", str(errors), "0", errors == 0)


def target(name: str, figure: str, limit: str, met: bool) -> None:
    print(f"{name:<52}{figure:>10}  {limit:<10}{'met' if met else 'NOT MET'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=500, help="subscribers to seed")
    parser.add_argument("--seconds", type=float, default=5, help="per measurement")
    parser.add_argument("--connections", type=int, default=16, help="webhook clients at once")
    parser.add_argument(
        "--playback-connections", type=int, default=4, help="playback clients at once (beyond 1)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # clean up on kill too, as on Ctrl+C
    tmp = Path(tempfile.mkdtemp(prefix="kf-bench-billing-"))
    try:
        report = run(args, tmp)
    except KeyboardInterrupt:
        raise SystemExit("interrupted; servers stopped and temp files removed") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2))


if __name__ == "__main__":
    main()
