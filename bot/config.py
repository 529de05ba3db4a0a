"""The bot's configuration: one TOML file, env overrides, secrets from files.

Precedence (highest first): environment (``BACKCHANNEL_`` prefix, nested with
``__``), the TOML file, the defaults here. Every table forbids unknown keys so
a typo is an error with its key path, never a silently ignored setting.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Self, TypeVar

from pydantic import BaseModel, Field, ValidationError, create_model, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot.capability import capabilities
from bot.ids import MXID_PATTERN
from bot.settings_base import Section

T = TypeVar("T", bound=BaseModel)


def read_secret(value: str | None, path: Path | None, what: str) -> str | None:
    """Return a secret given inline or as a ``*_file`` path (trailing newline dropped)."""
    if value is not None and path is not None:
        raise ValueError(f"set either {what} or {what}_file, not both")
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"{what}_file {path}: {exc.strerror}") from exc
    return value


class MatrixSettings(Section):
    homeserver: str = Field(
        description="Client-server API base URL, e.g. https://matrix.example.org"
    )
    user_id: str = Field(pattern=MXID_PATTERN, description="The bot's MXID")
    password: str | None = None
    password_file: Path | None = None
    access_token: str | None = None
    access_token_file: Path | None = None
    device_name: str = "backchannel"
    encryption: bool = True
    sync_timeout_ms: int = Field(default=30_000, ge=0)
    timeline_limit: int = Field(default=500, ge=10, le=1000)
    max_retries: int = Field(default=5, ge=0, le=20)
    cross_signing: bool = Field(
        default=True,
        description="cross-sign the bot's device (Element talks only to cross-signed devices)",
    )
    reset_cross_signing: bool = Field(
        default=False,
        description="replace cross-signing keys the bot has no private halves of (clients warn)",
    )

    @model_validator(mode="after")
    def _one_credential(self) -> Self:
        self.password = read_secret(self.password, self.password_file, "password")
        self.access_token = read_secret(self.access_token, self.access_token_file, "access_token")
        if not self.password and not self.access_token:
            raise ValueError(
                "set password (or password_file) or access_token (or access_token_file)"
            )
        if not self.homeserver.startswith(("http://", "https://")):
            raise ValueError("homeserver must start with http:// or https://")
        return self


class RoomSettings(Section):
    support: str = Field(pattern=r"^[!#]\S+$", description="room id of the shared support room")
    staff: str = Field(pattern=r"^[!#]\S+$", description="room id of the internal staff room")


UserId = Annotated[str, Field(pattern=MXID_PATTERN, description="a Matrix user id, @name:server")]


class RoleSettings(Section):
    admins: list[UserId] = Field(default_factory=list)
    engineers: list[UserId] = Field(default_factory=list)
    engineer_power_level: int | None = Field(
        default=50, description="members of the support room at or above this level are engineers"
    )


class BotSettings(Section):
    command_prefix: str = Field(default="!", min_length=1, max_length=3)
    data_dir: Path = Path("data")
    log_level: str = "INFO"
    # Events of different threads are handled in parallel, up to this many at once.
    max_concurrent_events: int = Field(default=32, ge=1, le=1024)


class WebSettings(Section):
    enabled: bool = True
    listen: str = Field(default="127.0.0.1:8080", pattern=r"^\S+:\d+$")
    ready_max_sync_age_s: float = 120.0
    # /readyz fails when events wait and none has finished for this long.
    ready_max_stall_s: float = Field(default=120.0, gt=0)


class Config(BaseSettings):
    """The core tables; each capability adds its own (see ``config_class``)."""

    model_config = SettingsConfigDict(
        env_prefix="BACKCHANNEL_",
        env_nested_delimiter="__",
        extra="forbid",
        toml_file=None,
    )

    matrix: MatrixSettings
    rooms: RoomSettings
    roles: RoleSettings = Field(default_factory=RoleSettings)
    bot: BotSettings = Field(default_factory=BotSettings)
    web: WebSettings = Field(default_factory=WebSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = init_settings.init_kwargs.pop("_toml_path", None)  # type: ignore[attr-defined]
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    def section(self, key: str, kind: type[T]) -> T:
        """A capability's table, typed; ``kind`` is the model the capability registered."""
        value = getattr(self, key)
        if not isinstance(value, kind):
            raise TypeError(f"[{key}] is {type(value).__name__}, not {kind.__name__}")
        return value

    def optional_section(self, key: str, kind: type[T]) -> T | None:
        """Like ``section`` for a table that may be absent (``[rt]``)."""
        return None if getattr(self, key, None) is None else self.section(key, kind)


@cache
def config_class() -> type[Config]:
    """``Config`` plus one field per installed capability's settings table, same keys as ever."""
    fields: dict[str, Any] = {}
    for cap in capabilities():
        if cap.settings_key is None or cap.settings_model is None:
            continue
        model = cap.settings_model
        if cap.settings_default:
            fields[cap.settings_key] = (model, Field(default_factory=model))
        else:
            fields[cap.settings_key] = (model | None, None)
    return create_model("Config", __base__=Config, __module__=__name__, **fields)


def build_config(**values: Any) -> Config:
    """A validated config from keyword tables (tests, demo); env overrides apply."""
    return config_class()(**values)


class ConfigProblem(Section):
    """One thing wrong with a config file, as shown to the operator."""

    where: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" + (f"  (hint: {self.hint})" if self.hint else "")


class ConfigError(Exception):
    def __init__(self, problems: list[ConfigProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


_HINTS = {
    "extra_forbidden": "unknown key; check the spelling against config/backchannel.example.toml",
    "missing": "this key is required",
    "string_pattern_mismatch": "see config/backchannel.example.toml for the expected form",
}


def _problems(exc: ValidationError) -> list[ConfigProblem]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "string_pattern_mismatch":
            msg = f"{err['input']!r} is not of the expected form"
        out.append(ConfigProblem(where=loc, message=msg, hint=_HINTS.get(err["type"], "")))
    return out


def load_config(path: Path, **overrides: Any) -> Config:
    """Load and validate ``path``; raise ConfigError listing every problem."""
    try:
        with path.open("rb") as fh:
            tomllib.load(fh)  # syntax errors first, with the line number
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem(where=str(path), message=exc.strerror or str(exc))]
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            [
                ConfigProblem(
                    where=str(path), message=f"not valid TOML: {exc}", hint="fix the syntax"
                )
            ]
        ) from exc
    try:
        # _toml_path is consumed by settings_customise_sources, not a field
        return config_class()(_toml_path=path, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigError(_problems(exc)) from exc
