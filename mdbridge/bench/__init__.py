"""``mdbridge bench``: load generator, peers side by side, JSON results and plots.

This package is the edge: it starts nats-server, a publisher, the bridge and the peer
servers as processes and drives them over real sockets; nothing here runs inside the bridge.
"""

from __future__ import annotations

from mdbridge.bench.config import SCENARIOS, BenchConfig, FanoutCase

# The runner (``mdbridge.bench.runner.run_bench``) pulls in psutil, matplotlib and the
# rest of the bench extra; it is imported only when a bench actually runs.
__all__ = ["SCENARIOS", "BenchConfig", "FanoutCase"]
