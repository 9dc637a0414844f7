"""Errors are values with a status, rendered as ``{"error": {"code", "message"}}``."""

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar

import asyncpg  # type: ignore[import-untyped]  # asyncpg has no types
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import exc as sa
from starlette.exceptions import HTTPException

log = logging.getLogger(__name__)


class KushError(Exception):
    """An expected failure: a status, a stable code and a message for people."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    message: ClassVar[str] = "The request could not be processed."
    # A security event (say, refresh-token reuse) is recorded even though the
    # request fails; such errors commit the transaction instead of rolling back.
    commits: ClassVar[bool] = False

    def __init__(
        self,
        message: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        self.detail = message or type(self).message
        self.headers = dict(headers or {})
        self.extra = extra
        super().__init__(self.detail)

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.detail, **self.extra}}


class BadRequest(KushError):
    pass


class Unauthorized(KushError):
    status = 401
    code = "unauthorized"
    message = "Sign in to continue."

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"}, **extra)


class Forbidden(KushError):
    status = 403
    code = "forbidden"
    message = "You are not allowed to do that."


class NotFound(KushError):
    status = 404
    code = "not_found"
    message = "Not found."


class Conflict(KushError):
    status = 409
    code = "conflict"
    message = "That conflicts with the current state."


class Unprocessable(KushError):
    status = 422
    code = "validation_error"
    message = "The request is not valid."


class RateLimited(KushError):
    status = 429
    code = "rate_limited"
    message = "Too many requests."

    def __init__(self, message: str | None = None, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class ServiceUnavailable(KushError):
    """A service the request needs (the database) does not answer; try again shortly."""

    status = 503
    code = "service_unavailable"
    message = "The service is briefly unavailable; please try again in a moment."
    retry_after = 5  # seconds: a database restart or failover usually takes about this

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": str(self.retry_after)})


# What a database that is down, restarting or out of reach raises, directly or
# as the cause of SQLAlchemy's error. Errors of a query itself (a constraint, a
# syntax error) are not among them: they stay 500s or their domain's 4xx.
_UNAVAILABLE = (
    ConnectionError,  # refused, reset: nothing listens, or it went away
    TimeoutError,  # a connect or statement timeout (asyncio's is the same class)
    sa.TimeoutError,  # no pooled connection came free in time
    sa.OperationalError,  # the driver's "cannot operate": SQLite locked or unreadable, …
    sa.InterfaceError,
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.exceptions.OperatorInterventionError,  # 57: shutting down, starting up
    asyncpg.exceptions.InsufficientResourcesError,  # 53: too many connections, disk full
    asyncpg.InterfaceError,  # the connection closed under the driver
)


def is_database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database cannot be reached now, rather than that
    the request was wrong or the code is: answered 503 with Retry-After, not 500."""
    for link in _causes(error):
        if isinstance(link, sa.DBAPIError) and link.connection_invalidated:
            return True
        if isinstance(link, _UNAVAILABLE):
            return True
    return False


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error, the driver's error it wraps, and what caused each, in turn."""
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        orig = link.orig if isinstance(link, sa.DBAPIError) else None
        if isinstance(orig, BaseException) and id(orig) not in seen:
            seen.add(id(orig))
            yield orig
        link = link.__cause__


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing, invalid or expired credentials",
    403: "Not allowed for this account",
    404: "Not found",
    409: "Conflicts with the current state",
    410: "Gone: expired or removed",
    412: "Precondition failed",
    413: "Request body too large",
    415: "Unsupported content type",
    422: "Validation failed",
    429: "Rate limit exceeded",
    460: "Checksum mismatch",
    500: "Unexpected server error",
    502: "The payment provider did not answer",
    503: "Service unavailable",
}
COMMON_ERRORS = (400, 413, 415, 422, 429, 500)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error statuses."""
    return {
        status: {"model": ErrorResponse, "description": _DESCRIPTIONS[status]}
        for status in statuses
    }


def error_json(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


def _field_name(location: Iterable[Any]) -> str:
    parts = [str(part) for part in location if part not in ("body",)]
    return ".".join(parts) or "body"


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    if any(error["type"] == "json_invalid" for error in errors):
        detail = errors[0].get("ctx", {}).get("error", "invalid JSON")
        return error_json(400, "malformed_json", f"The request body is not valid JSON: {detail}.")
    if any(
        tuple(error["loc"]) == ("body",) and isinstance(error.get("input"), bytes)
        for error in errors
    ):
        return error_json(
            415, "unsupported_media_type", "Send the request body as application/json."
        )
    details = [
        {"field": _field_name(error["loc"]), "message": _describe(error)} for error in errors
    ]
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:3])
    return error_json(422, "validation_error", summary, details=details)


def _describe(error: Mapping[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "is required"
    message = str(error["msg"])
    # Pydantic prefixes custom validator messages; people do not need it.
    return message.removeprefix("Value error, ")


_HTTP_CODES = {
    404: ("not_found", "No such endpoint."),
    405: ("method_not_allowed", "This endpoint does not accept that method."),
    413: ("payload_too_large", "The request body is too large."),
}


# Pages answer errors in HTML; the web layer installs the renderer.
PageErrorRenderer = Callable[[Request, int, str, str], Response | None]


def install_error_handlers(app: FastAPI, page_errors: PageErrorRenderer | None = None) -> None:
    """JSON errors for the API; ``page_errors`` may answer for pages instead."""

    def respond(request: Request, json: JSONResponse, code: str, message: str) -> Response:
        if page_errors is not None:
            page = page_errors(request, json.status_code, code, message)
            if page is not None:
                page.headers.update({k: v for k, v in json.headers.items() if k == "retry-after"})
                return page
        return json

    async def on_kush_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, KushError)
        json = JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)
        return respond(request, json, exc.code, exc.detail)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        json = validation_error_response(exc)
        return respond(request, json, "validation_error", "The request is not valid.")

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code, message = _HTTP_CODES.get(exc.status_code, ("http_error", str(exc.detail)))
        json = JSONResponse(
            {"error": {"code": code, "message": message}},
            status_code=exc.status_code,
            headers=exc.headers,
        )
        return respond(request, json, code, message)

    async def on_database_error(request: Request, exc: Exception) -> Response:
        if not is_database_unavailable(exc):
            raise exc  # a 500, answered by on_unexpected
        log.warning(
            "database unavailable on %s %s: %s: %s",
            request.method,
            request.url.path,
            type(exc).__name__,
            exc,
        )
        return await on_kush_error(request, ServiceUnavailable())

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        message = "Something went wrong on our side."
        return respond(
            request, error_json(500, "internal_error", message), "internal_error", message
        )

    app.add_exception_handler(KushError, on_kush_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    # Registered by class, so that they are answered inside the app like a KushError
    # (a 503 on a connection kept open), not by the last-resort handler, after
    # which the server closes the connection.
    for kind in (sa.SQLAlchemyError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        app.add_exception_handler(kind, on_database_error)
    app.add_exception_handler(Exception, on_unexpected)
