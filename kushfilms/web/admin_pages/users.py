"""People with accounts: search them, and make them administrators or viewers."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from kushfilms.accounts import admins
from kushfilms.accounts import service as accounts
from kushfilms.deps import DbSession, ReadSession
from kushfilms.errors import Unprocessable
from kushfilms.kit.pagination import PageRequest
from kushfilms.kit.text import SingleLine
from kushfilms.models import Role
from kushfilms.web.admin_pages.common import PROBLEMS, back_to, is_htmx, page_messages
from kushfilms.web.deps import CheckedForm, PageAdmin, Templates

router = APIRouter()
PAGE_SIZE = 25
ROLES = {Role.USER: "Viewer", Role.ADMIN: "Administrator"}


@router.get("/admin/users", response_class=HTMLResponse)
async def users(
    request: Request,
    admin: PageAdmin,
    session: ReadSession,
    pages: Templates,
    search: Annotated[SingleLine, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    found = await admins.list_users(
        session, search=search.strip() or None, page=PageRequest(page=page, page_size=PAGE_SIZE)
    )
    notice, problem = page_messages(request)
    partial = is_htmx(request) and request.headers.get("hx-target") == "user-results"
    response = pages.render(
        request,
        "admin/_user_results.html" if partial else "admin/users.html",
        viewer=admin,
        found=found,
        search=search,
        roles=ROLES,
        notice=notice,
        problem=problem,
        back=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
    )
    response.headers["Vary"] = "HX-Request, HX-Target"
    return response


@router.post("/admin/users/{user_id}/role", dependencies=[CheckedForm])
async def change_role(
    request: Request,
    user_id: uuid.UUID,
    admin: PageAdmin,
    session: DbSession,
    pages: Templates,
    role: Annotated[SingleLine, Form(max_length=20)] = "",
    back: Annotated[SingleLine, Form(max_length=2000)] = "",
) -> Response:
    if role not in ROLES:
        raise Unprocessable("Choose a role from the list.")
    problem = ""
    try:
        await admins.change_role(session, user_id=user_id, role=Role(role))
    except admins.LastAdmin:
        problem = "last_admin"
    if is_htmx(request):
        user = await accounts.get_user(session, user_id)
        return pages.render(
            request,
            "admin/_user_row.html",
            viewer=admin,
            user=user,
            roles=ROLES,
            row_problem=PROBLEMS.get(problem, ""),
            back=back_to(back, "/admin/users"),
            status_code=409 if problem else 200,
        )
    params = {"problem": problem} if problem else {"notice": "role"}
    return RedirectResponse(back_to(back, "/admin/users", **params), status_code=303)
