"""The admin API's larger views, computed from the live objects (no I/O)."""

from __future__ import annotations

import time
from typing import Any

from bridge.observe.observability import Observability
from bridge.runtime import VERSION
from schemas import epoch_ms_to_iso


def status_view(obs: Observability) -> dict[str, Any]:
    runtime = obs.runtime
    stats = runtime.nc.stats
    url = runtime.nc.connected_url
    process = obs.process.read()
    feeds = {
        feed.stream: {
            "epoch": runtime.hub.epochs.get(feed.stream, ""),
            "last_seq": feed.last_seq,
            "subjects": len(feed.subjects),
            "reconfigurations": feed.reconfigurations,
        }
        for feed in runtime.hub.feeds()
    }
    return {
        "version": VERSION,
        "started_at": epoch_ms_to_iso(obs.started_at * 1000),
        "uptime_s": round(time.time() - obs.started_at, 3),
        "ready": runtime.ready,
        "draining": runtime.draining,
        "nats": {
            "connected": runtime.nc.is_connected,
            "server": f"{url.hostname}:{url.port}" if url else None,
            "reconnects": runtime.nats_reconnects,
            "in_msgs": stats.get("in_msgs", 0),
            "in_bytes": stats.get("in_bytes", 0),
        },
        "connections": {"active": len(obs.connections), "opened": runtime.connections.opened},
        "subscriptions": sum(len(c.members) for c in runtime.hub.channels()),
        "channels": runtime.hub.channel_count(),
        "interest_subjects": runtime.hub.interest_count(),
        "symbols": len(runtime.directory),
        "streams": feeds,
        "sources": obs.status.sources(),
        "alerts_active": len(obs.alerts.active),
        "process": {
            "rss_bytes": process.rss_bytes,
            "cpu_seconds": round(process.cpu_seconds, 3),
            "threads": process.threads,
            "open_fds": process.open_fds,
        },
        "monitor": obs.monitor.latest,
    }


def subscriptions_view(
    obs: Observability, symbol: str | None, data_type: str | None, limit: int
) -> dict[str, Any]:
    """Subscribers per (symbol, data type), with the channels (frequencies) behind them."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for channel in obs.runtime.hub.channels():
        if symbol is not None and channel.symbol != symbol:
            continue
        if data_type is not None and channel.data_type.value != data_type:
            continue
        members = list(channel.members)
        row = rows.setdefault(
            (channel.symbol, channel.data_type.value),
            {
                "symbol": channel.symbol,
                "data_type": channel.data_type.value,
                "subscribers": 0,
                "channels": [],
            },
        )
        row["subscribers"] += len(members)
        row["channels"].append(
            {
                "subscription_id": channel.key,
                "frequency": channel.frequency,
                "subscribers": len(members),
                "messages": sum(m.messages for m in members),
            }
        )
    ordered = sorted(rows.values(), key=lambda r: (-r["subscribers"], r["symbol"]))
    return {
        "total_subscriptions": sum(r["subscribers"] for r in ordered),
        "symbols": len(ordered),
        "subscriptions": ordered[:limit],
    }


def top_symbols(obs: Observability, n: int) -> list[dict[str, Any]]:
    """The symbols with the most messages delivered (all types and frequencies together)."""
    totals: dict[str, list[int]] = {}
    for channel in obs.runtime.hub.channels():
        members = list(channel.members)
        entry = totals.setdefault(channel.symbol, [0, 0])
        entry[0] += len(members)
        entry[1] += sum(m.messages for m in members)
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))[:n]
    return [{"symbol": s, "subscribers": c[0], "messages": c[1]} for s, c in ranked]
