"""Who is looking at a page, and whether a form really came from our pages."""

from typing import Annotated

from fastapi import Depends, Request

from kushfilms.accounts import sessions
from kushfilms.accounts.deps import CsrfFailed
from kushfilms.db import transaction
from kushfilms.deps import ReadSession
from kushfilms.errors import Forbidden, Unauthorized
from kushfilms.kit import csrf
from kushfilms.models import Role, User
from kushfilms.state import app_state
from kushfilms.web.templating import Pages, csrf_seed


class LoginRequired(Unauthorized):
    """Pages answer this with a redirect to the sign-in page."""

    code = "login_required"
    message = "Sign in to see this page."


async def _page_viewer(request: Request, session: ReadSession) -> User | None:
    token = request.cookies.get(sessions.COOKIE)
    if not token:
        return None
    found = await sessions.find_session(session, token)
    if found is None:
        return None
    web_session, user = found
    if sessions.needs_touch(web_session):
        async with transaction(app_state(request).db.writer) as writer:
            await sessions.touch(writer, web_session.id)
    request.state.viewer = user  # for the error page, should this request end in one
    return user


async def _page_user(
    request: Request, viewer: Annotated[User | None, Depends(_page_viewer)]
) -> User:
    if viewer is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(next=target)
    return viewer


async def _page_admin(user: Annotated[User, Depends(_page_user)]) -> User:
    if user.role != Role.ADMIN:
        raise Forbidden("This page is for administrators.")
    return user


async def _checked_form(request: Request) -> None:
    """Refuse a state-changing request that does not carry this browser's CSRF token."""
    if request.method in csrf.SAFE_METHODS:
        return
    token = request.headers.get(csrf.HEADER)
    if token is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        token = str((await request.form()).get(csrf.FIELD, ""))
    if not csrf.token_valid(request.app.state.csrf_key, csrf_seed(request), token):
        raise CsrfFailed()


async def _pages(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


PageViewer = Annotated[User | None, Depends(_page_viewer)]
PageUser = Annotated[User, Depends(_page_user)]
PageAdmin = Annotated[User, Depends(_page_admin)]
CheckedForm = Depends(_checked_form)
Templates = Annotated[Pages, Depends(_pages)]
