"""Jinja2 templates, with what every page needs at hand."""

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from kushfilms.kit import csrf
from kushfilms.kit.money import money
from kushfilms.models import User
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
