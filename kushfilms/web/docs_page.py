"""The API reference page, with Swagger UI served from our own files."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from kushfilms.web.deps import Templates

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
async def docs(request: Request, pages: Templates) -> HTMLResponse:
    return pages.render(request, "docs.html", viewer=None)
