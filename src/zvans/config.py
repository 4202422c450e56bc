"""One settings object: defaults < zvans.toml < ZVANS_* environment variables.

``load_settings`` turns pydantic's validation errors into a ``ConfigError`` whose message
names the key and what is wrong, so start-up stops with one readable line.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from zvans.errors import ConfigError

DEFAULT_CONFIG_FILE = "zvans.toml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZVANS_", extra="forbid", validate_default=True)

    database_url: str = Field(
        "sqlite:///var/zvans.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user:pw@host:port/db",
    )
    data_dir: Path = Field(Path("var"), description="Recordings, voice messages, prompt cache")
    host: str = Field("127.0.0.1", description="Web server address")
    port: int = Field(8000, ge=1, le=65535, description="Web server port")
    sip_host: str = Field("127.0.0.1", description="SIP listening address")
    sip_port: int = Field(5060, ge=0, le=65535, description="SIP port (UDP and TCP)")
    sip_domain: str = Field("zvans.local", description="SIP realm for digest authentication")
    rtp_port_min: int = Field(20000, ge=1024, le=65534, description="First RTP port")
    rtp_port_max: int = Field(30000, ge=1025, le=65535, description="Last RTP port")
    media_workers: int = Field(
        0, ge=0, le=32, description="Processes relaying and recording bridged calls "
        "(0: media in the main process)")
    outbound_trunk: str = Field(
        "", description="SIP trunk for callbacks and click-to-call: "
        "sip:[user[:password]@]host[:port][;transport=tcp]; empty = no outbound calls")
    secret_key: str = Field("", description="Session signing key; generated into data_dir if empty")
    language: Literal["lv", "en"] = Field("lv", description="Default UI language")
    demo_mode: bool = Field(False, description="Write e-mails to the log instead of sending")
    smtp_host: str = Field("", description="SMTP server for password-reset mail")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port")
    smtp_from: str = Field("zvans@localhost", description="Sender of password-reset mail")
    desktop_lost_limit_s: int = Field(
        900, ge=0, description="Stop offering calls after the desktop was closed this long"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level")

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if value.startswith("sqlite:///") or value == "sqlite://":
            return value
        if value.startswith("postgresql://"):
            return "postgresql+psycopg://" + value.removeprefix("postgresql://")
        if value.startswith("postgresql+psycopg://"):
            return value
        raise ValueError("must start with sqlite:/// or postgresql+psycopg://")

    @field_validator("rtp_port_max")
    @classmethod
    def _check_rtp_range(cls, value: int, info: object) -> int:
        data = getattr(info, "data", {})
        low = data.get("rtp_port_min")
        if low is not None and value <= low:
            raise ValueError(f"must be greater than rtp_port_min ({low})")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = os.environ.get("ZVANS_CONFIG", DEFAULT_CONFIG_FILE)
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_file),
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def session_secret(self) -> str:
        """The signing key: configured, or generated once and kept in data_dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key


def load_settings(**overrides: object) -> Settings:
    """Build the settings or raise ConfigError naming the bad key."""
    config_file = os.environ.get("ZVANS_CONFIG")
    if config_file and not Path(config_file).exists():
        raise ConfigError(f"configuration file {config_file} (ZVANS_CONFIG) does not exist")
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "?"
        value = first.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        raise ConfigError(
            f"configuration error: {key}: {first['msg']}{shown}", key=key
        ) from None
    except Exception as exc:  # a broken TOML file
        raise ConfigError(f"configuration error: cannot read the configuration: {exc}") from None
