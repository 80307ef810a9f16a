"""``mdbridge bridge --workers N``: N bridge processes sharing one port with SO_REUSEPORT.

Each worker binds its own listening socket with SO_REUSEPORT, so the kernel spreads new
connections across processes; each holds its own NATS connection and its own shared
interest (one ordered consumer per stream per process), as replicas on Kubernetes do.
The supervisor forwards SIGINT/SIGTERM, restarts a worker that dies, and exits when all
workers have stopped.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time
from multiprocessing.process import BaseProcess

from bridge import BridgeSettings
from mdbridge.limits import raise_fd_limit
from mdbridge.logs import configure_logging
from mdbridge.natsserver import free_port

logger = logging.getLogger(__name__)

RESTART_PAUSE_S = 1.0
STOP_TIMEOUT_S = 30.0


def reuseport_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def serve_one(settings: BridgeSettings, log_level: str) -> None:
    """One worker process: its own socket in the port's SO_REUSEPORT group."""
    from bridge import serve
    from mdbridge.eventloop import run

    configure_logging(log_level)
    raise_fd_limit()
    sock = reuseport_socket(settings.host, settings.port)
    run(serve(settings, sockets=[sock]), prefer_uvloop=settings.event_loop == "uvloop")


def run_workers(settings: BridgeSettings, log_level: str) -> int:  # noqa: C901 (one flow, top to bottom: see pyproject)
    """Supervise the workers; a configuration error is raised here, before any starts."""
    from bridge import uvicorn_config

    uvicorn_config(settings)  # builds the app: access settings are checked now, once
    if settings.port == 0:  # every worker must bind the same port
        settings = settings.model_copy(update={"port": free_port(settings.host)})
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start(index: int) -> BaseProcess:
        process = context.Process(
            target=serve_one, args=(settings, log_level), name=f"bridge-worker-{index}"
        )
        process.start()
        return process

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for process in workers:
            if process.is_alive() and process.pid is not None:
                process.terminate()

    workers = [start(i) for i in range(settings.workers)]
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    logger.info("bridge running %d workers on port %d", settings.workers, settings.port)
    while not stopping:
        time.sleep(0.2)
        for index, process in enumerate(workers):
            if not process.is_alive() and not stopping:
                logger.warning(
                    "bridge worker %d exited with %s; restarting", index, process.exitcode
                )
                time.sleep(RESTART_PAUSE_S)
                workers[index] = start(index)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for process in workers:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()
    return 0
