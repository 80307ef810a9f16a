"""The ``mdbridge`` entry point: the CLI, or one line naming the extra a role needs.

Each host installs only its role's extra (``client``, ``adapter``, ``bridge``, ``run``), so
a command of another role finds a package missing; say which extra brings it instead of a
traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from schemas.distribution import DISTRIBUTION

OURS = frozenset({"schemas", "services", "bridge", "mdbridge", "tests"})


def missing_extra_hint(module: str) -> str:
    return (
        f"mdbridge: the package {module!r} is not installed; this host's role needs its extra: "
        f'pip install "{DISTRIBUTION}[adapter]" (adapter, record, replay, quality), '
        f'"{DISTRIBUTION}[bridge]" (bridge), "{DISTRIBUTION}[run]" (everything on one machine)'
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        from mdbridge.cli import main as cli_main

        return cli_main(argv)
    except ModuleNotFoundError as exc:
        top = (exc.name or "").partition(".")[0]
        if not top or top in OURS:
            raise
        print(missing_extra_hint(top), file=sys.stderr)
        return 2
