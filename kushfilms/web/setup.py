"""Wiring the pages into the app: templates, static files, routes, error pages."""

import logging
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import Response

from kushfilms.catalog.service import CATALOG_GENERATION
from kushfilms.config import Settings
from kushfilms.kit.signing import derive_key
from kushfilms.web import (
    account_link_pages,
    admin_pages,
    auth_pages,
    billing_pages,
    device_pages,
    docs_page,
    plan_change_pages,
    viewer_pages,
    watch_pages,
)
from kushfilms.web.assets import Assets, static_router
from kushfilms.web.errors import error_page, is_page
from kushfilms.web.middleware import content_security_policy
from kushfilms.web.outage import KeptData
from kushfilms.web.templating import Pages

log = logging.getLogger(__name__)
ROUTERS = (
    auth_pages.router,
    device_pages.router,
    account_link_pages.router,
    docs_page.router,
    admin_pages.router,
    billing_pages.router,
    plan_change_pages.router,
    viewer_pages.router,
    watch_pages.router,
)


def install_pages(app: FastAPI, settings: Settings) -> None:
    assets = Assets()
    missing = assets.missing_vendor_files()
    if missing:
        log.warning("front-end files missing (run `make install`): %s", ", ".join(missing))
    app.state.csrf_key = derive_key(settings.secret_key.get_secret_value(), "csrf")
    app.state.pages = Pages(assets, app.state.csrf_key)
    app.state.kept_data = KeptData(CATALOG_GENERATION)  # pages' data, for outages
    app.include_router(static_router(assets))
    for router in ROUTERS:
        app.include_router(router)


def page_errors(request: Request, status: int, code: str, message: str) -> Response | None:
    """The error page for page requests; None lets the API answer in JSON."""
    if not is_page(request):
        return None
    pages: Pages = request.app.state.pages
    return error_page(request, pages, status, code, message)


def media_origins(settings: Settings) -> str:
    """Where browsers fetch media from besides this site (the object store)."""
    if not settings.storage_url.startswith("s3://"):
        return ""
    if settings.s3_endpoint_url:
        endpoint = urlsplit(settings.s3_endpoint_url)
        return f"{endpoint.scheme}://{endpoint.netloc} {endpoint.scheme}://*.{endpoint.netloc}"
    return "https:"  # AWS answers from regional and bucket-named hosts


def payment_origins(settings: Settings) -> str:
    """Where the plan and subscription forms redirect to: Stripe's checkout and
    billing portal (browsers hold form redirects to the form-action policy)."""
    if not settings.uses_stripe:
        return ""  # the local checkout is on this site
    origins = ["https://checkout.stripe.com", "https://billing.stripe.com"]
    api = urlsplit(settings.stripe_api_base)
    if api.hostname != "api.stripe.com":  # a stand-in for Stripe (tests, a mock server)
        origins.append(f"{api.scheme}://{api.netloc}")
    return " ".join(origins)


def security_policy(settings: Settings) -> str:
    return content_security_policy(media_origins(settings), payment_origins(settings))
