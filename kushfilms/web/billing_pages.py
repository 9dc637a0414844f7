"""Plans and paying for them: the pricing page, the local checkout, the viewer's subscription.

A viewer sent to the plans by a film they could not watch comes back to it: the
film's page rides along as ``next`` from the pricing page to the checkout, then
in a short-lived cookie across the payment (the provider returns every checkout
to the one subscription page), which offers the film once the payment is in.
"""

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.accounts import service as accounts
from kushfilms.billing import service
from kushfilms.billing.deps import Provider, base_url
from kushfilms.billing.local import CardDeclined, CheckoutNotOpen, LocalProvider
from kushfilms.billing.plans import plans_from
from kushfilms.catalog import service as catalog
from kushfilms.deps import DbSession, ReadSession, settings_of
from kushfilms.errors import NotFound, Unprocessable
from kushfilms.kit.clock import utcnow
from kushfilms.kit.pagination import PageRequest
from kushfilms.kit.text import SingleLine
from kushfilms.models import Plan, User
from kushfilms.web.card_form import CardForm, card_problems
from kushfilms.web.deps import CheckedForm, PageUser, PageViewer, Templates
from kushfilms.web.subscription_view import plan_action, summarize
from kushfilms.web.templating import Pages

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form(max_length=100)]
CheckoutId = Annotated[str, Path(max_length=64)]
ReturnPath = Annotated[str, Form(max_length=300)]
PAYMENTS_PER_PAGE = 10
RETURN_COOKIE = "kf_return"
RETURN_SECONDS = 3600  # long enough to pay, short enough not to surprise later
FILM_PAGE = re.compile(r"/watch/[a-z0-9][a-z0-9-]{0,219}")

PRICING_NOTICES = {"canceled": "Checkout canceled: nothing was charged."}
SUBSCRIPTION_NOTICES = {
    "canceled": "Your subscription is canceled. You keep your plan until the month you paid ends.",
    "resumed": "Your subscription carries on: it renews as before.",
    "upgraded": "Upgraded: the new plan is yours now.",
    "downgraded": "Done: your plan changes when the month you paid for ends.",
    "kept": "Your plan stays as it is.",
}
TEST_CARDS = (
    ("4242 4242 4242 4242", "pays, and every renewal pays"),
    ("4000 0000 0000 0341", "pays now; renewals fail, so the subscription goes past due"),
    ("4000 0000 0000 0002", "is declined"),
)


def paid_plan(value: str) -> Plan:
    if value not in (Plan.BASIC, Plan.PREMIUM):
        raise Unprocessable("Choose Basic or Premium.")
    return Plan(value)


def film_page(target: str | None) -> str:
    """A film's page on this site to come back to, or "" for anything else."""
    return target if target and FILM_PAGE.fullmatch(target) else ""


@dataclass(frozen=True, slots=True)
class BackToFilm:
    path: str
    title: str


async def _back_to_film(session: AsyncSession, target: str) -> BackToFilm | None:
    """The film behind ``target`` while it can still be watched (published)."""
    path = film_page(target)
    if not path:
        return None
    try:
        movie = await catalog.get_movie(session, path.removeprefix("/watch/"))
    except catalog.MovieNotFound:
        return None
    return BackToFilm(f"/watch/{movie.slug}", movie.title)


def _remember_return(request: Request, response: Response, target: str) -> None:
    """Keep the film to come back to across the payment, or forget an earlier one."""
    if target:
        response.set_cookie(
            RETURN_COOKIE,
            target,
            max_age=RETURN_SECONDS,
            httponly=True,
            secure=request.url.scheme == "https",
            samesite="lax",  # sent on the provider's redirect back, a top-level GET
        )
    else:
        response.delete_cookie(RETURN_COOKIE)


# --- /pricing ------------------------------------------------------------------------


async def _pricing_page(
    request: Request,
    pages: Pages,
    session: AsyncSession,
    viewer: User | None,
    next: str,
    *,
    refused: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    """The plans; for a viewer who must confirm their address before subscribing, a
    notice that says so (``refused``: they just tried), with a new link to ask for."""
    settings = settings_of(request)
    plans = plans_from(settings)
    status = await service.status(session, settings, user=viewer) if viewer else None
    offers = [(offer, plan_action(offer, status, plans)) for offer in plans]
    can_check_out = any(action.kind == "checkout" for _, action in offers)
    params = request.query_params
    return pages.render(
        request,
        "pricing.html",
        viewer=viewer,
        offers=offers,
        current=status.plan if status else None,
        notice=PRICING_NOTICES.get(params.get("checkout", ""), ""),
        confirm_email=bool(
            viewer and can_check_out and service.must_confirm_email(settings, viewer)
        ),
        confirm_refused=refused,
        link_sent=params.get("verification") == "sent",
        back=film_page(next),
        status_code=status_code,
    )


@router.get("/pricing", response_class=HTMLResponse)
async def pricing(
    request: Request,
    viewer: PageViewer,
    session: ReadSession,
    pages: Templates,
    next: Annotated[SingleLine, Query(max_length=300)] = "",
) -> HTMLResponse:
    if not next and request.query_params.get("checkout") == "canceled":
        next = request.cookies.get(RETURN_COOKIE, "")  # back from a checkout: the film waits
    return await _pricing_page(request, pages, session, viewer, next)


@router.post("/pricing/checkout", dependencies=[CheckedForm])
async def choose_plan(
    request: Request,
    user: PageUser,
    session: DbSession,
    provider: Provider,
    pages: Templates,
    plan: Text = "",
    next: ReturnPath = "",
) -> Response:
    """Off to pay: the local checkout page, or Stripe's. A viewer who has to confirm
    their address first gets the plans again, saying so (403)."""
    me = await accounts.get_user(session, user.id)
    try:
        url = await service.start_checkout(
            session,
            provider,
            settings_of(request),
            user=me,
            plan=paid_plan(plan),
            base_url=base_url(request),
        )
    except service.EmailNotVerified as refusal:
        return await _pricing_page(
            request, pages, session, me, next, refused=True, status_code=refusal.status
        )
    response = RedirectResponse(url, status_code=303)
    _remember_return(request, response, film_page(next))
    return response


# --- the local checkout ------------------------------------------------------------------


async def _local_checkout(
    request: Request, session: AsyncSession, user: User, checkout_id: str
) -> tuple[LocalProvider, dict[str, Any]]:
    """The viewer's own checkout on the built-in provider; anyone else's is not found."""
    settings = settings_of(request)
    if settings.uses_stripe:
        raise NotFound()
    local = LocalProvider(session, settings)
    checkout = await local.checkout(checkout_id)
    if checkout.get("client_reference_id") != str(user.id):
        raise NotFound("No such checkout.")
    return local, checkout


def _checkout_page(
    request: Request,
    pages: Pages,
    user: User,
    checkout: dict[str, Any],
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    offer = plans_from(settings_of(request)).by_price(str(checkout.get("price", "")))
    is_open = checkout["status"] == "open" and checkout["expires_at"] >= utcnow().timestamp()
    return pages.render(
        request,
        "local_checkout.html",
        viewer=user,
        checkout=checkout,
        offer=offer,
        is_open=is_open,
        test_cards=TEST_CARDS,
        form=form or {"name": user.name},
        errors=errors or {},
        status_code=status_code,
    )


@router.get("/billing/checkout/{checkout_id}", response_class=HTMLResponse)
async def local_checkout(
    request: Request,
    checkout_id: CheckoutId,
    user: PageUser,
    session: ReadSession,
    pages: Templates,
) -> HTMLResponse:
    _, checkout = await _local_checkout(request, session, user, checkout_id)
    return _checkout_page(request, pages, user, checkout)


@router.post("/billing/checkout/{checkout_id}", dependencies=[CheckedForm])
async def pay_local_checkout(
    request: Request,
    checkout_id: CheckoutId,
    user: PageUser,
    session: DbSession,
    pages: Templates,
    card_number: Annotated[str, Form(max_length=40)] = "",
    expiry: Annotated[str, Form(max_length=10)] = "",
    cvc: Annotated[str, Form(max_length=10)] = "",
    name: Text = "",
) -> Response:
    local, checkout = await _local_checkout(request, session, user, checkout_id)
    card = CardForm(number=card_number, expiry=expiry, cvc=cvc, name=name)
    errors = card_problems(card, utcnow().date())
    if not errors:
        try:
            success_url = await local.complete_checkout(checkout_id, card_number=card.digits)
        except CardDeclined as error:
            errors["card_number"] = error.detail
        except CheckoutNotOpen as error:
            await session.rollback()
            checkout = await local.checkout(checkout_id)  # as the payment that won left it
            errors["form"] = error.detail
            return _checkout_page(
                request, pages, user, checkout, errors=errors, status_code=error.status
            )
        else:
            return RedirectResponse(success_url, status_code=303)
    await session.rollback()  # nothing of a refused payment is kept
    return _checkout_page(
        request, pages, user, checkout, form=card.kept(), errors=errors, status_code=422
    )


# --- /account/subscription -------------------------------------------------------------


@router.get("/account/subscription", response_class=HTMLResponse)
async def subscription(
    request: Request,
    user: PageUser,
    session: ReadSession,
    pages: Templates,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    settings = settings_of(request)
    status = await service.status(session, settings, user=user)
    summary = summarize(
        status,
        plans_from(settings),
        now=utcnow(),
        grace=timedelta(days=settings.past_due_grace_days),
    )
    payments = await service.payments(
        session, user=user, page=PageRequest(page=page, page_size=PAYMENTS_PER_PAGE)
    )
    params = request.query_params
    just_paid = params.get("checkout") == "complete"
    confirming = just_paid and summary.pending
    done = params.get("done", "")
    back_to = None
    if just_paid and not confirming:  # the film opens once the payment is confirmed
        back_to = await _back_to_film(session, request.cookies.get(RETURN_COOKIE, ""))
    elif done == "upgraded":
        back_to = await _back_to_film(session, params.get("next", ""))
    response = pages.render(
        request,
        "account_subscription.html",
        viewer=user,
        status=status,
        summary=summary,
        payments=payments,
        just_paid=just_paid,
        confirming=confirming,
        back_to_film=back_to,
        notice=SUBSCRIPTION_NOTICES.get(done, ""),
        has_billing_account=user.stripe_customer_id is not None,
    )
    if just_paid and not confirming and RETURN_COOKIE in request.cookies:
        response.delete_cookie(RETURN_COOKIE)  # offered once
    return response


@router.get("/account/subscription/cancel", response_class=HTMLResponse)
async def confirm_cancel(
    request: Request, user: PageUser, session: ReadSession, pages: Templates
) -> Response:
    """The confirmation step before a cancellation."""
    settings = settings_of(request)
    status = await service.status(session, settings, user=user)
    held = status.subscription
    if held is None or not service.is_live(held) or held.cancel_at_period_end:
        return RedirectResponse("/account/subscription", status_code=303)
    return pages.render(
        request,
        "account_subscription_cancel.html",
        viewer=user,
        subscription=held,
        offer=plans_from(settings)[held.plan],
    )


@router.post("/account/subscription/cancel", dependencies=[CheckedForm])
async def cancel(
    request: Request, user: PageUser, session: DbSession, provider: Provider
) -> RedirectResponse:
    await service.cancel(session, provider, settings_of(request), user=user)
    return RedirectResponse("/account/subscription?done=canceled", status_code=303)


@router.post("/account/subscription/resume", dependencies=[CheckedForm])
async def resume(
    request: Request, user: PageUser, session: DbSession, provider: Provider
) -> RedirectResponse:
    await service.resume(session, provider, settings_of(request), user=user)
    return RedirectResponse("/account/subscription?done=resumed", status_code=303)


@router.post("/account/subscription/portal", dependencies=[CheckedForm])
async def billing_portal(request: Request, user: PageUser, provider: Provider) -> RedirectResponse:
    """Cards and invoices, at the payment provider."""
    url = await service.portal(provider, user=user, base_url=base_url(request))
    return RedirectResponse(url, status_code=303)
