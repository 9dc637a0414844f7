from pathlib import Path

import pytest
from pydantic import ValidationError

from kushfilms.config import Settings


def test_a_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path, _env_file=None)
    second = Settings(data_dir=tmp_path, _env_file=None)

    key = first.secret_key.get_secret_value()
    assert len(key) >= 32
    assert second.secret_key.get_secret_value() == key
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_production_needs_a_strong_secret_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="KF_SECRET_KEY must be set"):
        Settings(env="production", data_dir=tmp_path, _env_file=None)
    with pytest.raises(ValidationError, match="too weak"):
        Settings(env="production", data_dir=tmp_path, secret_key="changeme", _env_file=None)
    strong = Settings(env="production", data_dir=tmp_path, secret_key="k" * 40, _env_file=None)
    assert not (tmp_path / "secret_key").exists()
    assert strong.secret_key.get_secret_value() == "k" * 40


def test_defaults_are_embedded(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, _env_file=None)

    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'kushfilms.db'}"
    assert settings.read_database_url == settings.database_url
    assert settings.is_sqlite
    assert settings.redis_url == ""
    assert settings.api_limit.amount == 100


def test_settings_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KF_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KF_DATABASE_URL", "postgresql://kf@db.internal/kushfilms")
    monkeypatch.setenv("KF_DATABASE_READ_URL", "postgres://kf@replica.internal/kushfilms")
    monkeypatch.setenv("KF_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("KF_RATE_LIMIT_LOGIN", "10/minute")

    settings = Settings(_env_file=None)

    assert settings.database_url == "postgresql+asyncpg://kf@db.internal/kushfilms"
    assert settings.read_database_url == "postgresql+asyncpg://kf@replica.internal/kushfilms"
    assert not settings.is_sqlite
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.login_limit.amount == 10


def test_a_dotenv_file_is_read(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"KF_DATA_DIR={tmp_path}\nKF_PORT=9123\n")

    assert Settings(_env_file=dotenv).port == 9123


@pytest.mark.parametrize(
    ("field", "value"),
    [("rate_limit_api", "lots"), ("port", 0), ("workers", 0), ("cache_seconds", -1)],
)
def test_nonsense_settings_are_refused(tmp_path: Path, field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        Settings(data_dir=tmp_path, _env_file=None, **{field: value})


@pytest.mark.parametrize(
    ("time_cost", "memory_kib", "accepted"),
    [
        (2, 19456, True),  # OWASP's minimum for argon2id: 19 MiB, 2 iterations
        (2, 19455, False),
        (1, 47104, True),  # and its equivalents, trading memory for time
        (1, 19456, False),
        (3, 12288, True),
        (5, 7168, True),
        (9, 7168, True),
        (9, 7167, False),
    ],
)
def test_production_refuses_password_hashing_below_owasps_minimum(
    tmp_path: Path, time_cost: int, memory_kib: int, accepted: bool
) -> None:
    def production() -> Settings:
        return Settings(
            env="production",
            data_dir=tmp_path,
            secret_key="k" * 40,
            password_hash_time_cost=time_cost,
            password_hash_memory_kib=memory_kib,
            password_hash_parallelism=1,
            _env_file=None,
        )

    if accepted:
        assert production().password_hash_memory_kib == memory_kib
    else:
        with pytest.raises(ValidationError, match="below OWASP's minimum for argon2id"):
            production()


@pytest.mark.parametrize(
    "cost",
    [
        {"password_hash_time_cost": 0},
        {"password_hash_memory_kib": 4},
        {"password_hash_memory_kib": 64 * 1024 * 1024},  # 64 GiB: bytes meant as KiB
        {"password_hash_parallelism": 0},
        {"password_hash_memory_kib": 8, "password_hash_parallelism": 2},  # 8 KiB per lane
    ],
)
def test_password_hashing_costs_argon2_cannot_run_are_refused(
    tmp_path: Path, cost: dict[str, int]
) -> None:
    with pytest.raises(ValidationError):
        Settings(data_dir=tmp_path, _env_file=None, **cost)
