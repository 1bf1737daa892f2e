"""``dispatch-engine serve`` in child processes on loopback, for the tests and benchmarks
that need the real server (separate processes, real sockets, ``kill -9``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class LocalServer:
    base_url: str
    pid: int


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_command(port: int, database: str, fleet: Path, workers: int) -> list[str]:
    """The ``dispatch-engine serve`` command line for a local server (this interpreter)."""
    return [
        sys.executable,
        "-c",
        "from dispatch_engine.cli import app; app()",
        "serve",
        "--port",
        str(port),
        "--db",
        database,
        "--fleet",
        str(fleet),
        "--workers",
        str(workers),
    ]


@contextmanager
def local_servers(
    count: int,
    *,
    database: str,
    fleet: Path,
    env: Mapping[str, str],
    log: Path,
    workers: int = 1,
    cwd: Path | None = None,
) -> Iterator[list[LocalServer]]:
    """Start ``count`` servers on one database together, wait until each answers
    ``/healthz``, yield them, and stop them (SIGTERM, then SIGKILL after 10 s).

    Parameters
    ----------
    database
        The ``--db`` of every server (migrate it first when several start at once).
    fleet
        The ``--fleet`` file.
    env
        ``DISPATCH_*`` settings added to this process's environment (network, ...).
    log
        Where the servers' output goes (appended).
    workers
        The ``--workers`` of every server (processes sharing its port).
    cwd
        Where the servers run (default here): their code is the tree found there first,
        so a checkout of another commit serves its own code (``benchmarks.compare_api``).
    """
    started: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        with log.open("ab") as output:
            for _ in range(count):
                port = free_port()
                command = serve_command(port, database, fleet, workers)
                process = subprocess.Popen(
                    command,
                    cwd=cwd,
                    env={**os.environ, **env},
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
                started.append((f"http://127.0.0.1:{port}", process))
        for base_url, process in started:
            _wait_healthy(base_url, process, log)
        yield [LocalServer(base_url, process.pid) for base_url, process in started]
    finally:
        for _, process in started:
            if process.poll() is None:
                process.terminate()
        for _, process in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"server not healthy within {START_TIMEOUT_S} s:\n{log.read_text()}")
