"""What the chart hands each process is accepted by that process: the bridge's and adapters'
own settings classes read the rendered environment, the bridge loads its token keys from the
mounted files and passes its bind check. A renamed or mistyped setting fails here."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bridge import BridgeSettings
from bridge.access.auth import load_keys
from bridge.access.policy import check_bind
from services.settings import AdapterSettings
from tests.support.deploy import (
    PRODUCTION_VALUES,
    RELEASE,
    Manifest,
    documents,
    find,
    load_yaml,
    render,
)

KEY_DIR = "/etc/mdbridge/auth"


def public_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


def jwks() -> str:
    """A one-key JWKS (EC P-256) as an issuer would publish it."""
    numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()

    def b64(n: int) -> str:
        return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()

    key = {"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig"}
    return json.dumps({"keys": [key | {"x": b64(numbers.x), "y": b64(numbers.y)}]})


def environment(
    docs: list[Manifest], deployment: str, secrets: dict[str, dict[str, str]], key_dir: Path
) -> dict[str, str]:
    """The container's environment as the kubelet builds it; mounted key files under key_dir."""
    container = find(docs, "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env |= find(docs, "ConfigMap", source["configMapRef"]["name"])["data"]
    for item in container["env"]:
        if "value" in item:
            value = str(item["value"]).replace("$(POD_NAME)", env.get("POD_NAME", ""))
        elif "fieldRef" in item["valueFrom"]:
            value = f"{deployment}-0"
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            value = secrets[ref["name"]][ref["key"]]
        env[item["name"]] = value.replace(KEY_DIR, str(key_dir))
    mounted = next(
        (v for v in container.get("volumeMounts", []) if v["mountPath"] == KEY_DIR), None
    )
    if mounted is not None:
        spec = find(docs, "Deployment", deployment)["spec"]["template"]["spec"]
        volume = next(v for v in spec["volumes"] if v["name"] == mounted["name"])
        for name, text in secrets[volume["secret"]["secretName"]].items():
            (key_dir / name).write_text(text)
    return env


def rendered_secrets(docs: list[Manifest]) -> dict[str, dict[str, str]]:
    return {
        doc["metadata"]["name"]: {k: base64.b64decode(v).decode() for k, v in doc["data"].items()}
        for doc in docs
        if doc["kind"] == "Secret"
    }


def bridge_settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> BridgeSettings:
    for name in [n for n in os.environ if n.startswith("MDBRIDGE_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return BridgeSettings()


def test_default_release_bridge_verifies_hs256_tokens(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    docs = documents(render())
    env = environment(docs, f"{RELEASE}-bridge", rendered_secrets(docs), tmp_path)
    settings = bridge_settings(monkeypatch, env)
    assert settings.auth_enabled is True
    assert settings.host == "0.0.0.0"
    assert [key.algorithm for key in load_keys(settings)] == ["HS256"]
    check_bind(settings)
    assert settings.nats_user == "bridge"
    assert settings.nats_password is not None
    assert len(settings.nats_servers()) == 3


def test_public_key_and_jwks_are_mounted_and_loaded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    values = {"auth": {"jwt": {"publicKey": public_key_pem(), "jwks": jwks(), "issuer": "i"}}}
    docs = documents(render(values))
    secrets = rendered_secrets(docs)
    assert set(secrets[f"{RELEASE}-auth"]) == {"public-key.pem", "jwks.json"}  # no HS256
    env = environment(docs, f"{RELEASE}-bridge", secrets, tmp_path)
    settings = bridge_settings(monkeypatch, env)
    assert settings.auth_secret is None
    assert settings.auth_issuer == "i"
    assert sorted(key.algorithm for key in load_keys(settings)) == ["ES256", "ES256"]


def test_production_release_reads_its_jwks_from_the_existing_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    docs = documents(render(load_yaml(PRODUCTION_VALUES)))
    existing = {  # the Secrets production keeps outside the chart
        "mdbridge-token-keys": {"jwks.json": jwks()},
        "mdbridge-nats-users": {f"{u}-password": u for u in ("adapter", "bridge")},
    }
    env = environment(docs, f"{RELEASE}-bridge", existing, tmp_path)
    settings = bridge_settings(monkeypatch, env)
    assert [key.kid for key in load_keys(settings)] == ["k1"]
    assert settings.auth_audience == "mdbridge"
    assert settings.allowed_origins == ["https://desk.example.com"]


def test_auth_off_is_said_out_loud(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    docs = documents(render({"auth": {"mode": "none"}}))
    env = environment(docs, f"{RELEASE}-bridge", rendered_secrets(docs), tmp_path)
    settings = bridge_settings(monkeypatch, env)
    assert settings.auth_enabled is False
    assert settings.allow_insecure_bind is True
    check_bind(settings)  # allowed, with a warning in the log
    assert not any(doc["metadata"]["name"] == f"{RELEASE}-auth" for doc in docs)


def test_adapters_provision_replicated_streams_as_their_source(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    docs = documents(render())
    secrets = rendered_secrets(docs)
    for role in ("primary", "backup"):
        env = environment(docs, f"{RELEASE}-adapter-{role}", secrets, tmp_path)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        settings = AdapterSettings()
        assert settings.source_id == f"sim-{role}"
        assert settings.stream_policy().replicas == 3
        assert settings.nats_user == "adapter"
