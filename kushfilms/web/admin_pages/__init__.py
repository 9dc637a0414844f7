"""The admin console: the dashboard, films and their videos, categories, users, revenue."""

from fastapi import APIRouter

from kushfilms.web.admin_pages import (
    categories,
    dashboard,
    movie_editor,
    movies,
    revenue,
    users,
)

router = APIRouter(include_in_schema=False)
for part in (
    dashboard.router,
    movie_editor.router,
    movies.router,
    categories.router,
    users.router,
    revenue.router,
):
    router.include_router(part)
