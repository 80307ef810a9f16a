"""Process limits for many sockets: raise the open-file soft limit to the hard limit."""

from __future__ import annotations

import sys


def raise_fd_limit() -> int:
    """Lift RLIMIT_NOFILE's soft limit to its hard limit; returns the new soft limit.

    Windows has no such limit (``resource`` is POSIX-only): -1 there, nothing changed.
    """
    if sys.platform == "win32":
        return -1
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target
