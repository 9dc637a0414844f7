"""Pages for what an account does by email: a forgotten password, a confirmed address,
a new address. The flows are in ``accounts.flows``; these pages ask and show."""

from collections.abc import Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from kushfilms.accounts import flows, sessions
from kushfilms.accounts.deps import Hasher
from kushfilms.accounts.links import (
    InvalidLink,
    LinkPurpose,
    LinkRefused,
    is_current,
    read_link_token,
)
from kushfilms.accounts.schemas import normalize_email
from kushfilms.accounts.service import get_user
from kushfilms.deps import AppSettings, DbSession, Limiter, ReadSession
from kushfilms.errors import KushError
from kushfilms.kit.clock import utcnow
from kushfilms.models import User
from kushfilms.ratelimit import client_ip
from kushfilms.web.auth_pages import Text, account_page, signed_in
from kushfilms.web.deps import CheckedForm, PageUser, PageViewer, Templates
from kushfilms.web.templating import Pages

router = APIRouter(include_in_schema=False)


def _outcome(
    request: Request,
    pages: Pages,
    viewer: User | None,
    *,
    title: str,
    message: str,
    status: int = 200,
) -> Response:
    return pages.render(
        request,
        "account_link.html",
        viewer=viewer,
        title=title,
        message=message,
        failed=status >= 400,
        status_code=status,
    )


@router.get("/forgot-password")
async def forgot_password_page(request: Request, viewer: PageViewer, pages: Templates) -> Response:
    email = viewer.email if viewer is not None else ""
    return pages.render(
        request, "forgot_password.html", viewer=viewer, form={"email": email}, errors={}
    )


@router.post("/forgot-password", dependencies=[CheckedForm])
async def forgot_password(
    request: Request,
    limiter: Limiter,
    viewer: PageViewer,
    session: DbSession,
    pages: Templates,
    settings: AppSettings,
    email: Text = "",
) -> Response:
    try:
        address = normalize_email(email)
        await flows.request_password_reset(
            session, limiter, settings, address=client_ip(request), email=address
        )
    except (ValueError, KushError) as error:
        detail = error.detail if isinstance(error, KushError) else str(error)
        refused = pages.render(
            request,
            "forgot_password.html",
            viewer=viewer,
            form={"email": email},
            errors={"email": detail},
            status_code=error.status if isinstance(error, KushError) else 422,
        )
        if isinstance(error, KushError):
            refused.headers.update(error.headers)
        return refused
    return _outcome(
        request,
        pages,
        viewer,
        title="Check your email",
        message=f"If {address} is the address of a Kush Films account, a link to choose a"
        " new password is on its way. It works once, within an hour.",
    )


@router.get("/reset-password")
async def reset_password_page(
    request: Request,
    viewer: PageViewer,
    session: ReadSession,
    pages: Templates,
    settings: AppSettings,
    token: str = "",
) -> Response:
    try:
        claims = read_link_token(settings, LinkPurpose.RESET_PASSWORD, token, now=utcnow())
        user = await get_user(session, claims.user_id)
        spent = not is_current(settings, LinkPurpose.RESET_PASSWORD, user, claims)
    except KushError as error:
        return _link_refused(request, pages, viewer, error)
    if spent:
        return _link_refused(request, pages, viewer, InvalidLink())
    return pages.render(request, "reset_password.html", viewer=viewer, token=token, errors={})


@router.post("/reset-password", dependencies=[CheckedForm])
async def reset_password(
    request: Request,
    viewer: PageViewer,
    session: DbSession,
    pages: Templates,
    settings: AppSettings,
    hasher: Hasher,
    token: Text = "",
    password: Text = "",
) -> Response:
    try:
        user = await flows.reset_password(
            session, settings, token=token, password=password, hasher=hasher
        )
    except LinkRefused as error:
        return _link_refused(request, pages, viewer, error)
    except KushError as error:
        return pages.render(
            request,
            "reset_password.html",
            viewer=viewer,
            token=token,
            errors={"password": error.detail},
            status_code=422,
        )
    # Every other sign-in has ended; this browser is signed in afresh.
    cookie = await sessions.open_session(
        session, user, user_agent=request.headers.get("user-agent", "")
    )
    return signed_in(request, cookie, "/account?saved=reset")


@router.get("/verify-email")
async def verify_email(
    request: Request,
    viewer: PageViewer,
    session: DbSession,
    pages: Templates,
    settings: AppSettings,
    token: str = "",
) -> Response:
    return await _followed(
        request,
        pages,
        viewer,
        flows.verify_email(session, settings, token=token),
        title="Your address is confirmed",
        message="Thank you: {email} is confirmed. You can subscribe whenever you like.",
    )


@router.post("/account/verify-email", dependencies=[CheckedForm])
async def resend_verification(
    request: Request,
    limiter: Limiter,
    user: PageUser,
    session: DbSession,
    settings: AppSettings,
    next: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """A new link to confirm the address; back to the account page, or to the plans
    when asked from there (``next=/pricing``, the one other page that offers it)."""
    from_pricing = next == "/pricing"
    try:
        await flows.resend_verification(
            session, limiter, settings, address=client_ip(request), user=user
        )
    except flows.EmailAlreadyVerified:
        return RedirectResponse("/pricing" if from_pricing else "/account", status_code=303)
    sent = "/pricing?verification=sent" if from_pricing else "/account?saved=verification"
    return RedirectResponse(sent, status_code=303)


@router.post("/account/email", dependencies=[CheckedForm])
async def change_email(
    request: Request,
    limiter: Limiter,
    user: PageUser,
    session: DbSession,
    pages: Templates,
    settings: AppSettings,
    hasher: Hasher,
    new_email: Text = "",
    email_password: Text = "",
) -> Response:
    try:
        await flows.request_email_change(
            session,
            limiter,
            settings,
            address=client_ip(request),
            user=user,
            new_email=normalize_email(new_email),
            password=email_password,
            hasher=hasher,
        )
    except ValueError as error:
        errors = {"new_email": str(error)}
    except KushError as error:
        fields = {"email": "new_email", "password": "email_password"}
        errors = {fields.get(error.extra.get("field", ""), "email_form"): error.detail}
    else:
        return RedirectResponse("/account?saved=email", status_code=303)
    return await account_page(
        request,
        user,
        session,
        pages,
        form={"name": user.name, "new_email": new_email},
        errors=errors,
        status_code=422,
    )


@router.get("/account/email/confirm")
async def confirm_email_change(
    request: Request,
    viewer: PageViewer,
    session: DbSession,
    pages: Templates,
    settings: AppSettings,
    token: str = "",
) -> Response:
    return await _followed(
        request,
        pages,
        viewer,
        flows.confirm_email_change(session, settings, token=token),
        title="Your address is changed",
        message="Your account now uses {email}. We told your old address too.",
    )


async def _followed(
    request: Request,
    pages: Pages,
    viewer: User | None,
    following: Coroutine[Any, Any, User],
    *,
    title: str,
    message: str,
) -> Response:
    """The page an emailed link opens: what it did (``message`` names the address
    as ``{email}``), or why it cannot be used."""
    try:
        user = await following
    except KushError as error:
        return _link_refused(request, pages, viewer, error)
    return _outcome(request, pages, viewer, title=title, message=message.format(email=user.email))


def _link_refused(
    request: Request, pages: Pages, viewer: User | None, error: KushError
) -> Response:
    return _outcome(
        request, pages, viewer, title="This link does not work", message=error.detail, status=400
    )
