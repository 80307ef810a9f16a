"""The layers are contracts: ``lint-imports`` passes on the tree and fails on a wrong import.

Each case copies the packages and pyproject.toml to a temporary directory, adds one import
that breaks a rule of docs/architecture.md ("Floor plan") and runs the real ``lint-imports``
there: it must fail and name the broken contract.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("schemas", "processkit", "services", "bridge", "mdbridge")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _copy_tree(target: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    # the copy ahead of the editable install; wide, so no name is wrapped
    env = os.environ | {"PYTHONPATH": str(cwd), "COLUMNS": "200"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    _copy_tree(tmp_path)
    result = _lint_imports(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "contract", "named"),
    [
        # a low room reaching up: the fan-out core must not know the REST API
        (
            "bridge/core/hub.py",
            "import bridge.rest.routes",
            "Rooms of bridge/, high to low",
            "bridge.core.hub -> bridge.rest.routes",
        ),
        # the two process sides never import each other
        (
            "services/runner.py",
            "import bridge.settings",
            "Top level: mdbridge -> bridge | services -> processkit | schemas",
            "services.runner -> bridge.settings",
        ),
        # the client ships alone
        (
            "mdbridge/client/state.py",
            "import schemas.codes",
            "mdbridge.client stands alone: of ours only processkit.backoff, no server library",
            "mdbridge.client.state -> schemas.codes",
        ),
        # the contract stays pure data
        (
            "schemas/codes.py",
            "import opentelemetry.sdk.resources",
            "schemas is pure data: no settings sources, telemetry, broker or web libraries",
            "schemas.codes -> opentelemetry",
        ),
        # a circle inside one room
        (
            "bridge/observe/alerts.py",
            "import bridge.observe.monitor",
            "No import circles between sibling modules or rooms",
            "No cycles are allowed in bridge.observe",
        ),
    ],
)
def test_a_wrong_import_breaks_its_contract(
    tmp_path: Path, module: str, bad_import: str, contract: str, named: str
) -> None:
    _copy_tree(tmp_path)
    path = tmp_path / module
    path.write_text(path.read_text() + f"\n{bad_import}  # deliberately wrong\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout
    broken = " ".join(result.stdout.split("Broken contracts", 1)[-1].split())
    assert contract in broken
    assert named in broken  # where it breaks is named


def test_the_floor_plan_lists_the_rooms_in_the_contract_order() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = {c["id"]: c for c in project["tool"]["importlinter"]["contracts"]}
    layers = [layer.replace(" ", "") for layer in contracts["bridge-rooms"]["layers"]]
    text = (ROOT / "docs" / "architecture.md").read_text()
    table = text.split("Rooms of `bridge/`", 1)[1].split("\n\n", 2)[1]
    cells = [line.split(" | ", 1)[0] for line in table.splitlines()[2:]]
    documented = [re.sub(r"[`/\\ ]", "", cell).removeprefix("|") for cell in cells]
    assert documented == layers  # e.g. "app:server:embed:drain", "admin|pages", "rest"
