"""A userspace link emulator for the network-fault tests: one TUN device per test host, one
relay process that switches IPv4 packets between them and applies the faults.

The kernels these tests run on may lack ``sch_netem`` and the tc classifiers (no modules
at all in a microVM), so delay, loss and blackholes are applied here instead, per packet,
at the IP layer: TCP above sees exactly what a lossy or silent link does to it (no FIN, no
RST, retransmissions, RTO back-off). Run as ``python -m tests.support.netem CONFIG``; it
prints ``ready`` once every device is up, then reads one JSON command per line on stdin and
answers ``ok`` when it is in force:

- ``{"op": "cut", "a": "b1", "b": "n1"}`` / ``{"op": "heal", ...}``: drop everything between two
  hosts, both ways, or stop dropping;
- ``{"op": "impair", "a": "c1", "b": "b1", "delay_ms": 200, "loss": 0.02}``: every packet
  between the two hosts, either way, waits ``delay_ms`` and is lost with probability ``loss``
  (seeded, repeatable);
- ``{"op": "clear"}``: no faults at all.

Linux only; needs root (TUN devices, ``ip netns``).
"""

from __future__ import annotations

import contextlib
import fcntl
import heapq
import json
import os
import random
import selectors
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
MTU = 1500
SEED = 20261205


@dataclass(frozen=True)
class HostSpec:
    """One host: its device name, namespace (None: the test's own) and IPv4 address."""

    name: str
    device: str
    namespace: str | None
    address: str


def open_tun(device: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", device.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def ip(namespace: str | None, *args: str) -> None:
    prefix = ["ip", "-n", namespace] if namespace else ["ip"]
    subprocess.run([*prefix, *args], check=True, capture_output=True)


def bring_up(host: HostSpec, prefix_len: int) -> None:
    if host.namespace:
        ip(None, "link", "set", host.device, "netns", host.namespace)
        ip(host.namespace, "link", "set", "lo", "up")
    ip(host.namespace, "addr", "add", f"{host.address}/{prefix_len}", "dev", host.device)
    ip(host.namespace, "link", "set", host.device, "mtu", str(MTU), "up")


@dataclass
class Switch:
    """The relay's state: which fd is which host, and the faults in force."""

    hosts: dict[int, str]  # fd -> host name
    by_address: dict[bytes, int]  # packed IPv4 -> fd
    cut: set[frozenset[str]] = field(default_factory=set)
    impaired: dict[frozenset[str], tuple[float, float]] = field(default_factory=dict)
    pending: list[tuple[float, int, int, bytes]] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(SEED))
    order: int = 0

    def apply(self, command: dict[str, object]) -> None:
        op = command["op"]
        if op in ("cut", "heal"):
            pair = frozenset((str(command["a"]), str(command["b"])))
            (self.cut.add if op == "cut" else self.cut.discard)(pair)
        elif op == "impair":
            pair = frozenset((str(command["a"]), str(command["b"])))
            delay = float(str(command.get("delay_ms", 0))) / 1000  # seconds, each way
            self.impaired[pair] = (delay, float(str(command.get("loss", 0))))
        elif op == "clear":
            self.cut.clear()
            self.impaired.clear()
        else:
            raise ValueError(f"unknown op {op!r}")

    def route(self, source_fd: int, packet: bytes, now: float) -> None:
        if len(packet) < 20 or packet[0] >> 4 != 4:
            return  # IPv4 only; the tests' hosts have no other addresses
        target_fd = self.by_address.get(packet[16:20])
        if target_fd is None:
            return
        pair = frozenset((self.hosts[source_fd], self.hosts[target_fd]))
        if pair in self.cut:
            return
        delay, loss = self.impaired.get(pair, (0.0, 0.0))
        if loss and self.rng.random() < loss:
            return
        if delay:
            self.order += 1  # equal due times keep their arrival order
            heapq.heappush(self.pending, (now + delay, self.order, target_fd, packet))
        else:
            write(target_fd, packet)

    def release(self, now: float) -> float | None:
        """Send what is due; the seconds until the next packet is, if any."""
        while self.pending and self.pending[0][0] <= now:
            _, _, fd, packet = heapq.heappop(self.pending)
            write(fd, packet)
        return self.pending[0][0] - now if self.pending else None


def write(fd: int, packet: bytes) -> None:
    # a full or vanished device drops the packet, as a congested link would
    with contextlib.suppress(BlockingIOError, OSError):
        os.write(fd, packet)


def serve(specs: list[HostSpec], prefix_len: int) -> None:
    fds = {}
    for spec in specs:
        fds[spec.name] = open_tun(spec.device)
        bring_up(spec, prefix_len)
    switch = Switch(
        hosts={fd: name for name, fd in fds.items()},
        by_address={bytes(int(part) for part in s.address.split(".")): fds[s.name] for s in specs},
    )
    selector = selectors.DefaultSelector()
    for fd in fds.values():
        selector.register(fd, selectors.EVENT_READ)
    os.set_blocking(sys.stdin.fileno(), False)
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ)
    print("ready", flush=True)
    commands = b""
    timeout: float | None = None
    while True:
        for key, _ in selector.select(timeout):
            fd = int(key.fd)
            if fd == sys.stdin.fileno():
                chunk = os.read(fd, 65536)
                if not chunk:
                    return  # the harness is gone: so is the network
                commands += chunk
                while b"\n" in commands:
                    line, commands = commands.split(b"\n", 1)
                    switch.apply(json.loads(line))
                    print("ok", flush=True)
                continue
            now = time.monotonic()
            for _ in range(64):  # a bounded batch per wake-up keeps the others served
                try:
                    packet = os.read(fd, MTU + 64)
                except BlockingIOError:
                    break
                switch.route(fd, packet, now)
        timeout = switch.release(time.monotonic())


def main() -> None:
    config = json.loads(sys.argv[1])
    specs = [HostSpec(**host) for host in config["hosts"]]
    serve(specs, int(config["prefix_len"]))


if __name__ == "__main__":
    main()
