import uuid
from datetime import datetime
from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field

from kushfilms.kit import text
from kushfilms.kit.schema import RequestModel, ResponseModel
from kushfilms.models import Role


def normalize_email(value: str) -> str:
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(str(error)) from error
    return result.normalized.lower()


Email = Annotated[text.SingleLine, Field(max_length=320), AfterValidator(normalize_email)]
Password = Annotated[text.SingleLine, Field(min_length=1, max_length=1024)]
Name = Annotated[text.Name, Field(min_length=1, max_length=100)]


class RegisterRequest(RequestModel):
    email: Email
    password: Password
    name: Name


class LoginRequest(RequestModel):
    email: Email
    password: Password


class RefreshRequest(RequestModel):
    refresh_token: Annotated[text.SingleLine, Field(min_length=1, max_length=200)]


LinkToken = Annotated[text.SingleLine, Field(min_length=1, max_length=2048)]


class ForgotPasswordRequest(RequestModel):
    email: Email


class ResetPasswordRequest(RequestModel):
    token: LinkToken
    password: Password


class LinkRequest(RequestModel):
    token: LinkToken


class EmailChangeRequest(RequestModel):
    email: Email = Field(description="The new address; a link to confirm it is sent there")
    password: Password = Field(description="The current password")


class Accepted(ResponseModel):
    message: str = Field(description="What happens next, for people")


class RoleChange(RequestModel):
    role: Role


class UserOut(ResponseModel):
    id: uuid.UUID
    email: str
    name: str
    role: Role
    created_at: datetime
    email_verified: bool = Field(description="Whether the owner confirmed the address")


class AuthResponse(ResponseModel):
    user: UserOut
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int = Field(description="Seconds until the access token expires")
