"""create_app(): the settings, the database, the routers and the middleware."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from redis.asyncio import Redis

from kushfilms import __version__
from kushfilms.accounts import routes as accounts
from kushfilms.accounts import sessions
from kushfilms.accounts.deps import viewer_credentials
from kushfilms.accounts.devices import DEVICE_HEADER
from kushfilms.accounts.passwords import PasswordHasher
from kushfilms.accounts.tokens import TokenConfig
from kushfilms.billing import admin_routes as billing_admin
from kushfilms.billing import routes as billing
from kushfilms.billing.deps import open_stripe
from kushfilms.catalog import routes as catalog
from kushfilms.catalog.view_counter import ViewCounter
from kushfilms.config import Settings
from kushfilms.db import Database
from kushfilms.errors import install_error_handlers
from kushfilms.health import router as health
from kushfilms.jobs import job_queue
from kushfilms.kit.body_timeout import BodyReadTimeoutMiddleware
from kushfilms.kit.cache import PublicCacheMiddleware, ResponseCache
from kushfilms.logs import configure_logging
from kushfilms.media import admin_routes as media_admin
from kushfilms.media import routes as media
from kushfilms.media.delivery import file_routes as media_files
from kushfilms.media.delivery.access import AccessChecks
from kushfilms.media.ingest import upload_routes
from kushfilms.media.ingest.upload_routes import TUS_REQUEST_HEADERS, TUS_RESPONSE_HEADERS
from kushfilms.media.storage import open_storage
from kushfilms.middleware import (
    BodyLimitMiddleware,
    CompressTextMiddleware,
    NulPathMiddleware,
    SecurityHeadersMiddleware,
)
from kushfilms.ratelimit import ApiRateLimitMiddleware, RateLimiter
from kushfilms.state import AppState, install_state
from kushfilms.web.middleware import CsrfSeedMiddleware
from kushfilms.web.setup import install_pages, page_errors, security_policy
from kushfilms.worker.queue import bind_jobs


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings)
    limiter = RateLimiter(settings.redis_url)
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None

    views = ViewCounter()
    stripe = open_stripe(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        flushing = asyncio.create_task(views.keep_flushing(db))
        relaying = asyncio.create_task(relay.run())
        yield
        for task in (flushing, relaying):
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        await limiter.close()
        jobs.close()
        if redis is not None:
            await redis.aclose()
        if stripe is not None:
            await stripe.aclose()
        await db.dispose()

    app = FastAPI(
        title="Kush Films",
        version=__version__,
        description="The Kush Films streaming platform API. Errors are "
        '`{"error": {"code": "...", "message": "..."}}`; lists are paginated.',
        lifespan=lifespan,
        docs_url=None,  # served by the pages, with Swagger UI from our own files
        redoc_url=None,
    )
    jobs = job_queue(settings)
    # Services queue jobs (emails, transcodes) with their session; the relay sends them.
    relay = bind_jobs(db, jobs)
    state = AppState(
        settings=settings,
        db=db,
        limiter=limiter,
        redis=redis,
        tokens=TokenConfig.from_settings(settings),
        password_hasher=PasswordHasher.from_settings(settings),
        views=views,
        playback_checks=AccessChecks(settings.playback_check_seconds),
        storage=open_storage(settings),
        jobs=jobs,
        relay=relay,
        stripe=stripe,
        cache=ResponseCache(seconds=settings.cache_seconds, generation=catalog.CATALOG_GENERATION),
    )
    install_state(app, state)

    install_error_handlers(app, page_errors=page_errors)
    # Routes are tried in order, every one until a match, for every request: the
    # busiest first (media files, playback and progress, the catalogue, Stripe's
    # webhook in its bursts), the administrators' next, the pages last.
    for router in (
        media_files.router,
        media.router,
        catalog.router,
        billing.router,
        accounts.router,
        upload_routes.router,
        health,
        accounts.admin_router,
        catalog.admin_router,
        media_admin.router,
        billing_admin.router,
    ):
        app.include_router(router)
    install_pages(app, settings)

    app.add_middleware(
        PublicCacheMiddleware,
        cache=state.cache,
        paths=catalog.PUBLIC_PATHS,
        credential_cookies=(sessions.COOKIE,),
        shares_public=viewer_credentials(state.tokens),
    )
    app.add_middleware(
        ApiRateLimitMiddleware,
        limiter=limiter,
        limit=settings.api_limit,
        exempt=("/api/admin/uploads", "/api/webhooks/stripe"),
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", DEVICE_HEADER, *TUS_REQUEST_HEADERS],
            expose_headers=["Location", *TUS_RESPONSE_HEADERS],
        )
    picture_bytes = media_admin.MAX_THUMBNAIL_BYTES + 64 * 1024  # the image and the form
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        limits={
            "/api/admin/uploads": settings.upload_max_bytes,
            r"/api/admin/movies/[^/]+/(thumbnail|backdrop)$": picture_bytes,
            r"/admin/movies/[^/]+/(poster|backdrop)$": picture_bytes,
        },
    )
    app.add_middleware(BodyReadTimeoutMiddleware, seconds=settings.body_read_timeout_seconds)
    app.add_middleware(CsrfSeedMiddleware)
    app.add_middleware(CompressTextMiddleware)
    app.add_middleware(NulPathMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, content_security_policy=security_policy(settings))
    return app
