"""Several API processes on one port, each with its own listening socket.

Uvicorn's ``--workers`` shares one listening socket between its processes, and
whichever process wakes first accepts: with keep-alive clients connecting at once,
one process can end up with nearly every connection (seen here: 62 of 64) while the
other idles, which halves throughput and stretches tail latency. With
``SO_REUSEPORT`` every process binds its own socket to the same port and the kernel
spreads new connections across them evenly.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from types import FrameType

APP = "productsync.api.app:factory"
RESTART_PAUSE_SECONDS = 1.0
PR_SET_PDEATHSIG = 1


def balanced_available() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def _listener(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _die_with_parent(parent: int) -> None:
    """Linux: a supervisor killed outright (SIGKILL) must not leave its API processes
    holding the port; the kernel sends them SIGTERM when it goes."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return  # not Linux: stopping the supervisor normally still stops its processes
    if os.getppid() != parent:  # it went before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _run_one(host: str, port: int, log_level: str, parent: int) -> None:
    """One API process: its own socket on the shared port, one uvicorn server."""
    import uvicorn

    _die_with_parent(parent)
    sock = _listener(host, port)
    config = uvicorn.Config(APP, factory=True, log_level=log_level, access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def serve_balanced(host: str, port: int, workers: int, log_level: str) -> int:
    """Start ``workers`` API processes and keep them running until SIGINT/SIGTERM: a
    process that dies is started again. Returns the exit code for the CLI."""
    _listener(host, port).close()  # fail here, once, if the port is taken
    ctx = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> BaseProcess:
        proc = ctx.Process(target=_run_one, args=(host, port, log_level, os.getpid()), daemon=False)
        proc.start()
        return proc

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    procs = [start() for _ in range(workers)]
    try:
        while not stopping:
            time.sleep(0.2)
            for i, proc in enumerate(procs):
                if not proc.is_alive() and not stopping:
                    time.sleep(RESTART_PAUSE_SECONDS)  # a process that cannot start must not spin
                    procs[i] = start()
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()  # uvicorn finishes its requests and runs the shutdown
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
