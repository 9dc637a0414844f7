"""Settings: the only reader of the environment.

Every setting is an environment variable with the prefix ``KF_`` (also read from
a ``.env`` file in the working directory). The README lists them all.
"""

import os
import secrets
from email.utils import parseaddr
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import argon2
from limits import RateLimitItem, parse
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Video bitrate (kbit/s) per rung, by the rung's short side in pixels.
DEFAULT_LADDER_BITRATES = {360: 800, 480: 1400, 720: 2800, 1080: 5000, 2160: 14000}
_PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "dev", "development"}
_MIN_SECRET_LENGTH = 32
# OWASP's minimum argon2id costs, "an equal level of defense" traded between CPU and
# memory: time cost -> least memory (KiB), all at parallelism 1; from time cost 5 on,
# 7 MiB. https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html
_OWASP_ARGON2ID_MIN_MEMORY_KIB = {1: 47104, 2: 19456, 3: 12288, 4: 9216, 5: 7168}
# argon2 itself needs 8 KiB of memory per lane.
_ARGON2_KIB_PER_LANE = 8


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KF_", env_file=".env", extra="ignore", frozen=True
    )

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: str = ""
    database_read_url: str = ""
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_connect_timeout_seconds: float = Field(default=5, gt=0, le=300)
    database_statement_timeout_seconds: float = Field(default=60, gt=0, le=3600)
    redis_url: str = ""
    secret_key: SecretStr = SecretStr("")

    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=30, ge=1, le=365)
    # The argon2id cost of password hashes; argon2-cffi's defaults (RFC 9106's second
    # recommendation). A hash made at another cost is remade at its owner's next sign-in.
    password_hash_time_cost: int = Field(default=argon2.DEFAULT_TIME_COST, ge=1, le=32)
    password_hash_memory_kib: int = Field(
        default=argon2.DEFAULT_MEMORY_COST, ge=_ARGON2_KIB_PER_LANE, le=4 * 1024 * 1024
    )
    password_hash_parallelism: int = Field(default=argon2.DEFAULT_PARALLELISM, ge=1, le=64)

    rate_limit_api: str = "100/minute"
    rate_limit_login: str = "5/minute"
    rate_limit_login_failures_per_address: str = "20/10 minutes"
    rate_limit_register: str = "20/hour"
    # Emails about an account asked for (reset links, verification, email changes),
    # per client address and per email address.
    rate_limit_account_emails: str = "5/hour"
    # Whether a viewer must follow the link sent to their address before paying.
    require_verified_email_to_subscribe: bool = True
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    cache_seconds: float = Field(default=10.0, ge=0, le=3600)

    storage_url: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: SecretStr = SecretStr("")
    upload_dir: Path = Path()
    upload_max_bytes: int = Field(default=20 * 1024**3, ge=1024)
    upload_expiry_hours: int = Field(default=24, ge=1)
    ffmpeg_path: str = ""
    ladder_bitrates: Annotated[dict[int, int], NoDecode] = dict(DEFAULT_LADDER_BITRATES)
    media_url_seconds: int = Field(default=6 * 3600, ge=60)
    # Segment URLs (and the media playlists naming them) are signed for this long;
    # players fetch the playlist again for fresh ones.
    segment_url_seconds: int = Field(default=300, ge=1, le=24 * 3600)
    # How long one answer to "may this grant still play?" serves a viewer's playlists.
    playback_check_seconds: float = Field(default=5, ge=0, le=300)
    free_max_height: int = Field(default=480, ge=144)
    basic_max_height: int = Field(default=720, ge=144)
    premium_max_height: int = Field(default=2160, ge=144)
    free_streams: int = Field(default=1, ge=1, le=100)
    basic_streams: int = Field(default=2, ge=1, le=100)
    premium_streams: int = Field(default=4, ge=1, le=100)
    basic_price_cents: int = Field(default=299, ge=0)
    premium_price_cents: int = Field(default=499, ge=0)
    currency: str = Field(default="usd", pattern=r"^[a-z]{3}$")
    stripe_secret_key: SecretStr = SecretStr("")
    stripe_webhook_secret: SecretStr = SecretStr("")
    stripe_price_basic: str = ""
    stripe_price_premium: str = ""
    stripe_api_base: str = "https://api.stripe.com"
    stripe_webhook_tolerance: int = Field(default=300, ge=1)
    past_due_grace_days: float = Field(default=7, ge=0)
    stream_idle_seconds: int = Field(default=60, ge=1)
    public_url: str = ""  # where emails and payment pages send people back to
    mail_backend: Literal["", "file", "smtp", "ses"] = ""  # "": smtp with KF_SMTP_URL, else file
    smtp_url: SecretStr = SecretStr("")
    smtp_timeout: float = Field(default=30, gt=0, le=600)
    ses_region: str = ""
    ses_endpoint_url: str = ""
    mail_from: str = "Kush Films <no-reply@localhost>"
    media_delivery: Literal["app", "nginx"] = "app"
    nginx_internal_prefix: str = "/_protected_media/"
    job_lease_seconds: int = Field(default=120, ge=2)
    worker_in_serve: bool = True
    worker_threads: int = Field(default=1, ge=1, le=16)
    shutdown_drain_seconds: int = Field(default=30, ge=0, le=3600)
    body_read_timeout_seconds: float = Field(default=30, gt=0, le=3600)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    forwarded_allow_ips: str = "127.0.0.1"
    cors_origins: Annotated[list[str], NoDecode] = []
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("ladder_bitrates", mode="before")
    @classmethod
    def _parse_ladder(cls, value: object) -> object:
        """``360=800,720=2800``: rung height = video kbit/s; rungs not named keep defaults."""
        if not isinstance(value, str):
            return value
        ladder = dict(DEFAULT_LADDER_BITRATES)
        for item in filter(None, (part.strip() for part in value.split(","))):
            height, _, rate = item.partition("=")
            if not (height.strip().isdigit() and rate.strip().isdigit()):
                raise ValueError(f"expected HEIGHT=KBITS, got {item!r}")
            if int(height) not in DEFAULT_LADDER_BITRATES:
                raise ValueError(f"no rung {height}; rungs are {sorted(DEFAULT_LADDER_BITRATES)}")
            ladder[int(height)] = int(rate)
        return ladder

    @field_validator(
        "rate_limit_api",
        "rate_limit_login",
        "rate_limit_login_failures_per_address",
        "rate_limit_register",
        "rate_limit_account_emails",
    )
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        try:
            parse(value)
        except ValueError as error:
            raise ValueError(f"not a rate limit like '100/minute': {value!r}") from error
        return value

    @field_validator("storage_url")
    @classmethod
    def _check_storage(cls, value: str) -> str:
        if value and not value.startswith(("file:///", "s3://")):
            raise ValueError("use file:///path or s3://bucket/prefix")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _check_smtp_url(cls, value: SecretStr) -> SecretStr:
        url = urlsplit(value.get_secret_value())
        if not url.scheme:
            return value
        if url.scheme not in ("smtp", "smtps") or not url.hostname:
            raise ValueError("use smtp://user:password@host:port or smtps://…")
        if url.scheme == "smtps" and "starttls=true" in url.query.lower():
            raise ValueError("smtps:// is TLS from the start; starttls=true is for smtp://")
        return value

    @field_validator("mail_from")
    @classmethod
    def _check_mail_from(cls, value: str) -> str:
        if "@" not in parseaddr(value)[1]:
            raise ValueError(f"not an address like 'Kush Films <no-reply@example.com>': {value!r}")
        return value

    @field_validator("database_url", "database_read_url")
    @classmethod
    def _use_async_drivers(cls, value: str) -> str:
        return async_database_url(value) if value else value

    @model_validator(mode="after")
    def _resolve_defaults(self) -> "Settings":
        data_dir = self.data_dir.expanduser().resolve()
        object.__setattr__(self, "data_dir", data_dir)
        if not self.storage_url:
            object.__setattr__(self, "storage_url", (data_dir / "media").as_uri())
        if self.upload_dir == Path():
            object.__setattr__(self, "upload_dir", data_dir / "uploads")
        if not self.database_url:
            object.__setattr__(
                self, "database_url", f"sqlite+aiosqlite:///{data_dir / 'kushfilms.db'}"
            )
        if not self.secret_key.get_secret_value():
            if self.env == "production":
                raise ValueError("KF_SECRET_KEY must be set when KF_ENV=production")
            object.__setattr__(self, "secret_key", SecretStr(_stored_secret_key(data_dir)))
        elif self.env == "production":
            _refuse_weak_secret(self.secret_key.get_secret_value())
        return self

    @model_validator(mode="after")
    def _check_password_hashing(self) -> "Settings":
        memory, lanes = self.password_hash_memory_kib, self.password_hash_parallelism
        if memory < _ARGON2_KIB_PER_LANE * lanes:
            raise ValueError(
                f"KF_PASSWORD_HASH_MEMORY_KIB={memory} is too little for"
                f" KF_PASSWORD_HASH_PARALLELISM={lanes}: argon2 needs at least"
                f" {_ARGON2_KIB_PER_LANE} KiB per lane ({_ARGON2_KIB_PER_LANE * lanes})"
            )
        if self.env == "production":
            _refuse_weak_password_hashing(self.password_hash_time_cost, memory)
        return self

    @model_validator(mode="after")
    def _resolve_mail_backend(self) -> "Settings":
        has_smtp = bool(self.smtp_url.get_secret_value())
        if not self.mail_backend:
            object.__setattr__(self, "mail_backend", "smtp" if has_smtp else "file")
        elif self.mail_backend == "smtp" and not has_smtp:
            raise ValueError("KF_MAIL_BACKEND=smtp needs KF_SMTP_URL")
        return self

    @property
    def uses_stripe(self) -> bool:
        """Stripe when a secret key is set; otherwise the built-in local checkout."""
        return bool(self.stripe_secret_key.get_secret_value())

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def jobs_url(self) -> str:
        """Where the job queue lives: Redis when configured, else SQLite beside the data."""
        return self.redis_url or f"sqlite:///{self.data_dir / 'jobs.db'}"

    @property
    def read_database_url(self) -> str:
        return self.database_read_url or self.database_url

    @cached_property
    def api_limit(self) -> RateLimitItem:
        return parse(self.rate_limit_api)

    @cached_property
    def login_limit(self) -> RateLimitItem:
        return parse(self.rate_limit_login)

    @cached_property
    def login_failures_limit(self) -> RateLimitItem:
        return parse(self.rate_limit_login_failures_per_address)

    @cached_property
    def register_limit(self) -> RateLimitItem:
        return parse(self.rate_limit_register)

    @cached_property
    def account_emails_limit(self) -> RateLimitItem:
        return parse(self.rate_limit_account_emails)


def async_database_url(url: str) -> str:
    """Accept the URLs operators usually have and pick the async driver for them."""
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url.removeprefix(plain)
    return url


def _refuse_weak_secret(value: str) -> None:
    if value.lower() in _PLACEHOLDER_SECRETS or len(value) < _MIN_SECRET_LENGTH:
        raise ValueError(
            f"KF_SECRET_KEY is too weak for production: use at least {_MIN_SECRET_LENGTH}"
            " random characters (python -c 'import secrets; print(secrets.token_urlsafe())')"
        )


def _refuse_weak_password_hashing(time_cost: int, memory_kib: int) -> None:
    least = _OWASP_ARGON2ID_MIN_MEMORY_KIB[min(time_cost, max(_OWASP_ARGON2ID_MIN_MEMORY_KIB))]
    if memory_kib < least:
        raise ValueError(
            f"KF_PASSWORD_HASH_MEMORY_KIB={memory_kib} with KF_PASSWORD_HASH_TIME_COST="
            f"{time_cost} is below OWASP's minimum for argon2id in production: use at least"
            f" {least} KiB at this time cost (19456 KiB, 19 MiB, at time cost 2); see"
            " https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html"
        )


def _stored_secret_key(data_dir: Path) -> str:
    """Generate a key once and keep it, so tokens survive restarts."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    # Written aside, then linked into place: when two workers start together,
    # one link wins and both read the same complete key.
    draft = data_dir / f".secret_key.{os.getpid()}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_urlsafe(48))
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text().strip()
