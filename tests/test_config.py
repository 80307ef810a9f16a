"""One precedence order for every process: flags > MDBRIDGE_* env > config file > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge import BridgeSettings
from mdbridge import config_cmd
from mdbridge.cli import build_parser, main
from mdbridge.launcher import RunSettings
from mdbridge.logs import LogSettings
from processkit.errors import ConfigFileError
from processkit.settings import CONFIG_ENV

DOC = Path(__file__).parent.parent / "docs" / "configuration.md"


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("MDBRIDGE_PORT", "MDBRIDGE_HOST", "MDBRIDGE_LOG_LEVEL", "MDBRIDGE_NATS_URL"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "mdbridge.toml"
    path.write_text(
        'port = 7001\nhost = "0.0.0.0"\nmax_subscriptions = 42\nlog_level = "debug"\n'
        'nats_password = "s3cret"\nmax_subscriptons = 1\n',
        encoding="utf-8",
    )
    monkeypatch.setenv(CONFIG_ENV, str(path))
    return path


def test_the_file_beats_defaults_the_environment_beats_the_file_flags_beat_all(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert BridgeSettings().port == 7001
    assert BridgeSettings().max_subscriptions == 42
    assert BridgeSettings().heartbeat_interval_s == 15.0  # default
    assert RunSettings().port == 7001  # one file, every process
    assert LogSettings().log_level == "DEBUG"
    monkeypatch.setenv("MDBRIDGE_PORT", "7002")
    assert BridgeSettings().port == 7002
    assert RunSettings().port == 7002
    assert BridgeSettings(port=7003).port == 7003  # what the entry points pass for flags
    assert BridgeSettings(port=7003).host == "0.0.0.0"


def test_a_missing_config_file_is_an_error_not_a_silent_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigFileError):
        BridgeSettings()
    monkeypatch.setenv(CONFIG_ENV, "")  # main() sets it from --config; restored after the test
    assert main(["--config", str(tmp_path / "nope.toml"), "config"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_mdbridge_config_shows_values_and_where_they_came_from(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MDBRIDGE_HOST", "127.0.0.2")
    text = config_cmd.effective()
    assert f"# config file: {config_file}" in text
    assert "port = 7001  # config file" in text
    assert "host = '127.0.0.2'  # environment" in text
    assert "heartbeat_interval_s = 15.0  # default" in text
    assert "s3cret" not in text
    assert "nats_password = '********'  # config file" in text
    assert "typo?): max_subscriptons" in text


def test_the_configuration_table_is_generated_and_current() -> None:
    generated = config_cmd.markdown(build_parser())
    assert DOC.read_text(encoding="utf-8") == generated, (
        "docs/configuration.md is out of date: run "
        "`mdbridge config --markdown --output docs/configuration.md`"
    )
    for settings in (BridgeSettings, RunSettings, LogSettings):
        for name in settings.model_fields:
            assert f"`MDBRIDGE_{name.upper()}`" in generated
    assert "| `port` | `MDBRIDGE_PORT` | `--port` |" in generated
    assert "`MDBRIDGE_CONFIG` | `--config`" in generated
