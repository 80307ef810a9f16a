"""The browser libraries the pages use: which npm packages, which files, and the copy step.

They are not committed (neither ``node_modules`` nor the minified files): ``make vendor``
(which ``make run``, ``make test`` and ``make wheel`` depend on) runs
``python -m bridge.pages.vendor``, which installs the pinned versions from the npm registry
into ``.venv/npm-vendor`` and copies the files the pages load, with each licence, into
``bridge/pages/static/vendor/`` (git-ignored, in the wheel's package-data). Nothing is loaded
from a CDN at run time.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

VENDOR_DIR = Path(__file__).parent / "static" / "vendor"


class Library(NamedTuple):
    package: str  # npm name
    version: str  # pinned: the pages are tested against exactly this
    licence: str
    files: tuple[str, ...]  # inside the package, copied flat into VENDOR_DIR


LIBRARIES = (
    Library(
        "uplot",
        "1.6.32",
        "MIT",
        ("dist/uPlot.iife.min.js", "dist/uPlot.min.css"),
    ),
    # Apache-2.0; TradingView asks for attribution and a link to tradingview.com on the page:
    # the chart keeps the library's own attribution logo (attributionLogo, on by default).
    Library(
        "lightweight-charts",
        "5.3.0",
        "Apache-2.0",
        ("dist/lightweight-charts.standalone.production.js",),
    ),
    Library(
        "swagger-ui-dist",
        "5.35.0",
        "Apache-2.0",
        ("swagger-ui-bundle.js", "swagger-ui.css"),
    ),
)


def target_name(lib: Library, name: str) -> str:
    """Where a package file lands in VENDOR_DIR: flat, a NOTICE named by its package."""
    base = Path(name).name
    return f"{lib.package}.{base}" if base == "NOTICE" else base


def missing(vendor_dir: Path = VENDOR_DIR) -> list[str]:
    """The vendored files that are not there (empty when the pages have all they load)."""
    names = [target_name(lib, name) for lib in LIBRARIES for name in lib.files]
    return [name for name in names if not (vendor_dir / name).is_file()]


def install(prefix: Path, vendor_dir: Path = VENDOR_DIR) -> None:
    """``npm install`` the pinned packages under ``prefix`` and copy their files over."""
    specs = [f"{lib.package}@{lib.version}" for lib in LIBRARIES]
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("the pages need npm to fetch their libraries: install Node.js and npm")
    quiet = ["--no-save", "--no-audit", "--no-fund", "--loglevel=error"]
    subprocess.run([npm, "install", "--prefix", str(prefix), *quiet, *specs], check=True)
    vendor_dir.mkdir(parents=True, exist_ok=True)
    for lib in LIBRARIES:
        root = prefix / "node_modules" / lib.package
        for name in lib.files:
            shutil.copyfile(root / name, vendor_dir / target_name(lib, name))
        licence = root / "LICENSE"
        if licence.is_file():
            shutil.copyfile(licence, vendor_dir / f"{lib.package}.LICENSE")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", type=Path, default=Path(".venv/npm-vendor"))
    args = parser.parse_args(argv)
    install(args.prefix)
    left = missing()
    if left:
        print(f"still missing: {', '.join(left)}", file=sys.stderr)
        return 1
    print(f"vendored {len(LIBRARIES)} libraries into {VENDOR_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
