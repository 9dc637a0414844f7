import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from kushfilms.accounts import service
from kushfilms.accounts.deps import AdminUser, CurrentUser, Hasher, Tokens
from kushfilms.accounts.schemas import (
    AuthResponse,
    LoginRequest,
    RefreshRequest,
    RegisterRequest,
    RoleChange,
    UserOut,
)
from kushfilms.accounts.signin import sign_in
from kushfilms.db import DbSession, ReadSession
from kushfilms.errors import COMMON_ERRORS, error_responses
from kushfilms.kit.pagination import Page, PageQuery, to_page
from kushfilms.kit.text import SingleLine
from kushfilms.notify import EmailKind, queue_email
from kushfilms.ratelimit import RateLimiter, client_ip

router = APIRouter(prefix="/api/auth", tags=["auth"], responses=error_responses(*COMMON_ERRORS))
admin_router = APIRouter(
    prefix="/api/admin/users",
    tags=["admin: users"],
    responses=error_responses(*COMMON_ERRORS, 401, 403),
)


def _limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.limiter
    return limiter


def _auth_response(signed_in: service.Session) -> AuthResponse:
    return AuthResponse(
        user=UserOut.model_validate(signed_in.user),
        access_token=signed_in.access_token,
        refresh_token=signed_in.refresh_token,
        expires_in=signed_in.expires_in,
    )


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409),
    summary="Create a viewer account and sign in",
)
async def register(
    body: RegisterRequest, request: Request, session: DbSession, tokens: Tokens, hasher: Hasher
) -> AuthResponse:
    settings = request.app.state.settings
    await _limiter(request).enforce(
        settings.register_limit,
        "register",
        client_ip(request),
        message="Too many accounts created from this address.",
    )
    user = await service.register(
        session, email=body.email, password=body.password, name=body.name, hasher=hasher
    )
    await queue_email(session, EmailKind.WELCOME, user)
    return _auth_response(await service.start_session(session, user, tokens))


@router.post(
    "/login",
    responses=error_responses(401),
    summary="Sign in with email and password",
    description="Limited per address and email, and in failed attempts per address.",
)
async def login(
    body: LoginRequest, request: Request, session: DbSession, tokens: Tokens, hasher: Hasher
) -> AuthResponse:
    user = await sign_in(
        session,
        _limiter(request),
        request.app.state.settings,
        address=client_ip(request),
        email=body.email,
        password=body.password,
        hasher=hasher,
    )
    return _auth_response(await service.start_session(session, user, tokens))


@router.post(
    "/refresh",
    responses=error_responses(401),
    summary="Trade a refresh token for a new token pair",
)
async def refresh(body: RefreshRequest, session: DbSession, tokens: Tokens) -> AuthResponse:
    return _auth_response(await service.refresh_session(session, body.refresh_token, tokens))


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a refresh token and the session it belongs to",
)
async def logout(body: RefreshRequest, session: DbSession) -> Response:
    await service.end_session(session, body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", responses=error_responses(401), summary="The signed-in user")
async def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)


@admin_router.get("", summary="List and search users")
async def list_users(
    _: AdminUser,
    session: ReadSession,
    page: PageQuery,
    search: Annotated[
        SingleLine | None, Query(max_length=100, description="Part of an email or name")
    ] = None,
) -> Page[UserOut]:
    found = await service.list_users(session, search=search, page=page)
    return to_page(found, UserOut.model_validate)


@admin_router.put("/{user_id}", responses=error_responses(404, 409), summary="Change a user's role")
async def change_role(
    user_id: uuid.UUID, body: RoleChange, _: AdminUser, session: DbSession
) -> UserOut:
    user = await service.change_role(session, user_id=user_id, role=body.role)
    return UserOut.model_validate(user)
