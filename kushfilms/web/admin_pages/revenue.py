"""The operator's revenue: subscriptions, churn, conversion and money over a chosen range."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from kushfilms.billing.revenue import MAX_DAYS, InvalidRange, date_range, revenue_report
from kushfilms.billing.revenue_schemas import RevenueOut
from kushfilms.config import Settings
from kushfilms.deps import ReplicaSession
from kushfilms.kit.clock import utcnow
from kushfilms.kit.text import SingleLine
from kushfilms.web.deps import PageAdmin, Templates

router = APIRouter()
DateText = Annotated[SingleLine, Query(max_length=10)]


def _day(text: str) -> date | None:
    """A date input's value; empty or malformed means the default."""
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.get("/admin/revenue", response_class=HTMLResponse)
async def revenue(
    request: Request,
    admin: PageAdmin,
    session: ReplicaSession,
    pages: Templates,
    start: DateText = "",
    end: DateText = "",
) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    today = utcnow().date()
    start_day, end_day = _day(start), _day(end)
    malformed = (start and start_day is None) or (end and end_day is None)
    problem = "Enter dates as YYYY-MM-DD." if malformed else ""
    try:
        span = date_range(start_day, end_day, today=today)
    except InvalidRange as error:
        problem = error.detail
        span = date_range(None, None, today=today)
    report = RevenueOut.of(await revenue_report(session, settings, span))
    return pages.render(
        request,
        "admin/revenue.html",
        viewer=admin,
        report=report,
        form={"start": start or span.start.isoformat(), "end": end or span.end.isoformat()},
        range_problem=problem,
        max_days=MAX_DAYS,
        status_code=422 if problem else 200,
    )
