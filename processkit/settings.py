"""The base of every process's settings: one precedence order for all of them.

CLI flags (passed as init values by the entry point) > ``MDBRIDGE_*`` environment variables >
the TOML config file named by ``MDBRIDGE_CONFIG`` (or ``--config``) > defaults. The file uses
the environment names without the prefix, in lower case (``port = 9000``), flat, and one file
serves every process: each reads the keys it knows. This module only declares the sources;
pydantic-settings reads the file when an entry point builds its settings.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from processkit.errors import ConfigFileError

ENV_PREFIX = "MDBRIDGE_"
CONFIG_ENV = f"{ENV_PREFIX}CONFIG"


def config_path() -> Path | None:
    """The config file in effect, if any; a path that does not exist is an error, not a no-op."""
    value = os.environ.get(CONFIG_ENV, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_file():
        raise ConfigFileError(f"{CONFIG_ENV}={value}: no such file")
    return path


class ProcessSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = config_path()
        if path is None:
            return (init_settings, env_settings)
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, path))
