"""Start-up safety (auth off means loopback only) and ``mdbridge token``."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge import BridgeSettings, create_app
from bridge.access.auth import TokenVerifier, load_keys
from bridge.errors import InsecureBindError
from mdbridge.cli import main
from tests.support.tokens import SECRET, rsa_key, write_private_pem, write_public_pem


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "bridge.internal"])
def test_auth_off_refuses_a_non_loopback_address(host: str) -> None:
    with pytest.raises(InsecureBindError, match="MDBRIDGE_ALLOW_INSECURE_BIND"):
        create_app(BridgeSettings(host=host))


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_auth_off_on_loopback_starts(host: str) -> None:
    assert create_app(BridgeSettings(host=host)).state.access.auth_enabled is False


def test_auth_on_may_listen_anywhere() -> None:
    app = create_app(BridgeSettings(host="0.0.0.0", auth_enabled=True, auth_secret=SECRET))
    assert app.state.access.auth_enabled is True


def test_forcing_an_insecure_bind_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bridge.access.policy"):
        create_app(BridgeSettings(host="0.0.0.0", allow_insecure_bind=True))
    assert any(
        "auth is OFF" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records
    )


@pytest.mark.slow  # over a second on an idle machine: not in make test-fast
def test_bridge_command_exits_2_with_the_reason() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDBRIDGE_")}
    done = subprocess.run(
        [sys.executable, "-m", "mdbridge", "bridge", "--host", "0.0.0.0", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0 with auth off" in done.stderr
    assert "refusing to listen" in done.stdout  # and in the JSON log


def verify(token: str, **settings: object) -> dict[str, object]:
    s = BridgeSettings(auth_enabled=True, **settings)  # type: ignore[arg-type]
    return TokenVerifier(load_keys(s), s).verify(token).describe()


def test_token_command_mints_with_the_bridge_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MDBRIDGE_AUTH_SECRET", SECRET)
    args = ["token", "desk7", "--scope", "md:read", "md:l2", "--symbols", "*.SH", "000001.SZ"]
    args += ["--ttl", "2h", "--tier", "1", "--max-subscriptions", "7"]
    assert main(args) == 0
    minted = capsys.readouterr().out.strip()
    claims = verify(minted, auth_secret=SECRET)
    assert claims["subject"] == "desk7"
    assert claims["scopes"] == ["md:l2", "md:read"]
    assert claims["symbols"] == ["*.SH", "000001.SZ"]
    assert claims["tier"] == 1
    assert claims["max_subscriptions"] == 7
    assert abs(float(claims["expires_at"]) - (time.time() + 7200)) < 60  # type: ignore[arg-type]


def test_token_command_with_a_private_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = write_private_pem(tmp_path / "signing.pem", rsa_key())
    assert main(["token", "svc", "--key-file", key_file, "--kid", "2026-11"]) == 0
    minted = capsys.readouterr().out.strip()
    public = write_public_pem(tmp_path / "public.pem", rsa_key())
    claims = verify(minted, auth_public_key_file=public, auth_public_key_kid="2026-11")
    assert claims["subject"] == "svc"
    assert claims["scopes"] == ["md:read"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["token", "x"], "no key"),
        (["token", "x", "--secret-file", "/nonexistent"], "No such file"),
        (["token", "x", "--key-file", "/nonexistent"], "FileNotFoundError"),
    ],
)
def test_token_command_errors(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    needle: str,
) -> None:
    monkeypatch.delenv("MDBRIDGE_AUTH_SECRET", raising=False)
    assert main(args) == 2
    assert needle in capsys.readouterr().err


def test_token_command_refuses_bad_patterns(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MDBRIDGE_AUTH_SECRET", SECRET)
    assert main(["token", "x", "--symbols", "md.quote.>"]) == 2
    assert "not a symbol pattern" in capsys.readouterr().err
