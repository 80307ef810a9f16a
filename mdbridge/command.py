"""The ``mdbridge`` entry point: the CLI, or one line naming the extra a role needs.

Each host installs only its role's extra (``client``, ``adapter``, ``bridge``, ``run``), so
a command of another role finds a package missing; say which extra brings it instead of a
traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from processkit.distribution import DISTRIBUTION

OURS = frozenset({"schemas", "processkit", "services", "bridge", "mdbridge", "tests"})
# command -> the extra that has what it imports (anything else: the adapter host's)
EXTRA_OF_COMMAND = {"bridge": "bridge", "run": "run", "bench": "dev", "trace": "run"}


TOP_OPTIONS_WITH_VALUE = frozenset({"--log-level", "--config"})


def extra_for(argv: Sequence[str]) -> str:
    """The extra the command in ``argv`` needs: the first word that is not a top option."""
    words = iter(argv)
    for word in words:
        if word in TOP_OPTIONS_WITH_VALUE:
            next(words, None)
        elif not word.startswith("-"):
            return EXTRA_OF_COMMAND.get(word, "adapter")
    return "adapter"


def missing_extra_hint(module: str, extra: str) -> str:
    return (
        f"mdbridge: {module!r} is not installed: this command needs the {extra!r} extra, "
        f'pip install "{DISTRIBUTION}[{extra}]" (or ".[{extra}]" in a copy of the repository)'
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        from mdbridge.cli import main as cli_main

        return cli_main(args)
    except ModuleNotFoundError as exc:
        top = (exc.name or "").partition(".")[0]
        if not top or top in OURS:
            raise
        print(missing_extra_hint(top, extra_for(args)), file=sys.stderr)
        return 2
