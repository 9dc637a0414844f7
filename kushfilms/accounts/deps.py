"""Who is calling: the viewer behind a bearer token, and whether they may act."""

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.accounts import service, sessions
from kushfilms.accounts.passwords import PasswordHasher
from kushfilms.accounts.service import InvalidToken, TokenExpired
from kushfilms.accounts.tokens import AccessClaims, TokenConfig, TokenError, read_access_token
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
    return await _bearer_viewer(session, _claims(tokens, credentials))


def _claims(tokens: TokenConfig, credentials: HTTPAuthorizationCredentials) -> AccessClaims:
    try:
        return read_access_token(tokens, credentials.credentials)
    except TokenError as error:
        raise (TokenExpired if error.expired else InvalidToken)(str(error)) from error


async def _bearer_viewer(session: AsyncSession, claims: AccessClaims) -> User:
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


_REMEMBERED_VIEWERS = 4096


def viewer_credentials(tokens: TokenConfig) -> Callable[[bytes], bool]:
    """Whether an Authorization header holds a valid access token of a viewer who is
    not an administrator: public reads answer such a caller as they answer anyone
    (see :class:`Caller`), so the public response cache may serve them."""

    # A viewer's app sends the same token for its whole life: checked once, it is
    # remembered (with when it expires) instead of checking its signature again.
    viewers: OrderedDict[bytes, float] = OrderedDict()

    def check(header: bytes) -> bool:
        expires = viewers.get(header)
        if expires is not None:
            if time.time() < expires:
                return True
            del viewers[header]
        scheme, _, token = header.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer":
            return False
        try:
            claims = read_access_token(tokens, token.strip())
        except TokenError:
            return False
        if claims.role != Role.USER:
            return False
        viewers[header] = claims.expires_at
        if len(viewers) > _REMEMBERED_VIEWERS:
            viewers.popitem(last=False)
        return True

    return check


class Caller:
    """Whoever calls a public read, looked up only when the answer depends on it.

    A bearer token is checked at once (an expired or forged one is refused as
    everywhere else) but costs no query; :meth:`is_admin` reads the database
    only for a caller who claims to be an administrator, and only when asked.
    """

    def __init__(self, request: Request, tokens: TokenConfig, claims: AccessClaims | None) -> None:
        self._request = request
        self._claims = claims
        self._tokens = tokens

    @property
    def signed_in(self) -> bool:
        return self._claims is not None or sessions.COOKIE in self._request.cookies

    async def viewer(self) -> User | None:
        async with app_state(self._request).db.reader() as session:
            if self._claims is None:
                return await _cookie_viewer(self._request, session)
            return await _bearer_viewer(session, self._claims)

    async def is_admin(self) -> bool:
        if self._claims is not None and self._claims.role not in (None, Role.ADMIN):
            return False
        if not self.signed_in:
            return False
        viewer = await self.viewer()
        return viewer is not None and viewer.role == Role.ADMIN


async def _caller(
    request: Request,
    tokens: Tokens,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    return Caller(request, tokens, _claims(tokens, credentials) if credentials else None)


OptionalViewer = Annotated[User | None, Depends(_optional_viewer)]
CallerOf = Annotated[Caller, Depends(_caller)]
CurrentUser = Annotated[User, Depends(_current_user)]
AdminUser = Annotated[User, Depends(_admin_user)]
