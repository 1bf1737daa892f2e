"""Compare two source trees of this project: CPU per report of their API servers, side by side.

Why: on the shared 2-core host the machine's speed drifts by a fifth or more from one
minute to the next (the benchmark client's own CPU for identical work moved between 0.59
and 1.05 ms per request), so two runs of ``bench_api`` one after the other cannot tell a
5 % change from noise. Here both trees' servers run at once (``serve --workers 2`` each,
each on its own PostgreSQL schema, the same fleet) and the client alternates reports
between them at a fixed rate: both see the host at the same moments, and the ratio of
their CPU per report repeats to a percent or two.

Per round it prints, for each tree, the CPU its server processes used per report and the
CPU of the PostgreSQL backends serving them (found by the servers' connections), and the
ratio new / old. Keep the total rate below saturation (two servers cost more than one).

Run: ``.venv/bin/python -m benchmarks.compare_api OLD_TREE NEW_TREE`` where a tree is a
checkout, e.g. ``git archive <commit> | tar -x -C /tmp/old``; PostgreSQL from
``DISPATCH_BENCH_PG_URL`` as for ``bench_api``.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import aiohttp
import numpy as np
import typer
import uvloop
from sqlalchemy import text

from api.local import local_servers
from benchmarks.bench_api import SEED, VEHICLES, database, report, road_points, write_fleet
from dispatch_engine.store.db import make_engine
from dispatch_engine.store.dispatch_sql import SqlApiKeys
from dispatch_engine.store.migrate import upgrade

WARMUP = 100  # reports per server before the first round (connections, statement caches)


@dataclass(frozen=True)
class Server:
    """One tree's running server."""

    base_url: str
    key: str
    database: str
    pid: int

    def pids(self) -> list[int]:
        """The supervisor and its worker processes."""
        found = subprocess.run(["pgrep", "-P", str(self.pid)], capture_output=True, text=True)
        return [self.pid, *map(int, found.stdout.split())]


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used so far (gone ones count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def backends(server: Server) -> list[int]:
    """PostgreSQL backend pids serving ``server``'s workers (by their client ports)."""
    sockets = subprocess.run(
        ["ss", "-tnpH", "dport = :5432"], capture_output=True, text=True
    ).stdout
    workers = set(server.pids())
    ports = {
        int(match.group(1))
        for match in re.finditer(r":(\d+)\s+\S+:5432\s.*?pid=(\d+)", sockets)
        if int(match.group(2)) in workers
    }
    engine = make_engine(server.database)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT pid, client_port FROM pg_stat_activity WHERE client_port > 0")
            ).all()
    finally:
        engine.dispose()
    return [pid for pid, port in rows if port in ports]


def start(tree: Path, directory: Path, fleet: Path, stack: ExitStack) -> Server:
    """A ``serve --workers 2`` of ``tree`` (its own code: the process runs in it) on a new
    PostgreSQL schema, with a dispatcher key."""
    url = stack.enter_context(database("postgresql", directory))
    engine = make_engine(url)
    upgrade(engine)
    key = SqlApiKeys(engine).create("dispatcher")[1]
    engine.dispose()
    [server] = stack.enter_context(
        local_servers(
            1,
            database=url,
            fleet=fleet,
            env={"DISPATCH_ESCALATION_CHECK_S": "0"},
            log=directory / f"server-{tree.name}.log",
            workers=2,
            cwd=tree,
        )
    )
    return Server(server.base_url, key, url, server.pid)


async def compare(servers: list[Server], sites: np.ndarray, rate: float, rounds: int) -> None:
    """Warm both up, then ``rounds`` rounds of reports alternating between them."""
    sessions = [
        aiohttp.ClientSession(
            base_url=server.base_url,
            headers={"X-API-Key": server.key},
            connector=aiohttp.TCPConnector(limit=256),
        )
        for server in servers
    ]

    async def post(side: int, number: int) -> None:
        lat, lon = sites[number]
        async with sessions[side].post(
            "/v1/incidents",
            json=report(number, float(lat), float(lon)),
            headers={"Idempotency-Key": f"compare-{number}"},
        ) as answer:
            await answer.read()
            if answer.status != 201:
                raise RuntimeError(f"report {number}: HTTP {answer.status}")

    try:
        await asyncio.gather(*(post(side, n) for n in range(WARMUP) for side in (0, 1)))
        per_round = (len(sites) - WARMUP) // rounds
        for done in range(rounds):
            first = WARMUP + done * per_round
            pids = [server.pids() for server in servers]
            pg = [backends(server) for server in servers]
            before = [cpu_s(p) for p in pids] + [cpu_s(p) for p in pg]
            started, tasks = time.perf_counter(), []
            for i in range(per_round):
                await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
                tasks.append(asyncio.create_task(post(i % 2, first + i)))
            await asyncio.gather(*tasks)
            after = [cpu_s(p) for p in pids] + [cpu_s(p) for p in pg]
            ms = [2000.0 * (a - b) / per_round for a, b in zip(after, before, strict=True)]
            print(
                f"round {done + 1}: server ms/report old {ms[0]:.2f} new {ms[1]:.2f} "
                f"(new/old {ms[1] / ms[0]:.3f}); PostgreSQL old {ms[2]:.2f} new {ms[3]:.2f} "
                f"(new/old {ms[3] / ms[2]:.3f})",
                flush=True,
            )
    finally:
        for session in sessions:
            await session.close()


def main(
    old: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="Old tree.")],
    new: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="New tree.")],
    rate: Annotated[float, typer.Option(min=1.0, help="Reports per second, both.")] = 120.0,
    rounds: Annotated[int, typer.Option(min=1)] = 3,
    reports: Annotated[int, typer.Option(min=20, help="Timed reports per round.")] = 1200,
) -> None:
    """Server and PostgreSQL CPU per report of two trees' API servers, side by side."""
    rng = np.random.default_rng(SEED)
    points = road_points(rng, VEHICLES + WARMUP + reports * rounds)
    with tempfile.TemporaryDirectory(prefix="compare-api-") as tmp, ExitStack() as stack:
        directory = Path(tmp)
        fleet = write_fleet(directory, points[:VEHICLES])
        servers = [start(tree.resolve(), directory, fleet, stack) for tree in (old, new)]
        sites = points[VEHICLES:]
        uvloop.run(compare(servers, sites, rate, rounds))


if __name__ == "__main__":
    typer.run(main)
