"""Child processes kept running: a component that exits is started again after a backoff.

The backoff doubles from ``base_s`` up to ``cap_s`` (1 s, 2 s, 4 s ... 30 s) and starts over
once a component has stayed up for ``stable_s``. Nothing else is stopped when one component
dies. ``stop`` ends the components in stages (e.g. the bridge, then the adapters, then
nats-server), each stage asked to stop gracefully and given ``timeout_s`` before it is killed.

Children are started in their own process group (POSIX: a new session; Windows: a new
process group), so a Ctrl-C in the terminal reaches only the supervisor, which then stops
them in order rather than all at once. Graceful stop is SIGTERM on POSIX and CTRL_BREAK on
Windows (SIGBREAK in the child; ``terminate`` there would be TerminateProcess).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

# mdbridge's commands exit 2 on a configuration error (argparse does too): not worth retrying
CONFIGURATION_ERROR = frozenset({2})

Start = Callable[[], "subprocess.Popen[bytes]"]
# (component, its exit code, seconds until its restart): e.g. tell clients its source is down
OnExit = Callable[["Component", int, float], None]


def detached() -> dict[str, Any]:
    """Popen options that keep a child out of the terminal's Ctrl-C (the supervisor relays)."""
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def ask_to_stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    if sys.platform == "win32":
        process.send_signal(signal.CTRL_BREAK_EVENT)
    else:
        process.send_signal(signal.SIGTERM)


@dataclass(frozen=True)
class Backoff:
    base_s: float = 1.0
    cap_s: float = 30.0
    stable_s: float = 30.0  # up this long: the next failure starts the schedule over

    def delay(self, failures: int) -> float:
        """The pause before restart number ``failures`` (0: the first)."""
        return float(min(self.cap_s, self.base_s * 2 ** min(failures, 32)))


@dataclass
class Component:
    name: str
    start: Start
    source_id: str | None = None  # an adapter: whose md.status.<source_id> to update
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    restarts: int = field(default=0)

    def launch(self) -> None:
        self.process = self.start()
        self.started_at = time.monotonic()
        self.restart_at = None


class Supervisor:
    def __init__(
        self,
        components: Sequence[Component],
        *,
        backoff: Backoff | None = None,
        on_exit: OnExit | None = None,
        fatal_codes: frozenset[int] = CONFIGURATION_ERROR,
    ) -> None:
        self.components = list(components)
        self.fatal_codes = fatal_codes
        self.given_up: set[str] = set()
        self.backoff = backoff or Backoff()
        self._on_exit = on_exit

    def start_all(self) -> None:
        for component in self.components:
            component.launch()

    def tend(self) -> list[Component]:
        """Notice components that exited and restart those whose pause is over.

        Returns the components that have just exited with a fatal code (a configuration
        error: a restart would fail the same way); they are not restarted.
        """
        now = time.monotonic()
        fatal: list[Component] = []
        for component in self.components:
            process = component.process
            if process is None or process.poll() is None:
                continue
            if process.returncode in self.fatal_codes:
                if component.name not in self.given_up:
                    self.given_up.add(component.name)
                    fatal.append(component)
                continue
            if component.restart_at is None:
                if now - component.started_at >= self.backoff.stable_s:
                    component.failures = 0
                delay = self.backoff.delay(component.failures)
                component.failures += 1
                component.restart_at = now + delay
                code = process.returncode
                logger.warning(
                    "%s exited with code %s; restarting it in %.0f s", component.name, code, delay
                )
                if self._on_exit is not None:
                    self._on_exit(component, code, delay)
            elif now >= component.restart_at:
                try:
                    component.launch()
                except Exception as exc:  # e.g. nats-server's port still taken: try later
                    logger.warning("could not restart %s: %r", component.name, exc)
                    component.restart_at = None
                    component.started_at = now
                    continue
                component.restarts += 1
                logger.info("%s restarted (restart %d)", component.name, component.restarts)
        return fatal

    def stop(self, stages: Sequence[Sequence[str]], timeout_s: float = 20.0) -> None:
        """Stop the named components stage by stage; components in no stage go last."""
        named = {name for stage in stages for name in stage}
        rest = [c.name for c in self.components if c.name not in named]
        for stage in [*stages, rest]:
            members = [(c, c.process) for c in self.components if c.name in stage and c.process]
            for _, process in members:
                ask_to_stop(process)
            deadline = time.monotonic() + timeout_s
            for component, process in members:
                try:
                    process.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    logger.warning(
                        "%s did not stop in %.0f s: killing it", component.name, timeout_s
                    )
                    process.kill()
                    process.wait()
