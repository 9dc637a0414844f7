"""Who is calling: the viewer behind a bearer token, and whether they may act."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.accounts import service, sessions
from kushfilms.accounts.passwords import PasswordHasher
from kushfilms.accounts.service import InvalidToken, TokenExpired
from kushfilms.accounts.tokens import TokenConfig, TokenError, read_access_token
from kushfilms.deps import ReadSession
from kushfilms.errors import Forbidden, Unauthorized
from kushfilms.kit import csrf
from kushfilms.models import Role, User
from kushfilms.state import app_state


class CsrfFailed(Forbidden):
    code = "csrf_failed"
    message = "This request lacks the page's CSRF token; reload the page and try again."


_bearer = HTTPBearer(auto_error=False, description="An access token from /api/auth/login")


async def token_config(request: Request) -> TokenConfig:
    return app_state(request).tokens


Tokens = Annotated[TokenConfig, Depends(token_config)]


async def password_hasher(request: Request) -> PasswordHasher:
    return app_state(request).password_hasher


Hasher = Annotated[PasswordHasher, Depends(password_hasher)]


async def _optional_viewer(
    request: Request,
    session: ReadSession,
    tokens: Tokens,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User | None:
    if credentials is None:
        return await _cookie_viewer(request, session)
    try:
        claims = read_access_token(tokens, credentials.credentials)
    except TokenError as error:
        raise (TokenExpired if error.expired else InvalidToken)(str(error)) from error
    try:
        return await service.get_viewer(session, claims.user_id, session_id=claims.session_id)
    except service.UserNotFound as error:
        raise InvalidToken("The account behind this token no longer exists.") from error


async def _cookie_viewer(request: Request, session: AsyncSession) -> User | None:
    """The pages' signed-in user, for scripts of our own pages calling the API.

    A cookie is sent by the browser whatever site made the request, so every
    request that changes something must also carry the page's CSRF token.
    """
    token = request.cookies.get(sessions.COOKIE)
    if not token:
        return None
    found = await sessions.find_session(session, token)
    if found is None:
        return None
    if request.method not in csrf.SAFE_METHODS and not csrf.token_valid(
        csrf_key(request), request.cookies.get(csrf.COOKIE), request.headers.get(csrf.HEADER)
    ):
        raise CsrfFailed()
    return found[1]


def csrf_key(request: Request) -> bytes:
    key: bytes = request.app.state.csrf_key
    return key


async def _current_user(user: Annotated[User | None, Depends(_optional_viewer)]) -> User:
    if user is None:
        raise Unauthorized()
    return user


async def _admin_user(user: Annotated[User, Depends(_current_user)]) -> User:
    if user.role != Role.ADMIN:
        raise Forbidden("Administrators only.")
    return user


OptionalViewer = Annotated[User | None, Depends(_optional_viewer)]
CurrentUser = Annotated[User, Depends(_current_user)]
AdminUser = Annotated[User, Depends(_admin_user)]
