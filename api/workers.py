"""``serve --workers N``: N uvicorn processes on one port, each with its own listening socket.

uvicorn's own multi-process mode shares one listening socket between its workers, and
whichever process wakes first accepts: under load one worker took most of a client's
connections while the other core idled part of the time. Here the parent binds one
socket per worker with ``SO_REUSEPORT`` and the kernel spreads new connections over them
(by a hash of the client's address and port).

The parent only supervises: it starts the workers (fresh interpreters, which build their
app from the ``DISPATCH_*`` environment), replaces one that crashes (the connections
queued on its socket are lost with it), and passes SIGTERM/SIGINT on to them. A worker
whose parent is killed outright (``kill -9``) is stopped by the kernel (Linux
``PR_SET_PDEATHSIG``), so no orphan keeps serving the port.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from typing import Any

from dispatch_engine.errors import InvalidInputError

logger = logging.getLogger(__name__)

APP_FACTORY = "api.main:app_from_environment"
# How long workers get to finish their requests after SIGTERM before they are killed.
STOP_TIMEOUT_S = 10.0
# A worker that exits sooner after its start failed to start (bad settings, port taken).
START_GRACE_S = 30.0
_PR_SET_PDEATHSIG = 1


def run_workers(count: int, *, host: str, port: int, options: dict[str, Any]) -> None:
    """Serve ``APP_FACTORY`` from ``count`` processes until SIGTERM/SIGINT.

    A worker that dies after :data:`START_GRACE_S` (a crash under load) is replaced by a
    new one on a new socket; one that dies sooner failed to start, and the server stops.

    Parameters
    ----------
    count
        Worker processes (one listening socket each).
    host, port
        Where every worker listens.
    options
        ``uvicorn.Config`` keyword arguments (protocol, loop, logging) for each worker.

    Raises
    ------
    InvalidInputError
        ``field="port"`` when something listens on the port already.
    SystemExit
        With status 1 when a worker failed to start.
    """
    stopping = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stopping.set())
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    workers: list[tuple[BaseProcess, float]] = []
    try:
        _check_free(host, port)
        workers = [_start(host, port, options, index) for index in range(count)]
        _freeze_imports()
        while not stopping.wait(0.5):
            for index, (worker, started) in enumerate(workers):
                if worker.is_alive():
                    continue
                if time.monotonic() - started < START_GRACE_S:
                    logger.error("server worker %d failed to start; stopping", index)
                    raise SystemExit(1)
                logger.error(
                    "server worker %d exited (%s); starting another", index, worker.exitcode
                )
                workers[index] = _start(host, port, options, index)
    finally:
        _stop([worker for worker, _ in workers])
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _freeze_imports() -> None:
    """Keep the parent's start-up objects (the whole app's imports, a few hundred thousand)
    out of its full garbage collections: the supervision loop makes a little garbage every
    half second, and the rare full collection it eventually set off took about 150 ms of
    CPU, taken from the workers on a 2-core machine. As in the workers
    (``api.main``), start-up's few garbage cycles are frozen with them rather than
    collected first (a full collection here took 300 ms while the workers start)."""
    gc.freeze()


def _start(host: str, port: int, options: dict[str, Any], index: int) -> tuple[BaseProcess, float]:
    """A new worker on a new listening socket, and when it started."""
    listener = _listener(host, port)
    try:
        worker = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(listener, os.getpid(), options), name=f"api-worker-{index}"
        )
        worker.start()
    finally:
        # The worker holds its own copy; one left open here would take connections that
        # nobody accepts once the worker is gone.
        listener.close()
    return worker, time.monotonic()


def _check_free(host: str, port: int) -> None:
    """Refuse a port something listens on already. ``SO_REUSEPORT`` sockets of one user
    share a port: without this check a second server started on the same port would take
    part of the first one's connections instead of failing.

    Raises
    ------
    InvalidInputError
        ``field="port"`` when the port is taken.
    """
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise InvalidInputError(f"cannot listen on {host}:{port}: {exc}", field="port") from exc


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _listener(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` that other ``SO_REUSEPORT`` sockets share."""
    listener = socket.socket(_family(host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind((host, port))
        listener.listen(2048)
        listener.set_inheritable(True)
    except BaseException:
        listener.close()
        raise
    return listener


def _stop(workers: Sequence[BaseProcess]) -> None:
    """SIGTERM every live worker, wait up to :data:`STOP_TIMEOUT_S`, then SIGKILL."""
    for worker in workers:
        if worker.is_alive():
            worker.terminate()
    for worker in workers:
        worker.join(STOP_TIMEOUT_S)
        if worker.is_alive():
            worker.kill()
            worker.join()


def _serve(listener: socket.socket, parent: int, options: dict[str, Any]) -> None:
    """A worker: uvicorn on ``listener`` until SIGTERM (or its parent's death)."""
    import uvicorn

    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        return  # the parent died before the line above could take effect
    config = uvicorn.Config(APP_FACTORY, factory=True, **options)
    uvicorn.Server(config).run(sockets=[listener])
