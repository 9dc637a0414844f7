"""Jinja2 templates, with what every page needs at hand."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from sqlalchemy import inspect

from kushfilms.billing.entitlements import plan_in_use
from kushfilms.billing.plans import plans_from
from kushfilms.config import Settings
from kushfilms.kit import csrf
from kushfilms.kit.clock import utcnow
from kushfilms.kit.dates import day
from kushfilms.kit.money import money
from kushfilms.models import Plan, SubscriptionStatus, User
from kushfilms.state import app_state
from kushfilms.web.assets import Assets

TEMPLATES = Path(__file__).resolve().parent / "templates"


def duration(seconds: int | float | None) -> str:
    """1 h 32 min, 12 min, 45 s."""
    if not seconds:
        return ""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def clock(seconds: int | float | None) -> str:
    """1:32:05 or 12:05."""
    total = round(seconds or 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True, slots=True)
class PlanInUse:
    """The plan a viewer has the use of, for a line on their pages."""

    plan: Plan
    name: str
    note: str  # when it renews or ends, or what needs doing ("" on Free)


def plan_in_use_by(viewer: User, settings: Settings, *, now: datetime) -> PlanInUse | None:
    """What ``viewer`` (loaded with their subscription) is on now; None when the
    subscription was not loaded with them."""
    if "subscription" in inspect(viewer).unloaded:
        return None
    held = viewer.subscription
    plan = plan_in_use(held, now=now, grace=timedelta(days=settings.past_due_grace_days))
    name = plans_from(settings)[plan].name
    if held is None or plan == Plan.FREE:
        return PlanInUse(plan, name, "")
    end = held.ended_at or held.current_period_end
    if held.status == SubscriptionStatus.PAST_DUE:
        note = "your last payment failed: update your card"
    elif held.cancel_at_period_end or held.status == SubscriptionStatus.CANCELED:
        note = f"canceled, ends on {day(end)}"
    else:
        note = f"renews on {day(held.current_period_end)}"
    return PlanInUse(plan, name, note)


@pass_context
def _plan_of(context: Context, viewer: User) -> PlanInUse | None:
    request: Request = context["request"]
    return plan_in_use_by(viewer, app_state(request).settings, now=utcnow())


class Pages:
    """Renders templates with the viewer, the CSRF token and static URLs."""

    def __init__(self, assets: Assets, csrf_key: bytes) -> None:
        environment = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates = Jinja2Templates(env=environment)
        self.templates.env.globals["static"] = assets.url
        self.templates.env.filters["duration"] = duration
        self.templates.env.filters["clock"] = clock
        self.templates.env.filters["money"] = money
        self.templates.env.filters["day"] = day
        self.templates.env.globals["plan_of"] = _plan_of
        self.csrf_key = csrf_key

    def csrf_token(self, request: Request) -> str:
        return csrf.token_for(self.csrf_key, csrf_seed(request))

    def render(
        self,
        request: Request,
        template: str,
        *,
        viewer: User | None,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        response: HTMLResponse = self.templates.TemplateResponse(
            request,
            template,
            {"viewer": viewer, "csrf_token": self.csrf_token(request), **context},
            status_code=status_code,
        )
        return response


def csrf_seed(request: Request) -> str:
    """This browser's CSRF seed (the cookie, or the one just made for it)."""
    seed: str = request.scope.get("kf_csrf_seed") or request.cookies.get(csrf.COOKIE, "")
    return seed
