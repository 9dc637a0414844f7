"""Changing plan: a confirmation page that shows what the change charges now (an
upgrade's proration, and why), when it starts and the next bill, before anything
changes; only its button changes the plan.

The page's amount is the provider's preview as of a moment (the proration date) that
rides along in the form, so that the charge is that amount to the cent; a preview
grown old is shown again, worked out afresh, rather than charged.
"""

from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.billing import service
from kushfilms.billing.deps import Provider
from kushfilms.billing.plans import RANK, plans_from
from kushfilms.billing.provider import PaymentProvider
from kushfilms.billing.stripe_objects import timestamp
from kushfilms.deps import DbSession, ReadSession, settings_of
from kushfilms.kit.text import SingleLine
from kushfilms.models import Plan, User
from kushfilms.web.billing_pages import ReturnPath, Text, film_page, paid_plan
from kushfilms.web.deps import CheckedForm, PageUser, Templates
from kushfilms.web.subscription_view import describe_change
from kushfilms.web.templating import Pages

router = APIRouter(include_in_schema=False)
STALE = "The amount changed since you looked (a while has passed): here it is again."


def confirmation_path(plan: Plan, back: str) -> str:
    return "/pricing/change?" + urlencode({"plan": plan.value, **({"next": back} if back else {})})


def _moment(value: str) -> datetime | None:
    """The form's proration date (Unix seconds), or None when there is none to read."""
    return timestamp(value) if value.isdigit() and len(value) <= 12 else None


async def _confirmation(
    request: Request,
    pages: Pages,
    session: AsyncSession,
    provider: PaymentProvider,
    user: User,
    plan: Plan,
    back: str,
    *,
    notice: str = "",
    status_code: int = 200,
) -> Response:
    settings = settings_of(request)
    try:
        preview = await service.preview_change(session, provider, settings, user=user, plan=plan)
    except (service.NoSubscription, service.SamePlan):
        return RedirectResponse("/pricing", status_code=303)  # nothing to change
    return pages.render(
        request,
        "plan_change.html",
        viewer=user,
        preview=preview,
        words=describe_change(preview, plans_from(settings)),
        proration_date=int(preview.proration_date.timestamp()),
        back=back,
        notice=notice,
        status_code=status_code,
    )


@router.get("/pricing/change", response_class=HTMLResponse)
async def confirm_change(
    request: Request,
    user: PageUser,
    session: ReadSession,
    provider: Provider,
    pages: Templates,
    plan: Annotated[SingleLine, Query(max_length=20)] = "",
    next: Annotated[SingleLine, Query(max_length=300)] = "",
) -> Response:
    """The confirmation step: nothing is charged or changed here."""
    chosen = paid_plan(plan)
    return await _confirmation(request, pages, session, provider, user, chosen, film_page(next))


@router.post("/pricing/change", dependencies=[CheckedForm])
async def change_plan(
    request: Request,
    user: PageUser,
    session: DbSession,
    provider: Provider,
    pages: Templates,
    plan: Text = "",
    proration_date: Annotated[str, Form(max_length=20)] = "",
    next: ReturnPath = "",
) -> Response:
    """The confirmation's button (and *Keep …* on the pricing page, which charges
    nothing). An upgrade without the preview's proration date is not charged: the
    viewer is shown the confirmation first."""
    settings = settings_of(request)
    chosen, back, at = paid_plan(plan), film_page(next), _moment(proration_date)
    held = (await service.status(session, settings, user=user)).subscription
    plan_before = held.plan if held else None  # the row itself changes below
    upgrade = held is not None and service.is_live(held) and RANK[chosen] > RANK[held.plan]
    if at is None and upgrade:
        return RedirectResponse(confirmation_path(chosen, back), status_code=303)
    try:
        after = await service.change(
            session, provider, settings, user=user, plan=chosen, proration_date=at
        )
    except (service.PreviewExpired, service.InvalidProrationDate):
        return await _confirmation(
            request, pages, session, provider, user, chosen, back, notice=STALE, status_code=409
        )
    if after.scheduled_plan is not None:
        done = "downgraded"
    elif plan_before == chosen:
        done = "kept"
    else:
        done = "upgraded"
    back = back if done == "upgraded" else ""  # only an upgrade opens more films
    query = urlencode({"done": done, **({"next": back} if back else {})})
    return RedirectResponse(f"/account/subscription?{query}", status_code=303)
