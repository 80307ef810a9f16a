"""``mdbridge bench``: the command line of the benchmark (the runner is imported lazily)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from mdbridge.bench.config import SCENARIOS, TARGETS, BenchConfig

EPILOG = (
    """\
Starts its own nats-server (JetStream + a WebSocket listener), a publisher process, the
bridge and the peers, runs the scenarios one target at a time with the same generator, and
writes results.json, summary.md and PNG plots to --out. Progress: one line per second on
stderr. Scenarios: """
    + ", ".join(SCENARIOS)
    + """ ("all" runs every one)."""
)

DEFAULT = BenchConfig()


def add_parser(commands: Any) -> None:
    bench = commands.add_parser(
        "bench", help="benchmark the bridge against its peers", epilog=EPILOG
    )
    bench.add_argument("--out", type=Path, default=DEFAULT.out, help="results directory")
    bench.add_argument(
        "--scenarios", default=",".join(DEFAULT.scenarios), help="comma separated, or 'all'"
    )
    bench.add_argument("--targets", default=",".join(TARGETS), help="comma separated")
    bench.add_argument("--smoke", action="store_true", help="every scenario at toy size")
    bench.add_argument("--connections", type=int, help="hold: idle connections")
    bench.add_argument("--hold-s", type=float, help="hold: seconds held")
    bench.add_argument("--window-s", type=float, help="measured window per case")
    bench.add_argument("--warmup-s", type=float, help="warm-up before each window")
    bench.add_argument("--client-procs", type=int, help="load-generator processes")
    bench.add_argument("--universe", type=int, help="symbols in the market")
    bench.add_argument("--bridge-workers", type=int, help="bridge processes (--workers)")
    bench.add_argument("--repeats", type=int, help="rounds of each tuning comparison")
    bench.add_argument(
        "--bridge-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra MDBRIDGE_* setting for the bridge under test (repeatable)",
    )
    bench.add_argument(
        "--report-only", action="store_true", help="redo summary.md and plots from results.json"
    )


def config_from(args: argparse.Namespace) -> BenchConfig:
    config = BenchConfig()
    if args.smoke:
        config = config.smoke()
    scenarios = SCENARIOS if args.scenarios == "all" else tuple(args.scenarios.split(","))
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        raise SystemExit(f"mdbridge bench: unknown scenario(s) {unknown}; known: {SCENARIOS}")
    targets = tuple(args.targets.split(","))
    if any(t not in TARGETS for t in targets):
        raise SystemExit(f"mdbridge bench: targets are {TARGETS}")
    env = dict(item.split("=", 1) for item in args.bridge_env)
    changes: dict[str, Any] = {
        "out": args.out,
        "scenarios": scenarios,
        "targets": targets,
        "bridge_env": env,
    }
    for flag, field in [
        ("connections", "hold_connections"),
        ("hold_s", "hold_s"),
        ("window_s", "window_s"),
        ("warmup_s", "warmup_s"),
        ("client_procs", "client_procs"),
        ("universe", "universe"),
        ("bridge_workers", "bridge_workers"),
        ("repeats", "tuning_repeats"),
    ]:
        value = getattr(args, flag)
        if value is not None:
            changes[field] = value
    return dataclasses.replace(config, **changes)


def main(args: argparse.Namespace) -> int:
    import uvloop

    from mdbridge.bench.report import rewrite
    from mdbridge.bench.runner import run_bench

    if args.report_only:
        for path in rewrite(args.out):
            print(path)
        return 0
    config = config_from(args)
    report = uvloop.run(run_bench(config))
    failed = [k for k, v in report["scenarios"].items() if isinstance(v, dict) and "error" in v]
    print(f"results in {config.out}/ (summary.md, results.json, *.png)")
    return 1 if failed else 0
