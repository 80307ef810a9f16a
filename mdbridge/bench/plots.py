"""The report's PNGs: latency CDF per fan-out case, delivered msgs/s vs connections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

from mdbridge.bench.summary import good_rows

matplotlib.use("Agg")
import matplotlib.pyplot as plt

COLORS = {"mdbridge": "tab:blue", "nats_ws": "tab:green", "broadcaster": "tab:red"}


def latency_cdf(results: dict[str, Any], path: Path) -> bool:
    section = results.get("fanout") or {}
    cases = sorted({(r["case"], r["clients"], r["rate_in"]) for r in good_rows(section)})
    if not cases:
        return False
    fig, axes = plt.subplots(1, len(cases), figsize=(4.2 * len(cases), 3.4), squeeze=False)
    for ax, (label, clients, rate) in zip(axes[0], cases, strict=True):
        for target in section:
            for r in good_rows(section, target):
                if (r["case"], r["clients"], r["rate_in"]) == (label, clients, rate) and r[
                    "cdf_ms"
                ]:
                    xs = [max(p[0], 0.01) for p in r["cdf_ms"]]
                    ys = [p[1] for p in r["cdf_ms"]]
                    ax.step(xs, ys, where="post", label=target, color=COLORS.get(target))
        ax.set_xscale("log")
        ax.set_title(f"{label}: {clients} clients, {rate:.0f}/s in", fontsize=9)
        ax.set_xlabel("publish → client latency (ms)")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("fraction of messages")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def throughput_vs_connections(results: dict[str, Any], path: Path) -> bool:
    section = results.get("throughput") or {}
    if not good_rows(section):
        return False
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    offered: dict[int, float] = {}
    for target in section:
        rows = sorted(good_rows(section, target), key=lambda r: r["clients"])
        if not rows:
            continue
        ax.plot(
            [r["clients"] for r in rows],
            [r["delivered_per_s"] for r in rows],
            marker="o",
            label=target,
            color=COLORS.get(target),
        )
        offered.update({r["clients"]: r["expected_per_s"] for r in rows})
    xs = sorted(offered)
    ax.plot(xs, [offered[x] for x in xs], linestyle=":", color="grey", label="offered")
    ax.set_xscale("log")
    ax.set_xlabel("connections")
    ax.set_ylabel("delivered msgs/s")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True
