"""What a bench run does: scenarios, targets and their sizes (``--smoke`` shrinks all)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

# Every scenario, in the order a run takes them (hold first: it wants fresh processes).
SCENARIOS = (
    "hold", "fanout", "throughput", "burst", "opening_bell", "resume", "ack",
    "compression", "ws_impl", "event_loop", "workers", "gc", "profile", "ingest",
)  # fmt: skip
TARGETS = ("mdbridge", "nats_ws", "broadcaster")
WS_IMPLS = ("websockets-sansio", "websockets", "wsproto")
REAL_CADENCE_S = 3.0  # one snapshot per symbol every 3 s


@dataclass(frozen=True)
class FanoutCase:
    label: str
    clients: int
    symbols_per_client: int
    rate: float  # published quotes per second, over the publishing set
    pool: int = 0  # clients pick from the first ``pool`` symbols (0: the whole universe)


@dataclass(frozen=True)
class BellShape:
    """The opening bell, compressed (mdbridge/bench/openingbell.py): seconds, not minutes."""

    clients: int = 1000
    symbols: int = 20
    auction_rate: float = 540.0  # 集合竞价: every symbol about every 10 s
    auction_s: float = 5.0
    quiet_s: float = 2.0  # 09:25-09:30: nothing
    bell_updates: int = 2  # the whole market twice within the bell: the day's busiest second
    bell_within_s: float = 1.0
    cadence_s: float = 5.0  # then every symbol every 3 s


@dataclass(frozen=True)
class BenchConfig:
    out: Path = Path("bench-results")
    scenarios: tuple[str, ...] = (
        "hold", "fanout", "throughput", "burst", "resume", "ack", "ingest",
    )  # fmt: skip
    targets: tuple[str, ...] = TARGETS
    universe: int = 5400
    client_procs: int = 2
    sources: int = 16  # spread connections over 127.0.0.2.. so ports never run out
    seed: int = 8
    headers: bool = True  # Nats-Msg-Id and traceparent on every message, as adapters send
    # hold
    hold_connections: int = 10_000
    hold_s: float = 20.0
    heartbeat_s: float = 5.0
    # fan-out, throughput (a hot pool everyone watches), burst
    fanout: tuple[FanoutCase, ...] = (
        FanoutCase("real cadence", 100, 20, 5400 / REAL_CADENCE_S),
        FanoutCase("real cadence", 1000, 20, 5400 / REAL_CADENCE_S),
        FanoutCase("accelerated x10", 1000, 20, 10 * 5400 / REAL_CADENCE_S),
    )
    throughput: tuple[FanoutCase, ...] = (
        FanoutCase("hot 100", 100, 20, 2000, pool=100),
        FanoutCase("hot 100", 300, 20, 2000, pool=100),
        FanoutCase("hot 100", 1000, 20, 2000, pool=100),
    )
    burst_clients: int = 1000
    burst_symbols: int = 20
    burst_count: int = 10_000
    burst_within_s: float = 1.0
    opening_bell: BellShape = BellShape()
    warmup_s: float = 3.0
    window_s: float = 10.0
    settle_s: float = 1.0  # after connecting, before measuring
    quiet_s: float = 2.0  # a burst has drained when nothing arrived for this long
    # resume and ack mode
    replay_messages: int = 100_000
    replay_symbols: int = 1  # 100,000 missed messages of one subscription
    ack_messages: int = 100_000
    # tuning experiments
    tuning_case: FanoutCase = FanoutCase("hot 100", 300, 20, 2000, pool=100)
    compression_modes: tuple[bool, ...] = (False, True)
    ws_impls: tuple[str, ...] = WS_IMPLS
    event_loops: tuple[str, ...] = ("uvloop", "asyncio")
    worker_counts: tuple[int, ...] = (1, 2)
    gc_modes: tuple[bool, ...] = (False, True)
    gc_case: FanoutCase = FanoutCase("real cadence", 1000, 20, 5400 / REAL_CADENCE_S)
    tuning_repeats: int = 1
    bridge_workers: int = 1
    bridge_env: dict[str, str] = field(default_factory=dict)
    profile: bool = False
    # adapter ingest (mdbridge/bench/ingest.py): one process, its own broker
    ingest_symbols: int = 5400
    ingest_messages: int = 300_000
    ingest_raw_messages: int = 40_000  # raw nats-py is slower: fewer messages, same rate
    ingest_windows: tuple[int, ...] = (512, 4096)
    ingest_loops: tuple[str, ...] = ("uvloop", "asyncio")

    def smoke(self) -> BenchConfig:
        """Every scenario at toy size: proves the harness works, measures nothing."""
        return replace(
            self,
            universe=300,
            client_procs=1,
            sources=2,
            hold_connections=20,
            hold_s=1.0,
            heartbeat_s=0.5,
            fanout=(FanoutCase("smoke", 8, 5, 400.0),),
            throughput=(FanoutCase("smoke hot", 8, 5, 400.0, pool=10),),
            burst_clients=8,
            burst_symbols=5,
            burst_count=600,
            burst_within_s=0.5,
            opening_bell=BellShape(
                clients=8,
                symbols=5,
                auction_rate=200.0,
                auction_s=0.5,
                quiet_s=0.2,
                bell_updates=1,
                bell_within_s=0.5,
                cadence_s=0.5,
            ),
            warmup_s=0.3,
            window_s=1.0,
            settle_s=0.2,
            quiet_s=0.5,
            replay_messages=2000,
            replay_symbols=2,
            ack_messages=1000,
            tuning_case=FanoutCase("smoke hot", 4, 5, 300.0, pool=10),
            # the default of each setting is what every other scenario runs already
            compression_modes=(True,),
            ws_impls=("wsproto",),
            event_loops=("asyncio",),
            worker_counts=(2,),
            gc_modes=(True,),
            gc_case=FanoutCase("smoke", 4, 5, 300.0),
            ingest_symbols=50,
            ingest_messages=2000,
            ingest_raw_messages=200,
            ingest_windows=(64,),
            ingest_loops=("asyncio",),
        )
