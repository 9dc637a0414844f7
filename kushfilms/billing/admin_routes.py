"""The operator's billing API: revenue analytics."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request

from kushfilms.accounts.deps import AdminUser
from kushfilms.billing.revenue import date_range, revenue_report
from kushfilms.billing.revenue_schemas import RevenueOut
from kushfilms.deps import ReplicaSession
from kushfilms.errors import COMMON_ERRORS, error_responses
from kushfilms.kit.clock import utcnow
from kushfilms.state import app_state

router = APIRouter(
    prefix="/api/admin",
    tags=["admin: billing"],
    responses=error_responses(*COMMON_ERRORS, 401, 403),
)
Day = Annotated[date | None, Query(description="YYYY-MM-DD (UTC)")]


@router.get("/analytics/revenue", summary="Revenue analytics")
async def revenue(
    request: Request,
    admin: AdminUser,  # noqa: ARG001 - administrators only
    session: ReplicaSession,
    start: Day = None,
    end: Day = None,
) -> RevenueOut:
    """Subscriptions, churn, conversion and revenue over whole UTC days, both ends
    included (by default the last 30 days; at most 366). Per-day series list every
    day of the range."""
    settings = app_state(request).settings
    span = date_range(start, end, today=utcnow().date())
    return RevenueOut.of(await revenue_report(session, settings, span))
