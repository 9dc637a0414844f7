"""Who is calling: the viewer behind a bearer token, and whether they may act."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kushfilms.accounts import service
from kushfilms.accounts.service import InvalidToken, TokenExpired
from kushfilms.accounts.tokens import TokenConfig, TokenError, read_access_token
from kushfilms.db import ReadSession
from kushfilms.errors import Forbidden, Unauthorized
from kushfilms.models import Role, User

_bearer = HTTPBearer(auto_error=False, description="An access token from /api/auth/login")


async def token_config(request: Request) -> TokenConfig:
    config: TokenConfig = request.app.state.tokens
    return config


Tokens = Annotated[TokenConfig, Depends(token_config)]


async def _optional_viewer(
    session: ReadSession,
    tokens: Tokens,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User | None:
    if credentials is None:
        return None
    try:
        user_id = read_access_token(tokens, credentials.credentials)
    except TokenError as error:
        raise (TokenExpired if error.expired else InvalidToken)(str(error)) from error
    try:
        return await service.get_user(session, user_id)
    except service.UserNotFound as error:
        raise InvalidToken("The account behind this token no longer exists.") from error


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
