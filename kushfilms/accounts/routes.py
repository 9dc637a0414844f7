import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from kushfilms.accounts import admins, flows, service
from kushfilms.accounts.deps import AdminUser, CurrentUser, Hasher, Tokens
from kushfilms.accounts.schemas import (
    Accepted,
    AuthResponse,
    EmailChangeRequest,
    ForgotPasswordRequest,
    LinkRequest,
    LoginRequest,
    RefreshRequest,
    RegisterRequest,
    ResetPasswordRequest,
    RoleChange,
    UserOut,
)
from kushfilms.accounts.signin import sign_in
from kushfilms.deps import AppSettings, DbSession, Limiter, PageQuery, ReadSession
from kushfilms.errors import COMMON_ERRORS, error_responses
from kushfilms.kit.pagination import Page, to_page
from kushfilms.kit.text import SingleLine
from kushfilms.ratelimit import client_ip
from kushfilms.state import app_state

router = APIRouter(prefix="/api/auth", tags=["auth"], responses=error_responses(*COMMON_ERRORS))
admin_router = APIRouter(
    prefix="/api/admin/users",
    tags=["admin: users"],
    responses=error_responses(*COMMON_ERRORS, 401, 403),
)


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
    limiter: Limiter,
    body: RegisterRequest,
    request: Request,
    session: DbSession,
    tokens: Tokens,
    hasher: Hasher,
) -> AuthResponse:
    user = await flows.sign_up(
        session,
        limiter,
        app_state(request).settings,
        address=client_ip(request),
        email=body.email,
        password=body.password,
        name=body.name,
        hasher=hasher,
    )
    return _auth_response(await service.start_session(session, user, tokens))


@router.post(
    "/login",
    responses=error_responses(401),
    summary="Sign in with email and password",
    description="Limited per address and email, and in failed attempts per address.",
)
async def login(
    limiter: Limiter,
    body: LoginRequest,
    request: Request,
    session: DbSession,
    tokens: Tokens,
    hasher: Hasher,
) -> AuthResponse:
    user = await sign_in(
        session,
        limiter,
        app_state(request).settings,
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


@router.post(
    "/password/forgot",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(429),
    summary="Email a link to choose a new password",
    description="Answers 202 whether or not the address is an account's, in the same time;"
    " the link works once, within an hour. Limited per client address and per email"
    " (`KF_RATE_LIMIT_ACCOUNT_EMAILS`).",
)
async def forgot_password(
    limiter: Limiter,
    body: ForgotPasswordRequest,
    request: Request,
    session: DbSession,
    settings: AppSettings,
) -> Accepted:
    await flows.request_password_reset(
        session, limiter, settings, address=client_ip(request), email=body.email
    )
    return Accepted(
        message="If this is the address of an account, a link to choose a new password"
        " is on its way; it works once, within an hour."
    )


@router.post(
    "/password/reset",
    responses=error_responses(400, 422),
    summary="Choose a new password with the emailed link's token, and sign in",
    description="Every other sign-in of the account ends. `invalid_link` when the token is"
    " forged or spent (used, or the password changed since), `link_expired` after an hour.",
)
async def reset_password(
    body: ResetPasswordRequest,
    session: DbSession,
    settings: AppSettings,
    tokens: Tokens,
    hasher: Hasher,
) -> AuthResponse:
    user = await flows.reset_password(
        session, settings, token=body.token, password=body.password, hasher=hasher
    )
    return _auth_response(await service.start_session(session, user, tokens))


@router.post(
    "/email/verify",
    responses=error_responses(400),
    summary="Confirm the account's address with the emailed link's token",
)
async def verify_email(body: LinkRequest, session: DbSession, settings: AppSettings) -> UserOut:
    return UserOut.model_validate(await flows.verify_email(session, settings, token=body.token))


@router.post(
    "/email/verify/resend",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(401, 409, 429),
    summary="Email the signed-in user a new link to confirm their address",
)
async def resend_verification(
    limiter: Limiter,
    user: CurrentUser,
    request: Request,
    session: DbSession,
    settings: AppSettings,
) -> Accepted:
    await flows.resend_verification(
        session, limiter, settings, address=client_ip(request), user=user
    )
    return Accepted(message="A new link to confirm your address is on its way.")


@router.post(
    "/email/change",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(401, 409, 422, 429),
    summary="Ask to move the account to another address",
    description="A link is sent to the new address; the account's address changes when it is"
    " followed (`/email/change/confirm`), and the old address is told.",
)
async def change_email(
    body: EmailChangeRequest,
    user: CurrentUser,
    request: Request,
    limiter: Limiter,
    session: DbSession,
    settings: AppSettings,
    hasher: Hasher,
) -> Accepted:
    await flows.request_email_change(
        session,
        limiter,
        settings,
        address=client_ip(request),
        user=user,
        new_email=body.email,
        password=body.password,
        hasher=hasher,
    )
    return Accepted(
        message="A link is on its way to the new address; your address changes when it is followed."
    )


@router.post(
    "/email/change/confirm",
    responses=error_responses(400, 409),
    summary="Move the account to the address the link's token was sent to",
)
async def confirm_email_change(
    body: LinkRequest, session: DbSession, settings: AppSettings
) -> UserOut:
    user = await flows.confirm_email_change(session, settings, token=body.token)
    return UserOut.model_validate(user)


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
    found = await admins.list_users(session, search=search, page=page)
    return to_page(found, UserOut.model_validate)


@admin_router.put("/{user_id}", responses=error_responses(404, 409), summary="Change a user's role")
async def change_role(
    user_id: uuid.UUID, body: RoleChange, _: AdminUser, session: DbSession
) -> UserOut:
    user = await admins.change_role(session, user_id=user_id, role=body.role)
    return UserOut.model_validate(user)
