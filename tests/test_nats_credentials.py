"""Each NATS credential kind of ``NatsOptions`` connects to a nats-server that demands it."""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Iterator
from pathlib import Path

import nats
import nkeys
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from nats.errors import Error as NatsError

from bridge import BridgeSettings
from mdbridge.natsserver import NatsServer, free_port


def serve(tmp_path: Path, config: str) -> NatsServer:
    conf = tmp_path / "nats.conf"
    conf.write_text(config)
    store = tmp_path / "store"
    return NatsServer(
        store_dir=store, port=free_port(), config_file=conf, log_file=tmp_path / "nats.log"
    ).start()


@pytest.fixture
def stop_after() -> Iterator[list[NatsServer]]:
    servers: list[NatsServer] = []
    yield servers
    for server in servers:
        server.stop()


async def connects(settings: BridgeSettings) -> bool:
    try:
        client = await nats.connect(
            **settings.nats_connect_kwargs(), allow_reconnect=False, connect_timeout=3
        )
    except (NatsError, OSError):
        return False
    await client.close()
    return True


async def test_token(tmp_path: Path, stop_after: list[NatsServer]) -> None:
    server = serve(tmp_path, 'authorization { token: "s3cr3t-token-for-tests" }')
    stop_after.append(server)
    assert await connects(BridgeSettings(nats_url=server.url, nats_token="s3cr3t-token-for-tests"))
    assert not await connects(BridgeSettings(nats_url=server.url, nats_token="wrong"))


async def test_nkey_seed_file(tmp_path: Path, stop_after: list[NatsServer]) -> None:
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    public = nkeys.from_seed(bytearray(seed)).public_key.decode()
    (tmp_path / "user.nk").write_bytes(seed)
    server = serve(tmp_path, f'authorization {{ users = [ {{ nkey: "{public}" }} ] }}')
    stop_after.append(server)
    good = BridgeSettings(nats_url=server.url, nats_nkey_seed=str(tmp_path / "user.nk"))
    assert await connects(good)
    other = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    (tmp_path / "other.nk").write_bytes(other)
    assert not await connects(
        BridgeSettings(nats_url=server.url, nats_nkey_seed=str(tmp_path / "other.nk"))
    )


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mdbridge test nats")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_tls_with_a_private_ca(tmp_path: Path, stop_after: list[NatsServer]) -> None:
    cert_file, key_file = _self_signed(tmp_path)
    server = serve(tmp_path, f'tls {{ cert_file: "{cert_file}"\n key_file: "{key_file}" }}')
    stop_after.append(server)
    url = server.url.replace("nats://", "tls://")
    assert await connects(BridgeSettings(nats_url=url, nats_tls_ca=str(cert_file)))
    # without the CA the server's certificate is not trusted
    assert not await connects(BridgeSettings(nats_url=url))
