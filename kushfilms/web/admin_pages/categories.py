"""Categories: listed with their published films, made, renamed, and deleted after a
confirmation (their films stay, without a category)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.catalog import service as catalog
from kushfilms.deps import DbSession, ReadSession
from kushfilms.kit.pagination import PageRequest
from kushfilms.kit.text import check_name, text_problem
from kushfilms.models import User
from kushfilms.web.admin_pages.common import page_messages
from kushfilms.web.deps import CheckedForm, PageAdmin, Templates
from kushfilms.web.templating import Pages

router = APIRouter()
PAGE_SIZE = 50
NAME_MAX = 80  # as the catalogue's column
# Checked by _checked_name, which says next to the field what is wrong.
Name = Annotated[str, Form(max_length=1000)]
PageNumber = Annotated[int, Query(ge=1, le=100_000)]


def _checked_name(typed: str) -> tuple[str, str]:
    """The name to keep, and a sentence for the form when it cannot be kept ("" if it can)."""
    name = typed.strip()
    if not name:
        return name, "Give the category a name."
    if len(name) > NAME_MAX:
        return name, f"Use at most {NAME_MAX} characters."
    return name, text_problem(check_name, name) or ""


async def _list_page(
    request: Request,
    pages: Pages,
    session: AsyncSession,
    admin: User,
    *,
    page: int = 1,
    typed: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The list with the new-category form; ``typed`` and ``errors`` are keyed "new" for
    that form and by category id for a rename."""
    found = await catalog.list_categories(session, PageRequest(page=page, page_size=PAGE_SIZE))
    notice, problem = page_messages(request)
    return pages.render(
        request,
        "admin/categories.html",
        viewer=admin,
        found=found,
        typed=typed or {},
        errors=errors or {},
        notice=notice,
        problem=problem,
        status_code=status_code,
    )


@router.get("/admin/categories", response_class=HTMLResponse)
async def categories(
    request: Request, admin: PageAdmin, session: ReadSession, pages: Templates, page: PageNumber = 1
) -> HTMLResponse:
    return await _list_page(request, pages, session, admin, page=page)


@router.post("/admin/categories", dependencies=[CheckedForm])
async def create_category(
    request: Request, admin: PageAdmin, session: DbSession, pages: Templates, name: Name = ""
) -> Response:
    kept, problem = _checked_name(name)
    status = 422
    if not problem:
        try:
            await catalog.create_category(session, name=kept)
        except catalog.CategoryNameTaken as error:
            problem, status = error.detail, error.status
            await session.rollback()
        else:
            return RedirectResponse("/admin/categories?notice=category_created", 303)
    return await _list_page(
        request,
        pages,
        session,
        admin,
        typed={"new": name},
        errors={"new": problem},
        status_code=status,
    )


@router.post("/admin/categories/{category_id}/rename", dependencies=[CheckedForm])
async def rename_category(
    request: Request,
    category_id: uuid.UUID,
    admin: PageAdmin,
    session: DbSession,
    pages: Templates,
    name: Name = "",
) -> Response:
    kept, problem = _checked_name(name)
    status = 422
    if not problem:
        try:
            await catalog.update_category(session, category_id, {"name": kept})
        except catalog.CategoryNameTaken as error:
            problem, status = error.detail, error.status
            await session.rollback()
        else:
            return RedirectResponse("/admin/categories?notice=category_renamed", 303)
    key = str(category_id)
    return await _list_page(
        request,
        pages,
        session,
        admin,
        typed={key: name},
        errors={key: problem},
        status_code=status,
    )


@router.get("/admin/categories/{category_id}/delete", response_class=HTMLResponse)
async def confirm_delete(
    request: Request,
    category_id: uuid.UUID,
    admin: PageAdmin,
    session: ReadSession,
    pages: Templates,
) -> HTMLResponse:
    category = await catalog.get_category(session, category_id)
    return pages.render(
        request,
        "admin/category_delete.html",
        viewer=admin,
        category=category,
        published=await catalog.count_published(session, category_id),
    )


@router.post("/admin/categories/{category_id}/delete", dependencies=[CheckedForm])
async def delete_category(category_id: uuid.UUID, _: PageAdmin, session: DbSession) -> Response:
    await catalog.delete_category(session, category_id)
    return RedirectResponse("/admin/categories?notice=category_deleted", status_code=303)
