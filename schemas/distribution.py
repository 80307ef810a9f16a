"""The name mdbridge is published under (PyPI's ``mdbridge`` is an unrelated project).

The one place the distribution name is written in code: read the installed version with
``importlib.metadata.version(DISTRIBUTION)``. The command stays ``mdbridge``.
"""

from __future__ import annotations

DISTRIBUTION = "mdbridge-ashare"
