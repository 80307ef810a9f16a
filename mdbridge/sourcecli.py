"""The data-source commands: ``adapter NAME`` (sim, xtquant, replay), ``record``, ``replay``,
``quality``. Flags map to settings fields; everything else comes from ``MDBRIDGE_*``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from mdbridge.eventloop import run_until_stopped

XTQUANT_HELP = """\
Runs on the Windows host of a MiniQMT terminal and publishes to NATS, wherever that is.

What the Windows host needs:
  1. MiniQMT (QMT 极简版, or the 投研 terminal) running and logged in with a broker account
     that has market data; its data service listens on 127.0.0.1:58610 unless changed
     (--xt-port; a remote terminal needs both --xt-host and --xt-port).
  2. 64-bit Python 3.11 or 3.12 with mdbridge's adapter extra and the SDK. In PowerShell, in
     a checkout of the repository (or with the wheel the project builds, `make wheel`:
     pip install "mdbridge_ashare-0.1.0-py3-none-any.whl[adapter]" xtquant):
       py -3.11 -m venv .venv
       .venv\\Scripts\\activate
       pip install ".[adapter]" xtquant
     (xtquant's binaries are Windows-only; nothing else in mdbridge needs it).
  3. Reach to NATS: --nats-url or MDBRIDGE_NATS_URL (with MDBRIDGE_NATS_CREDS, _USER/_PASSWORD
     or _TOKEN and MDBRIDGE_NATS_TLS_CA when the cluster wants them; a .creds file also
     needs `pip install nkeys`).
  4. Level-2 (--level2) needs the account's Level-2 permission. Without it the l2quote and
     l2transaction subscriptions stay empty and the adapter keeps deriving trades from
     snapshots and publishing the 5-level book.
  5. A synchronised clock (NTP). The exchange holidays come from the terminal (get_holidays)
     and are shared in NATS (KV md_calendar); MDBRIDGE_HOLIDAYS='["2026-10-01"]' overrides
     them: a feed silent while the market trades is resubscribed, and the day's bars close
     after 15:00, by this calendar.
  6. Something that restarts the process if it exits (NSSM, a scheduled task at logon).

What it subscribes:
  --symbols 600000.SH,000001.SZ   up to --single-max (50) symbols one by one: ticks, xtquant's
                                  own bars and, with --level2, l2quote and l2transaction
  --sectors 沪深京A股,沪深指数,沪深ETF  (the default) the sectors' members, through the
                                  whole-market push (subscribe_whole_quote): bars and trades
                                  derived (indices: quotes only)
The symbol directory (name, price tick, limits, previous close) comes from
get_instrument_detail into the KV bucket md_symbols.

Failover: run the same command on a second host with another --source-id. Both publish the
same message ids; the broker keeps the first copy, so clients see each message once, and when
one host dies the other is already publishing.
"""

REPLAY_HELP = """\
Republishes a recording (mdbridge record) with its original subjects, payloads, headers and
timing: --speed 1x (real time), 10x, or max. A recording without bars gets them derived from
its quotes (--klines derive|recorded|auto)."""

RECORD_HELP = """\
Writes chosen subjects from NATS (JetStream) to a JSON-lines file, compressed by its name:
.zst (zstandard) or .gz (gzip). Each line keeps the subject, the headers (Nats-Msg-Id...),
the payload and the broker's timestamp. The symbol directory is recorded from its current
state. Stops on Ctrl-C, after --duration seconds or --max-messages messages."""

QUALITY_HELP = """\
Watches every quote and source heartbeat: staleness while the market trades, timestamps going
backwards, prices outside the limit band, crossed books, cumulative volume going down, silent
sources. Findings go to md.status.quality.finding; the report to md.status.quality.report and
the KV bucket md_quality (key "report")."""


def _nats(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nats-url", dest="nats_url", help="NATS server URL(s), comma separated")


def _source_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source-id", dest="source_id", help="id in md.status.<source_id>")


def _metrics(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics-port",
        dest="metrics_port",
        type=int,
        help="serve Prometheus /metrics here (needs the metrics extra)",
    )


def _calendar(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--calendar",
        choices=["real", "always_open"],
        help="real A-share sessions and holidays (default), or always open (tests, demos)",
    )


def add_sim_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symbols", dest="sim_symbols", type=int, help="simulated universe size")
    parser.add_argument("--speed", dest="sim_speed", type=float, help="time acceleration factor")
    parser.add_argument("--seed", dest="sim_seed", type=int, help="random seed")
    parser.add_argument(
        "--session",
        dest="sim_session",
        choices=["always_open", "real"],
        help="always_open (demo) or real A-share trading hours",
    )
    parser.add_argument(
        "--start",
        dest="sim_start",
        help="sim clock start, Shanghai time: 2026-11-20T09:14:30, or 09:14:30 alone for "
        "that time on the latest trading day (default now)",
    )


def add_adapter_commands(adapter: argparse.ArgumentParser) -> None:
    """``adapter sim|xtquant|replay``, each with its own flags and help."""
    names = adapter.add_subparsers(dest="name", required=True, metavar="NAME")

    sim = names.add_parser("sim", help="the market simulator")
    _nats(sim)
    _source_id(sim)
    _metrics(sim)
    add_sim_flags(sim)

    xt = names.add_parser(
        "xtquant",
        help="MiniQMT through xtquant (Windows)",
        description=XTQUANT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _nats(xt)
    _source_id(xt)
    _metrics(xt)
    _calendar(xt)
    xt.add_argument("--symbols", dest="xt_symbols", help="comma-separated symbols (the universe)")
    xt.add_argument("--sectors", dest="xt_sectors", help="comma-separated sectors (沪深京A股)")
    xt.add_argument("--markets", dest="xt_markets", help="whole-market push codes (SH,SZ,BJ)")
    xt.add_argument(
        "--single-max", dest="xt_single_max", type=int, help="one by one up to this many (50)"
    )
    xt.add_argument(
        "--klines",
        dest="xt_klines",
        choices=["auto", "source", "derive"],
        help="xtquant's own bars (source), or derived from ticks; auto: source when one by one",
    )
    xt.add_argument(
        "--level2",
        dest="xt_level2",
        action="store_const",
        const=True,
        help="subscribe l2quote and l2transaction (needs Level-2 rights)",
    )
    xt.add_argument("--xt-host", dest="xt_host", help="MiniQMT data address (local default)")
    xt.add_argument("--xt-port", dest="xt_port", type=int, help="MiniQMT data port (58610)")
    xt.add_argument(
        "--silence", dest="xt_silence_s", type=float, help="seconds without data = fault (30)"
    )

    replay = names.add_parser("replay", help="a recording", description=REPLAY_HELP)
    _replay_flags(replay)


def _replay_flags(parser: argparse.ArgumentParser) -> None:
    _nats(parser)
    _source_id(parser)
    _metrics(parser)
    _calendar(parser)
    parser.add_argument("replay_file", type=Path, metavar="FILE", help="the recording")
    parser.add_argument("--speed", dest="replay_speed", help="1x, 10x, ... or max")
    parser.add_argument(
        "--klines", dest="replay_klines", choices=["auto", "recorded", "derive"], help="bars"
    )


def add_data_commands(commands: Any) -> None:
    """``record``, ``replay`` and ``quality`` (``commands``: the top-level subparsers)."""
    rec = commands.add_parser("record", help="record subjects to a file", description=RECORD_HELP)
    _nats(rec)
    rec.add_argument("out", type=Path, metavar="FILE", help="e.g. session.jsonl.zst")
    rec.add_argument("subjects", nargs="*", metavar="SUBJECT", help="default: all market data")
    rec.add_argument("--duration", type=float, help="seconds")
    rec.add_argument("--max-messages", dest="max_messages", type=int)

    replay = commands.add_parser("replay", help="replay a recording", description=REPLAY_HELP)
    _replay_flags(replay)

    quality = commands.add_parser(
        "quality", help="run the data-quality monitor", description=QUALITY_HELP
    )
    _nats(quality)
    _calendar(quality)


def _overrides(args: argparse.Namespace, *skip: str) -> dict[str, Any]:
    ignored = {"command", "name", "log_level", "config", *skip}
    return {k: v for k, v in vars(args).items() if k not in ignored and v is not None}


def _serve(main: Callable[[asyncio.Event], Awaitable[Any]]) -> int:
    """Run ``main(stop)`` until it returns or a stop signal (Ctrl-C, SIGTERM) sets ``stop``."""
    run_until_stopped(main)
    return 0


def run_adapter_command(args: argparse.Namespace) -> int:
    from services.errors import ServiceError
    from services.runner import run_adapter
    from services.settings import AdapterSettings

    name = "replay" if args.command == "replay" else args.name
    fields = _overrides(args)
    if "source_id" not in fields and "MDBRIDGE_SOURCE_ID" not in os.environ:
        fields["source_id"] = name  # md.status.xtquant rather than the default "sim"
    settings = AdapterSettings(**fields)
    try:
        return _serve(lambda stop: run_adapter(name, settings, stop))
    except (ServiceError, ValueError) as exc:  # no SDK, no recording, a broken recording
        print(f"mdbridge adapter {name}: {exc}", file=sys.stderr)
        return 1


def run_record_command(args: argparse.Namespace) -> int:
    import nats

    from services.errors import SourceError
    from services.replay import DEFAULT_SUBJECTS, record
    from services.settings import AdapterSettings

    options = AdapterSettings(**({"nats_url": args.nats_url} if args.nats_url else {}))

    failed: list[str] = []

    async def main(stop: asyncio.Event) -> None:
        nc = await nats.connect(**options.nats_connect_kwargs())
        try:
            count = await record(
                nc,
                args.out,
                list(args.subjects or DEFAULT_SUBJECTS),
                stop,
                duration_s=args.duration,
                max_messages=args.max_messages,
            )
            print(f"{args.out}: {count} messages")
        except SourceError as exc:  # e.g. no stream yet: start an adapter first
            failed.append(str(exc))
        finally:
            await nc.drain()

    _serve(main)
    if failed:
        print(f"mdbridge record: {failed[0]}", file=sys.stderr)
        return 1
    return 0


def run_quality_command(args: argparse.Namespace) -> int:
    from services.quality import QualitySettings, run_monitor

    settings = QualitySettings(**_overrides(args))
    return _serve(lambda stop: run_monitor(settings, stop))


def run_source_command(args: argparse.Namespace) -> int:
    """Dispatch ``adapter``, ``replay``, ``record`` and ``quality``."""
    if args.command == "record":
        return run_record_command(args)
    if args.command == "quality":
        return run_quality_command(args)
    return run_adapter_command(args)
