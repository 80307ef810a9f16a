"""Process limits for many sockets: raise the open-file soft limit to the hard limit."""

from __future__ import annotations

import resource


def raise_fd_limit() -> int:
    """Lift RLIMIT_NOFILE's soft limit to its hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target
