"""The habits a Python team expects: typed packages ship ``py.typed``, the pre-commit hooks
run the very commands of ``make lint typecheck``, locally, the licence is the declared one,
and the version is written once."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from bridge.runtime import VERSION
from processkit.distribution import DISTRIBUTION, distribution_version

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("schemas", "processkit", "services", "bridge", "mdbridge")


def _make_recipe(target: str) -> list[str]:
    text = (ROOT / "Makefile").read_text()
    body = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", text, re.M)
    assert body is not None, target
    return [line.strip().replace("$(BIN)/", ".venv/bin/") for line in body.group(1).splitlines()]


def test_every_typed_package_ships_py_typed() -> None:
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]
    for package in PACKAGES:
        assert (ROOT / package / "py.typed").is_file(), package
        assert "py.typed" in package_data[package], package


def test_pre_commit_runs_the_make_checks_locally() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert {repo["repo"] for repo in config["repos"]} == {"local"}  # nothing downloaded
    assert {hook["language"] for hook in hooks} == {"system"}
    entries = {hook["entry"].replace(" --force-exclude", "") for hook in hooks}
    make = {*_make_recipe("lint"), *_make_recipe("typecheck")}
    assert make <= entries | {e + " ." for e in entries}


def test_the_licence_is_the_declared_apache_2() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    text = (ROOT / "LICENSE").read_text()
    assert declared == "Apache-2.0"
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_the_version_is_written_once_and_read_from_the_metadata() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTION
    declared = project["version"]
    assert distribution_version() == declared
    assert declared == VERSION  # what the bridge reports
    chart = yaml.safe_load((ROOT / "helm" / "mdbridge" / "Chart.yaml").read_text())
    assert chart["appVersion"] == declared  # Helm needs its own copy: it must agree
    literal = re.compile(rf"""["']{re.escape(declared)}["']""")
    written = [
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if literal.search(path.read_text())
    ]
    assert written == []


def test_the_cli_reports_the_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mdbridge", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == f"mdbridge {distribution_version()}"
