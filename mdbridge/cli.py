"""The ``mdbridge`` command: ``run`` (everything), ``bridge``, ``adapter NAME`` (sim, xtquant,
replay), ``record``, ``replay``, ``quality``, ``token``, ``trace``, ``schema``, ``config``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mdbridge import config_cmd, schema_cmd
from mdbridge.bench.cli import add_parser as add_bench_parser
from mdbridge.logs import LogSettings, configure_logging
from mdbridge.sourcecli import (
    add_adapter_commands,
    add_data_commands,
    add_sim_flags,
    run_source_command,
)
from mdbridge.tokencmd import add_token_parser, run_token
from mdbridge.trace_cmd import add_parser as add_trace_parser
from processkit.distribution import distribution_version
from processkit.errors import ConfigFileError
from processkit.settings import CONFIG_ENV

RUN_EPILOG = """\
Starts a local nats-server with JetStream (store under --data-dir), the simulator, the
bridge and the data-quality monitor, prints the WebSocket and NATS URLs, and keeps them
running: a component that dies is restarted after 1 s, 2 s, 4 s ... (at most 30 s) and
nothing else stops. Ctrl-C or SIGTERM stops the bridge first (its clients are told), then
the adapters, then nats-server.
Every flag can also be set as an MDBRIDGE_* environment variable or in the config file
(flags win over the environment, which wins over the file)."""


def _flag_overrides(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    """Settings fields given on the command line; the rest come from the environment."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def _add_nats_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nats-url", dest="nats_url", help="NATS server URL(s), comma separated")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mdbridge", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {distribution_version()}")
    parser.add_argument("--log-level", dest="log_level", help="DEBUG, INFO (default), WARNING...")
    parser.add_argument(
        "--config", type=Path, help=f"TOML config file for every process (or {CONFIG_ENV})"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run everything locally", epilog=RUN_EPILOG)
    run.add_argument("--host", default=None, help="bridge listen address (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=None, help="bridge port (default 8000)")
    run.add_argument("--nats-port", type=int, default=None, help="embedded NATS port (4222)")
    run.add_argument("--data-dir", default=None, help="JetStream store (default ./.mdbridge)")
    _add_nats_flag(run)
    add_sim_flags(run)

    bridge = commands.add_parser("bridge", help="serve the WebSocket bridge")
    bridge.add_argument("--host", default=None)
    bridge.add_argument("--port", type=int, default=None)
    bridge.add_argument("--workers", type=int, default=None, help="processes on the port")
    _add_nats_flag(bridge)

    adapter = commands.add_parser("adapter", help="run a data-source adapter: sim, xtquant, replay")
    add_adapter_commands(adapter)
    add_data_commands(commands)
    add_token_parser(commands)
    add_trace_parser(commands)
    schema_cmd.add_parser(commands)
    config_cmd.add_parser(commands)
    add_bench_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config is not None:
        os.environ[CONFIG_ENV] = str(args.config.resolve())  # the processes `run` starts inherit it
    try:
        args.log_level = LogSettings(**_flag_overrides(args, ["log_level"])).log_level
        configure_logging(args.log_level)
        return _dispatch(args, parser)
    except (ConfigFileError, ValidationError) as exc:
        print(f"mdbridge: configuration: {exc}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.command == "schema":
        return schema_cmd.run(args)
    if args.command == "config":
        return config_cmd.run(args, parser)
    if args.command == "run":
        from mdbridge.launcher import run_all

        return run_all(args)
    if args.command == "bridge":
        return _run_bridge(args)
    if args.command == "token":
        return run_token(args)
    if args.command == "trace":
        from mdbridge.trace_cmd import run_trace

        return run_trace(args)
    if args.command == "bench":
        from mdbridge.bench.cli import main as bench_main

        return bench_main(args)
    return run_source_command(args)


def _run_bridge(args: argparse.Namespace) -> int:
    from bridge import BridgeSettings, serve
    from bridge.errors import AccessConfigError
    from mdbridge.eventloop import run
    from mdbridge.limits import raise_fd_limit

    settings = BridgeSettings(**_flag_overrides(args, ["host", "port", "nats_url", "workers"]))
    try:
        if settings.workers > 1:
            from mdbridge.workers import run_workers

            return run_workers(settings, args.log_level)
        raise_fd_limit()
        run(serve(settings), prefer_uvloop=settings.event_loop == "uvloop")
    except AccessConfigError as exc:  # e.g. auth off on a non-loopback address
        print(f"mdbridge: {exc}", file=sys.stderr)
        return 2
    return 0
