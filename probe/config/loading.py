"""`Settings`, every section together, and `load_settings()`: the TOML file, `PROBE_*`
variables and CLI overrides, validated once."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from probe.config.followups import PacketSettings, ThroughputSettings
from probe.config.measurement import (
    BlockpageSettings,
    ControlSettings,
    GeoipSettings,
    MeasureSettings,
    NetworkSettings,
    ResolverSettings,
    TimeoutSettings,
    TlsSettings,
)
from probe.config.services import (
    DaemonSettings,
    HelperSettings,
    ScheduleSettings,
    StorageSettings,
)
from probe.config.shipping import CollectorSettings, UploadSettings
from probe.config_errors import describe
from probe.errors import ConfigError
from probe.paths import default_data_dir


class Settings(BaseSettings):
    """Everything configurable, validated once at the entry point."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        env_prefix="PROBE_",
        env_nested_delimiter="__",
        nested_model_default_partial_update=True,
    )

    resolver: ResolverSettings = Field(default_factory=ResolverSettings)
    control: ControlSettings = Field(default_factory=ControlSettings)
    tls: TlsSettings = Field(default_factory=TlsSettings)
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    timeouts: TimeoutSettings = Field(default_factory=TimeoutSettings)
    measure: MeasureSettings = Field(default_factory=MeasureSettings)
    throughput: ThroughputSettings = Field(default_factory=ThroughputSettings)
    packets: PacketSettings = Field(default_factory=PacketSettings)
    blockpages: BlockpageSettings = Field(default_factory=BlockpageSettings)
    geoip: GeoipSettings = Field(default_factory=GeoipSettings)
    helper: HelperSettings = Field(default_factory=HelperSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    upload: UploadSettings = Field(default_factory=UploadSettings)
    collector: CollectorSettings = Field(default_factory=CollectorSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # init (the TOML file, via load_settings) < env; CLI flags are applied after.
        return (env_settings, init_settings)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from exc


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(
    path: Path | str | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    text: str | None = None,
) -> Settings:
    """Return validated Settings from the TOML file, `PROBE_*` variables and CLI overrides.

    `path` falls back to `PROBE_CONFIG`; no file at all means defaults. `text`, when given, is
    the file's content already read (the daemon hands its workers the config it validated).
    Raises ConfigError naming the file and the key on any problem.
    """
    chosen = path if path is not None else os.environ.get("PROBE_CONFIG") or None
    data: dict[str, Any] = {}
    source = "defaults"
    if text is not None:
        source = str(chosen or "<config>")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: invalid TOML: {exc}") from exc
    elif chosen is not None:
        source = str(chosen)
        data = _read_toml(Path(chosen))
    try:
        settings = Settings(**data)
        if overrides:
            # Flags beat the environment: re-apply them on top of what the file and env set,
            # with an env prefix no variable can have so the environment is not read again.
            merged = _merge(settings.model_dump(mode="python", exclude_unset=False), overrides)
            settings = Settings(**merged, _env_prefix="\x00")
    except ValidationError as exc:
        raise ConfigError(describe(exc, source)) from exc
    return settings


def resolve_data_dir(settings: Settings) -> Path:
    """`[storage] data_dir`, else systemd's $STATE_DIRECTORY, else a per-user default."""
    return settings.storage.data_dir or default_data_dir()
