"""Errors on pages: a page in the site's style, or off to the sign-in page."""

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from kushfilms.web.templating import Pages

_NOT_PAGES = ("/api/", "/media/", "/health", "/static/", "/openapi.json", "/docs")
TITLES = {
    400: "That did not work",
    403: "Not for you",
    404: "Nothing here",
    405: "Not like that",
    409: "Not right now",
    413: "Too large",
    422: "Please check the form",
    429: "Slow down",
    500: "Something broke",
    503: "Back in a moment",
}


def is_page(request: Request) -> bool:
    """Whether an error should be a page: not for the API, nor for a script's own
    request (the player's progress reports), which gets the API's JSON shape."""
    if request.url.path.startswith(_NOT_PAGES):
        return False
    if request.method in ("GET", "HEAD") or request.headers.get("hx-request"):
        return True
    return "text/html" in request.headers.get("accept", "")


def error_page(request: Request, pages: Pages, status: int, code: str, message: str) -> Response:
    if code == "login_required":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
    return pages.render(
        request,
        "error.html",
        viewer=getattr(request.state, "viewer", None),  # when the page had found who it is
        status_code=status,
        status=status,
        title=TITLES.get(status, "That did not work"),
        message=message,
    )
