"""Signing up, in and out, and the viewer's own account page."""

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.accounts import flows as account_flows
from kushfilms.accounts import service as accounts
from kushfilms.accounts import sessions
from kushfilms.accounts.deps import Hasher
from kushfilms.accounts.schemas import normalize_email
from kushfilms.accounts.signin import sign_in
from kushfilms.deps import DbSession, Limiter, ReadSession
from kushfilms.errors import KushError
from kushfilms.kit.pagination import PageRequest
from kushfilms.kit.text import Name, SingleLine
from kushfilms.media import watching
from kushfilms.models import User
from kushfilms.ratelimit import client_ip
from kushfilms.state import app_state
from kushfilms.web.account_devices import account_devices
from kushfilms.web.deps import CheckedForm, PageUser, PageViewer, Templates
from kushfilms.web.templating import Pages

router = APIRouter(include_in_schema=False)
Text = Annotated[SingleLine, Form(max_length=1024)]
NameText = Annotated[Name, Form(max_length=1024)]


def safe_next(target: str | None) -> str:
    """Only our own paths: a sign-in link must not send people elsewhere."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def signed_in(request: Request, token: str, target: str) -> RedirectResponse:
    response = RedirectResponse(safe_next(target), status_code=303)
    response.set_cookie(
        sessions.COOKIE,
        token,
        max_age=int(sessions.LIFETIME.total_seconds()),
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="lax",
    )
    return response


def _email_problem(email: str) -> str | None:
    try:
        normalize_email(email)
    except ValueError as error:
        return str(error)
    return None


def _entry_page(
    request: Request, viewer: User | None, pages: Pages, template: str, next: str
) -> Response:
    """The empty sign-in or join form; someone signed in already goes on to ``next``."""
    if viewer is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return pages.render(request, template, viewer=None, next=safe_next(next), form={}, errors={})


@router.get("/login")
async def login_page(
    request: Request, viewer: PageViewer, pages: Templates, next: str = "/"
) -> Response:
    return _entry_page(request, viewer, pages, "login.html", next)


@router.post("/login", dependencies=[CheckedForm])
async def login(
    request: Request,
    limiter: Limiter,
    session: DbSession,
    pages: Templates,
    hasher: Hasher,
    email: Text = "",
    password: Text = "",
    next: Text = "/",
) -> Response:
    form = {"email": email}
    errors = {}
    if problem := _email_problem(email):
        errors["email"] = problem
    if not password:
        errors["password"] = "Enter your password."  # noqa: S105 - a message, not a secret
    if errors:
        return pages.render(
            request,
            "login.html",
            viewer=None,
            next=next,
            form=form,
            errors=errors,
            status_code=422,
        )
    try:
        user = await sign_in(
            session,
            limiter,
            app_state(request).settings,
            address=client_ip(request),
            email=normalize_email(email),
            password=password,
            hasher=hasher,
        )
    except KushError as error:
        refused = pages.render(
            request,
            "login.html",
            viewer=None,
            next=next,
            form=form,
            errors={"form": error.detail},
            status_code=error.status,
        )
        refused.headers.update(error.headers)  # Retry-After, when limited
        return refused
    token = await sessions.open_session(
        session, user, user_agent=request.headers.get("user-agent", "")
    )
    return signed_in(request, token, next)


@router.get("/register")
async def register_page(
    request: Request, viewer: PageViewer, pages: Templates, next: str = "/"
) -> Response:
    return _entry_page(request, viewer, pages, "register.html", next)


@router.post("/register", dependencies=[CheckedForm])
async def register(
    request: Request,
    limiter: Limiter,
    session: DbSession,
    pages: Templates,
    hasher: Hasher,
    name: NameText = "",
    email: Text = "",
    password: Text = "",
    next: Text = "/",
) -> Response:
    form = {"name": name, "email": email}
    errors = {}
    if not name.strip():
        errors["name"] = "Tell us what to call you."
    elif len(name.strip()) > 100:
        errors["name"] = "Use at most 100 characters."
    if problem := _email_problem(email):
        errors["email"] = problem
    if not errors:
        try:
            user = await account_flows.sign_up(
                session,
                limiter,
                app_state(request).settings,
                address=client_ip(request),
                email=normalize_email(email),
                password=password,
                name=name.strip(),
                hasher=hasher,
            )
        except KushError as error:
            errors[error.extra.get("field", "form")] = error.detail
        else:
            token = await sessions.open_session(
                session, user, user_agent=request.headers.get("user-agent", "")
            )
            return signed_in(request, token, next)
    return pages.render(
        request,
        "register.html",
        viewer=None,
        next=safe_next(next),
        form=form,
        errors=errors,
        status_code=422,
    )


@router.get("/logout")
async def logout_page(request: Request, viewer: PageViewer, pages: Templates) -> Response:
    if viewer is None:
        return RedirectResponse("/", status_code=303)
    return pages.render(request, "logout.html", viewer=viewer)


@router.post("/logout", dependencies=[CheckedForm])
async def logout(request: Request, session: DbSession) -> Response:
    token = request.cookies.get(sessions.COOKIE)
    if token:
        await sessions.close_session(session, token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(sessions.COOKIE, httponly=True, samesite="lax")
    return response


@router.get("/account", response_class=HTMLResponse)
async def account(
    request: Request,
    user: PageUser,
    session: ReadSession,
    pages: Templates,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    return await account_page(request, user, session, pages, page=page)


NOTICES = {
    "profile": "Your details are saved.",
    "password": "Your password is changed.",
    "reset": "Your new password is set, and you are signed out everywhere else.",
    "verification": "We sent you a new link to confirm your address.",
    "email": "We sent a link to your new address: your email changes when you follow it.",
    "device": "The device's name is saved.",
    "ended": "That device stopped watching: its place is free.",
    "gone": "That device is not watching any more.",
}


async def account_page(
    request: Request,
    user: User,
    session: AsyncSession,
    pages: Pages,
    *,
    page: int = 1,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    history = await watching.history(session, user=user, page=PageRequest(page=page))
    notice = NOTICES.get(request.query_params.get("saved", ""), "")
    return pages.render(
        request,
        "account.html",
        viewer=user,
        history=history,
        devices=await account_devices(request, session, user),
        form=form or {"name": user.name},
        errors=errors or {},
        notice=notice,
        status_code=status_code,
    )


@router.post("/account/profile", dependencies=[CheckedForm])
async def update_profile(
    request: Request,
    user: PageUser,
    session: DbSession,
    pages: Templates,
    name: NameText = "",
) -> Response:
    if name.strip() and len(name.strip()) <= 100:
        await accounts.rename(session, user.id, name.strip())
        return RedirectResponse("/account?saved=profile", status_code=303)
    form = {"name": name}
    errors = {"name": "Use 1 to 100 characters."}
    return await account_page(
        request, user, session, pages, form=form, errors=errors, status_code=422
    )


@router.post("/account/password", dependencies=[CheckedForm])
async def change_password(
    request: Request,
    user: PageUser,
    session: DbSession,
    pages: Templates,
    hasher: Hasher,
    current_password: Text = "",
    new_password: Text = "",
) -> Response:
    try:
        # Everywhere else signs out; this browser stays signed in.
        await accounts.change_password(
            session,
            user,
            current=current_password,
            new=new_password,
            hasher=hasher,
            keep_web_session=request.cookies.get(sessions.COOKIE),
        )
    except KushError as error:
        return await account_page(
            request,
            user,
            session,
            pages,
            errors={error.extra.get("field", "password_form"): error.detail},
            status_code=422,
        )
    return RedirectResponse("/account?saved=password", status_code=303)
