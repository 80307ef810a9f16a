"""From raw results to verdicts: the issue's targets, peer ratios, and Markdown tables."""

from __future__ import annotations

from typing import Any

from mdbridge.bench.openingbell import summary_lines

PEERS = ("nats_ws", "broadcaster")

# (key, description, threshold, higher is better)
TARGETS: tuple[tuple[str, str, float, bool], ...] = (
    ("hold_connections", "concurrent connections on one bridge process", 10_000, True),
    ("hold_rss_kb", "RSS per idle connection (KB)", 30, False),
    ("fanout_p50_ms", "1,000 clients x 20 symbols, whole market: p50 (ms)", 2, False),
    ("fanout_p99_ms", "1,000 clients x 20 symbols, whole market: p99 (ms)", 20, False),
    ("throughput", "delivered msgs/s, one bridge process, coalescing", 200_000, True),
    ("resume", "resume replay msgs/s", 150_000, True),
    ("ratio_nats_ws", "throughput vs nats-server WebSocket", 0.5, True),
    ("ratio_broadcaster", "throughput vs Starlette + broadcaster", 3, True),
    # issue 20: fresh under overload ("behind": how long ago the value a client holds was
    # superseded at the source; staleness without its floor, the update interval)
    ("x10_behind_p99_ms", "accelerated x10, 1,000 x 20: behind p99 (ms)", 100, False),
    ("hot_behind_p99_ms", "hot pool 1,000 x 20 (400k/s offered): behind p99 (ms)", 100, False),
    ("recovery_p99_ms", "burst right after the hot pool: p99 (ms)", 50, False),
    ("recovery_vs_nats_ws", "burst right after the hot pool: p99 vs nats_ws", 2, False),
    ("x10_delivered_ratio", "accelerated x10: delivered / offered", 0.95, True),
    ("x10_cpu_us", "accelerated x10: bridge CPU per delivered message (µs)", 10, False),
    ("cadence_p99_vs_nats_ws", "real cadence 1,000 x 20: p99 vs nats_ws", 2, False),
    ("ingest", "adapter ingest msgs/s, one process, every message acked and stored", 100_000, True),
)


def _ok(section: Any) -> bool:
    return isinstance(section, dict) and "error" not in section


def good_rows(section: Any, target: str | None = None) -> list[dict[str, Any]]:
    """The measured rows of a per-target list scenario (failed cases left out)."""
    if not isinstance(section, dict):
        return []
    lists = [section.get(target)] if target is not None else list(section.values())
    return [r for rows in lists if isinstance(rows, list) for r in rows if "error" not in r]


def failed_rows(results: dict[str, Any]) -> list[str]:
    return [
        f"{name} {r['target']} {r['case']}: {r['error']}"
        for name in ("fanout", "throughput")
        for rows in (results.get(name) or {}).values()
        if isinstance(rows, list)
        for r in rows
        if "error" in r
    ]


def _fanout_row(results: dict[str, Any], target: str, clients: int) -> dict[str, Any] | None:
    rows = good_rows(results.get("fanout"), target)
    fitting = [r for r in rows if r["clients"] == clients and r["symbols_per_client"] == 20]
    if not fitting:
        return None
    row: dict[str, Any] = min(fitting, key=lambda r: r["rate_in"])
    return row


def _best(results: dict[str, Any], target: str) -> dict[str, Any] | None:
    rows = good_rows(results.get("throughput"), target)
    if not rows:
        return None
    row: dict[str, Any] = max(rows, key=lambda r: r["delivered_per_s"])
    return row


def peer_ratios(results: dict[str, Any]) -> list[dict[str, Any]]:
    """mdbridge / peer for throughput, and p99 latency, per shared case."""
    ratios = []
    for scenario in ("fanout", "throughput"):
        section = results.get(scenario)
        for row in good_rows(section, "mdbridge"):
            for peer in PEERS:
                other = next(
                    (
                        r
                        for r in good_rows(section, peer)
                        if r["clients"] == row["clients"]
                        and r["rate_in"] == row["rate_in"]
                        and r["pool"] == row["pool"]
                    ),
                    None,
                )
                if other is None:
                    continue
                ratios.append(
                    {
                        "scenario": scenario,
                        "case": f"{row['case']} {row['clients']}x{row['symbols_per_client']}"
                        f" @{row['rate_in']:.0f}/s",
                        "peer": peer,
                        "throughput_ratio": _div(row["delivered_per_s"], other["delivered_per_s"]),
                        "p99_ratio": _div(row["latency_ms"]["p99"], other["latency_ms"]["p99"]),
                    }
                )
    return ratios


def _best_ingest(results: dict[str, Any]) -> dict[str, Any] | None:
    """The publisher's fastest case in which every message was acked and stored."""
    section = results.get("ingest")
    cases = section.get("cases", []) if isinstance(section, dict) and _ok(section) else []
    whole = [
        c for c in cases
        if c["mode"] == "publisher" and c["failed"] == 0
        and c["acked"] == c["stored_in_stream"] == c["messages"]
    ]  # fmt: skip
    return max(whole, key=lambda c: c["msgs_per_s"]) if whole else None


def _div(a: float, b: float) -> float:
    return round(a / b, 3) if b else float("inf") if a else 0.0


def measured(results: dict[str, Any]) -> dict[str, tuple[float | None, str]]:
    """Each target's measured value and a note on where it came from."""
    out: dict[str, tuple[float | None, str]] = {}
    hold = results.get("hold", {}).get("mdbridge")
    if _ok(hold) and hold:
        out["hold_connections"] = (hold["open"], f"{hold['open']} of {hold['connections']} open")
        out["hold_rss_kb"] = (hold["rss_per_conn_kb"], f"at {hold['open']} connections")
    row = _fanout_row(results, "mdbridge", 1000)
    if row is not None:
        note = f"{row['rate_in']:.0f} quotes/s in, {row['delivered_per_s']:.0f} msgs/s out"
        out["fanout_p50_ms"] = (row["latency_ms"]["p50"], note)
        out["fanout_p99_ms"] = (row["latency_ms"]["p99"], note)
    best = _best(results, "mdbridge")
    if best is not None:
        out["throughput"] = (
            best["delivered_per_s"],
            f"{best['clients']} clients, offered {best['expected_per_s']:.0f}/s",
        )
    resume = results.get("resume", {})
    if _ok(resume) and "raw_ordered" in resume:
        bridge = resume.get("mdbridge", {})
        if bridge.get("status") == "ok":
            out["resume"] = (bridge["msgs_per_s"], "through the bridge")
        else:
            raw = resume["raw_ordered"]["msgs_per_s"]
            out["resume"] = (raw, f"raw JetStream replay (bridge: {bridge.get('status', 'n/a')})")
    ingest = _best_ingest(results)
    if ingest is not None:
        out["ingest"] = (
            ingest["msgs_per_s"],
            f"the adapters' publisher, window {ingest['window']}, {ingest['loop']}, "
            f"{ingest['publisher_cpu_us_per_msg']} µs CPU/msg (+ nats-server "
            f"{ingest['nats_cpu_us_per_msg']})",
        )
    for peer in PEERS:
        other = _best(results, peer)
        if best is not None and other is not None:
            ratio = _div(best["delivered_per_s"], other["delivered_per_s"])
            out[f"ratio_{peer}"] = (ratio, f"{other['delivered_per_s']:.0f} msgs/s for the peer")
    out.update(_overload(results))
    return out


def _case(results: dict[str, Any], scenario: str, target: str, label: str) -> dict[str, Any] | None:
    rows = good_rows(results.get(scenario), target)
    fitting = [r for r in rows if r["case"] == label and r["clients"] == 1000]
    return fitting[0] if fitting else None


def _behind_note(row: dict[str, Any], peer: dict[str, Any] | None) -> str:
    note = (
        f"staleness p99 {row['staleness_ms']['p99']:.0f} ms, floor {row['update_interval_ms']:.0f}"
    )
    if peer is not None and peer.get("behind_ms"):
        note += f"; nats_ws behind p99 {peer['behind_ms']['p99']:.1f} ms"
    return note


def _overload(results: dict[str, Any]) -> dict[str, tuple[float | None, str]]:
    """Issue 20's rows, each beside nats_ws from the same run."""
    out: dict[str, tuple[float | None, str]] = {}
    for key, scenario, label in (
        ("x10", "fanout", "accelerated x10"),
        ("hot", "throughput", "hot 100"),
    ):
        row = _case(results, scenario, "mdbridge", label)
        if row is None or not row.get("behind_ms", {}).get("count"):
            continue
        peer = _case(results, scenario, "nats_ws", label)
        out[f"{key}_behind_p99_ms"] = (row["behind_ms"]["p99"], _behind_note(row, peer))
        if key == "x10":
            out["x10_delivered_ratio"] = (row["delivered_ratio"], f"{row['delivered_per_s']:.0f}/s")
            per_cpu = row.get("delivered_per_cpu_s") or 0
            out["x10_cpu_us"] = (
                round(1e6 / per_cpu, 2) if per_cpu else None,
                f"{row['cpu_pct']['target']:.0f} % CPU for {row['delivered_per_s']:.0f}/s",
            )
    burst = results.get("burst") or {}
    mine, theirs = burst.get("mdbridge"), burst.get("nats_ws")
    if _ok(mine) and mine:
        p99 = mine["latency_ms"]["p99"]
        out["recovery_p99_ms"] = (p99, f"drained in {mine['drain_s']} s")
        if _ok(theirs) and theirs:
            their = theirs["latency_ms"]["p99"]
            out["recovery_vs_nats_ws"] = (_div(p99, their), f"nats_ws p99 {their:.1f} ms")
    calm = _fanout_row(results, "mdbridge", 1000)
    calm_peer = _fanout_row(results, "nats_ws", 1000)
    if calm is not None and calm_peer is not None:
        mine_p99, their_p99 = calm["latency_ms"]["p99"], calm_peer["latency_ms"]["p99"]
        out["cadence_p99_vs_nats_ws"] = (
            _div(mine_p99, their_p99),
            f"{mine_p99:.1f} ms vs {their_p99:.1f} ms",
        )
    return out


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    got = measured(results)
    rows = []
    for key, text, threshold, higher in TARGETS:
        value, note = got.get(key, (None, "not measured"))
        passed = None if value is None else (value >= threshold if higher else value <= threshold)
        rows.append(
            {
                "key": key,
                "target": text,
                "threshold": (">= " if higher else "<= ") + f"{threshold:g}",
                "measured": value,
                "note": note,
                "met": passed,
            }
        )
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines


def _load_rows(rows: list[dict[str, Any]], first: str) -> list[list[Any]]:
    return [
        [
            r.get(first, r.get("target")),
            r["case"],
            f"{r['clients']}x{r['symbols_per_client']}",
            r["rate_in"],
            r["expected_per_s"],
            r["delivered_per_s"],
            r.get("delivered_per_cpu_s"),
            r["latency_ms"]["p50"],
            r["latency_ms"]["p95"],
            r["latency_ms"]["p99"],
            r["latency_ms"]["max"],
            r.get("staleness_ms", {}).get("p50"),
            r.get("staleness_ms", {}).get("p99"),
            r.get("update_interval_ms"),
            r.get("behind_ms", {}).get("p50"),
            r.get("behind_ms", {}).get("p99"),
            _queued_kb(r.get("start_state")),
            r["cpu_pct"]["target"],
            r["cpu_pct"]["nats"],
            r["cpu_pct"]["clients"],
            r["errors"],
        ]
        for r in rows
    ]


LOAD_HEADERS = [
    "in/s", "expected/s", "delivered/s", "per CPU-s", "p50 ms", "p95 ms", "p99 ms", "max ms",
    "stale p50 ms", "stale p99 ms", "update every ms", "behind p50 ms", "behind p99 ms",
    "queued at start kB",
    "CPU % target", "CPU % nats", "CPU % clients", "errors",
]  # fmt: skip


def _queued_kb(state: dict[str, Any] | None) -> float | None:
    """What the target still held when the case started: kernel send queues + its own."""
    if not state:
        return None
    held = int(state.get("kernel_send_queue_bytes") or 0)
    held += int(state.get("bridge_queued_bytes") or 0)
    return round(held / 1024, 1)


def markdown(report: dict[str, Any]) -> str:  # noqa: C901 (one flow, top to bottom: see pyproject)
    results = report["scenarios"]
    meta = report["meta"]
    lines = [
        "# mdbridge bench results",
        "",
        f"Run {meta['started']} – {meta.get('finished', '?')} ({meta.get('duration_s', '?')} s),"
        f" {meta['cpus']} CPUs, Python {meta['python']}, load average before"
        f" {meta['load_before']}, after {meta.get('load_after')}.",
        "",
        "## Targets",
        "",
    ]
    verdict_rows = [
        [v["target"], v["threshold"], v["measured"], v["note"],
         {True: "met", False: "missed", None: "—"}[v["met"]]]
        for v in verdicts(results)
    ]  # fmt: skip
    lines += _table(["target", "wanted", "measured", "how", "verdict"], verdict_rows)
    ratios = peer_ratios(results)
    if ratios:
        lines += ["", "## mdbridge vs peers (ratio = mdbridge / peer)", ""]
        lines += _table(
            ["scenario", "case", "peer", "throughput ratio", "p99 ratio"],
            [[r["scenario"], r["case"], r["peer"], r["throughput_ratio"], r["p99_ratio"]]
             for r in ratios],
        )  # fmt: skip
    hold = results.get("hold")
    if isinstance(hold, dict) and hold and "error" not in hold:
        lines += ["", "## Hold (idle connections with heartbeats)", ""]
        lines += _table(
            ["target", "open", "connect s", "RSS before MB", "RSS after MB", "KB/conn",
             "CPU %", "heartbeats", "errors"],
            [[name, h.get("open"), h.get("connect_s"), h.get("rss_before_mb"),
              h.get("rss_after_mb"), h.get("rss_per_conn_kb"), h.get("cpu_pct"),
              h.get("heartbeats"), h.get("errors")] for name, h in hold.items()],
        )  # fmt: skip
    for scenario, title in (("fanout", "Fan-out"), ("throughput", "Throughput (hot pool)")):
        rows = good_rows(results.get(scenario))
        if rows:
            lines += ["", f"## {title}", ""]
            lines += _table(["target", "case", "N x K", *LOAD_HEADERS], _load_rows(rows, "target"))
    burst = results.get("burst")
    if isinstance(burst, dict) and burst and "error" not in burst:
        lines += ["", "## Burst", ""]
        lines += _table(
            ["target", "updates", "publish s", "expected", "delivered", "ratio", "drain s",
             "p50 ms", "p99 ms", "max ms", "queued at start kB", "errors"],
            [[b["target"], b["burst"], b["publish_s"], b["expected"], b["delivered"],
              b["delivered_ratio"], b["drain_s"], b["latency_ms"]["p50"], b["latency_ms"]["p99"],
              b["latency_ms"]["max"], _queued_kb(b.get("start_state")), b["errors"]]
             for b in burst.values() if "error" not in b],
        )  # fmt: skip
    lines += summary_lines(results.get("opening_bell"))
    for scenario in ("resume", "ack"):
        section = results.get(scenario)
        if isinstance(section, dict) and section and "error" not in section:
            lines += ["", f"## {scenario.capitalize()}", ""]
            paths: list[list[Any]] = []
            for name, value in section.items():
                if isinstance(value, dict) and ("msgs_per_s" in value or "status" in value):
                    paths.append([name, value.get("messages"), value.get("seconds"),
                                 value.get("msgs_per_s"), value.get("msgs_per_cpu_s"),
                                 value.get("status", "ok")])  # fmt: skip
            lines += _table(
                ["path", "messages", "seconds", "msgs/s", "per bridge CPU-s", "status"], paths
            )
    for scenario, key in (("compression", "compression"), ("ws_impl", "ws_impl"),
                          ("event_loop", "event_loop"), ("workers", "workers"),
                          ("gc", "gc_tuning")):  # fmt: skip
        variants = results.get(scenario)
        if isinstance(variants, list) and variants:
            lines += ["", f"## Tuning: {scenario}", ""]
            lines += _table(
                [key, "round", "wire bytes/s", *LOAD_HEADERS],
                [
                    [r[key], r.get("round"), r["wire_bytes_per_s"], *_load_rows([r], key)[0][3:]]
                    for r in variants
                ],
            )
    ingest = results.get("ingest")
    if isinstance(ingest, dict) and _ok(ingest) and ingest.get("cases"):
        lines += ["", f"## Adapter ingest ({ingest['symbols']} symbols, one process)", ""]
        lines += _table(
            ["mode", "loop", "window", "messages", "acked", "stored", "dup", "failed", "msgs/s",
             "client µs CPU/msg", "nats µs CPU/msg", "load"],
            [[c["mode"], c["loop"], c["window"], c["messages"], c["acked"],
              c["stored_in_stream"], c["duplicates"], c["failed"], c["msgs_per_s"],
              c["publisher_cpu_us_per_msg"], c["nats_cpu_us_per_msg"], c["load"]]
             for c in ingest["cases"]],
        )  # fmt: skip
    prof = results.get("profile")
    if isinstance(prof, dict) and "profile" in prof:
        lines += ["", "## Profile (py-spy, % of samples)", ""]
        lines += _table(["file (inclusive)", "%"], prof["profile"]["files"][:15])
        lines += [""]
        lines += _table(["function (self)", "%"], prof["profile"]["self"][:15])
    errors = [
        f"{k}: {v['error']}" for k, v in results.items() if isinstance(v, dict) and "error" in v
    ]
    errors += failed_rows(results)
    if errors:
        lines += ["", "## Failed scenarios", ""] + [f"- {e}" for e in errors]
    return "\n".join(lines) + "\n"
