"""Page middleware: every browser gets a CSRF seed cookie; pages get a strict CSP."""

from http.cookies import SimpleCookie

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kushfilms.kit import csrf

_NOT_PAGES = ("/api/", "/media/", "/health", "/static/")


class CsrfSeedMiddleware:
    """Give a browser without one a CSRF seed cookie (see kushfilms.kit.csrf)."""

    def __init__(self, app: ASGIApp, *, secure: bool = False) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_NOT_PAGES) or _has_seed(scope):
            await self.app(scope, receive, send)
            return
        seed = csrf.new_seed()
        scope["kf_csrf_seed"] = seed
        cookie = f"{csrf.COOKIE}={seed}; Path=/; HttpOnly; SameSite=Lax"
        if self.secure or scope.get("scheme") == "https":
            cookie += "; Secure"

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _has_seed(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            jar.load(value.decode("latin-1"))
            if csrf.COOKIE in jar and jar[csrf.COOKIE].value:
                return True
    return False


def content_security_policy(media_origins: str, form_origins: str = "") -> str:
    """Scripts and styles from this site only; media also from the object store;
    forms post here, and may redirect to the payment provider's pages."""
    extra = f" {media_origins}" if media_origins else ""
    forms = f" {form_origins}" if form_origins else ""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            # Uppy sets style attributes; no script can run from a style.
            "style-src 'self' 'unsafe-inline'",
            f"img-src 'self' data: blob:{extra}",
            f"media-src 'self' blob:{extra}",
            f"connect-src 'self'{extra}",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            f"form-action 'self'{forms}",
            "frame-ancestors 'none'",
        ]
    )
