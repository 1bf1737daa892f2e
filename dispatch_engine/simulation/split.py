"""Split runs: one simulated period on several cores, with exactly the result of one run.

A run forgets its past whenever nothing is going on: no incident open, every vehicle
at its base and available, nothing due but reports and shift starts (``EventLoop.at_rest``).
Such moments come most nights. So the incidents are cut into ``workers`` stretches, each
run in its own forked process (sharing the road engine built before the fork) from a
report that follows a long quiet gap, as if nothing were going on before it. Each
process runs on past the start of the next stretch until a report before which both
runs are at rest: from there on the next run goes exactly as its own would, so it stops,
and the next stretch's results count from that report. Should no such report come (a
fleet that never rests), it runs to the end and the later stretches are dropped: the
result is always the one :func:`~dispatch_engine.simulation.des.simulate` gives.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

from dispatch_engine.dispatch.model import Incident
from dispatch_engine.dispatch.ports import ManualClock
from dispatch_engine.dispatch.service import Dispatcher
from dispatch_engine.simulation.des import (
    BaseTrips,
    Busy,
    EventLoop,
    SimIncident,
    SimulationResult,
    check_order,
    expect_sites,
    simulate,
    start_run,
)

MIN_STRETCH = 300  # incidents: below that a process costs more than it saves
_BATCH = 200  # incidents a stretch's process sends at a time


def usable_cores() -> int:
    """The cores this process may run on (a container may allow fewer than it has)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Rest:
    """How far a run had got by a report before which it was at rest."""

    events: int
    busy: int
    handed_off: int


@dataclass(frozen=True)
class Stretch:
    """What one process ran, until report ``stopped_at`` (None: the end)."""

    incidents: tuple[Incident, ...]
    busy: tuple[Busy, ...]
    handed_off: tuple[str, ...]
    events: int
    end: datetime
    rests: dict[int, Rest]
    stopped_at: int | None


def simulate_split(
    dispatcher: Dispatcher,
    clock: ManualClock,
    incidents: Sequence[SimIncident],
    *,
    workers: int,
    trips: BaseTrips | None = None,
    until: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    min_stretch: int = MIN_STRETCH,
) -> SimulationResult:
    """:func:`~dispatch_engine.simulation.des.simulate` on up to ``workers`` processes.

    Same parameters and result; one process when ``workers`` is 1, the run too short to
    split (stretches of ``min_stretch`` incidents at least) or the platform cannot fork.
    On Ctrl-C the processes stop and the first
    stretch's incidents so far are reported (``interrupted=True``).
    """
    firsts = stretch_starts(incidents, workers, min_stretch)
    if len(firsts) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return simulate(dispatcher, clock, incidents, trips=trips, until=until, progress=progress)
    check_order(incidents)
    started = time.perf_counter()
    trips = trips or BaseTrips(dispatcher.router, dispatcher.store.fleet(), incidents)
    context = multiprocessing.get_context("fork")
    reported = context.Array("q", len(firsts), lock=False)
    # links[j]: stretch j + 1 tells stretch j before which reports it was at rest
    links = [context.Pipe(duplex=False) for _ in firsts[1:]]
    jobs = [
        _Job(j, firsts, links, reported, dispatcher, clock, incidents, trips, until)
        for j in range(len(firsts))
    ]
    children = []
    for job in jobs[1:]:
        results_in, results_out = context.Pipe(duplex=False)
        process = context.Process(target=_child, args=(job, results_out), daemon=True)
        process.start()
        results_out.close()
        children.append((process, _Inbox(results_in)))
    jobs[0].keep_own_links()
    for _, inbox in children:
        inbox.start()

    def report(count: int) -> None:
        reported[0] = count
        if progress is not None:
            progress(min(len(incidents), sum(reported)))

    try:
        stretches = [jobs[0].run(report)]
        for _, inbox in children:
            if stretches[-1].stopped_at is None:
                break  # it ran to the end: the later stretches are not needed
            while not inbox.done.wait(0.25):
                report(reported[0])
            stretches.append(inbox.stretch())
    except KeyboardInterrupt:
        return _so_far(jobs[0], started)
    finally:
        for process, _ in children:
            process.terminate()
            process.join()
    return _joined(stretches, incidents, started)


def stretch_starts(
    incidents: Sequence[SimIncident], workers: int, min_stretch: int = MIN_STRETCH
) -> list[int]:
    """Where each stretch starts: near an equal share of the incidents, at the report
    after the longest gap within the next 2 % of them (the likeliest quiet moment)."""
    n = len(incidents)
    count = max(1, min(workers, n // min_stretch))
    window = _window(incidents)
    at = [s.request.reported_at for s in incidents]
    firsts = [0]
    for j in range(1, count):
        candidates = range(max(firsts[-1] + 1, j * n // count), min(n, j * n // count + window))
        firsts.append(max(candidates, key=lambda k: at[k] - at[k - 1]))
    return firsts


def _window(incidents: Sequence[SimIncident]) -> int:
    """How far past a stretch's start the quiet moment to start it at is looked for."""
    return max(1, len(incidents) // 50)


@dataclass
class _Job:
    """One stretch of a split run, as its process runs it."""

    j: int
    firsts: list[int]
    links: list[tuple[Connection, Connection]]
    reported: Any  # a shared array: incidents each stretch has reported so far
    dispatcher: Dispatcher
    clock: ManualClock
    incidents: Sequence[SimIncident]
    trips: BaseTrips
    until: datetime | None
    loop: EventLoop | None = None

    def keep_own_links(self) -> None:
        """Close this process's copies of the links it does not use, so that the end of
        the process writing to its link is seen (``EOFError``) instead of waited for."""
        for i, (reader, writer) in enumerate(self.links):
            if i != self.j:
                reader.close()
            if i != self.j - 1:
                writer.close()

    def run(
        self,
        progress: Callable[[int], None],
        send: Callable[[tuple[Incident, ...]], None] | None = None,
    ) -> Stretch:
        """Run the stretch; with ``send``, incidents closed at a rest go out in batches
        as the run goes (the parent takes them in meanwhile), the rest come at the end."""
        first = self.firsts[self.j]
        last = self.j + 1 == len(self.firsts)
        # its own sites, and those of the next stretch it is likely to run before handing over
        ahead = len(self.incidents) if last else self.firsts[self.j + 1] + _window(self.incidents)
        expect_sites(self.dispatcher, self.incidents[first:ahead])
        self.loop = loop = start_run(
            self.dispatcher,
            self.clock,
            self.incidents,
            trips=self.trips.covering(range(first, ahead)),
            until=self.until,
            first=first,
        )
        rests: dict[int, Rest] = {}  # by the report before which the run was at rest
        earlier = self.links[self.j - 1][1] if self.j else None
        follower = None if last else _Follower(self.links[self.j][0])
        handover = len(self.incidents) if last else self.firsts[self.j + 1]
        stopped_at: int | None = None
        sent = first  # incidents before this one were sent

        def quiet(k: int) -> bool:
            nonlocal stopped_at, sent
            rests[k] = Rest(loop.events, len(loop.busy), len(loop.handed_off))
            if send is not None and k - sent >= _BATCH:  # all closed: nothing is going on
                send(self._reported(sent, k))
                sent = k
            if earlier is not None:
                _tell(earlier, k)
            if follower is not None and k >= handover and follower.rested_at(k):
                stopped_at = k
                return True
            return False

        loop.quiet = quiet
        loop.loop(progress, every=max(1, len(self.incidents) // 100))
        if earlier is not None:
            _tell(earlier, len(self.incidents))  # no more rests to come
        return Stretch(
            incidents=(
                tuple(self.dispatcher.store.incidents())
                if send is None
                else self._reported(sent, len(self.incidents) if stopped_at is None else stopped_at)
            ),
            busy=tuple(loop.busy),
            handed_off=tuple(loop.handed_off),
            events=loop.events,
            end=loop.now,
            rests=rests,
            stopped_at=stopped_at,
        )

    def _reported(self, start: int, stop: int) -> tuple[Incident, ...]:
        """The incidents ``start`` to ``stop`` (exclusive) as they stand, those reported."""
        found = (
            self.dispatcher.store.get_incident(s.request.id) for s in self.incidents[start:stop]
        )
        return tuple(i for i in found if i is not None)


class _Inbox(threading.Thread):
    """Takes in a stretch process's messages as they come, so that it never waits to
    send: batches of incidents, then the stretch (or why it failed)."""

    def __init__(self, link: Connection) -> None:
        super().__init__(daemon=True)
        self.link = link
        self.incidents: list[Incident] = []
        self.last: Stretch | str = "the simulation process ended without its result"
        self.done = threading.Event()

    def run(self) -> None:
        try:
            while isinstance(message := self.link.recv(), tuple):
                self.incidents += message
            self.last = message
        except EOFError:
            pass
        finally:
            self.done.set()

    def stretch(self) -> Stretch:
        """The stretch with every incident it sent; raises if its process failed."""
        if isinstance(self.last, str):
            raise RuntimeError(f"a simulation process failed:\n{self.last}")
        return dataclasses.replace(self.last, incidents=(*self.incidents, *self.last.incidents))


def _tell(link: Connection, k: int) -> None:
    """Tell the earlier stretch of a rest; once it has handed over it no longer listens."""
    with contextlib.suppress(BrokenPipeError):
        link.send(k)


class _Follower:
    """The next stretch's rests, as it reports them (in report order)."""

    def __init__(self, link: Connection) -> None:
        self.link = link
        self.rests: set[int] = set()
        self.passed = -1

    def rested_at(self, k: int) -> bool:
        """Whether the next stretch was at rest before report ``k`` (waits until it knows;
        a next stretch that ended early, having failed, never was)."""
        while self.passed < k:
            try:
                self.passed = self.link.recv()
            except EOFError:
                self.passed = 1 << 62
            self.rests.add(self.passed)
        return k in self.rests


def _child(job: _Job, results: Connection) -> None:
    """A stretch's process: run it and send what it ran (or why it failed) to the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends us
    job.keep_own_links()

    def report(count: int) -> None:
        job.reported[job.j] = count

    try:
        results.send(job.run(report, send=results.send))
    except BaseException:  # noqa: BLE001 - any failure goes to the parent, which raises it
        results.send(traceback.format_exc())


def _joined(
    stretches: list[Stretch], incidents: Sequence[SimIncident], started: float
) -> SimulationResult:
    """The stretches' parts joined at their handovers: one run's result."""
    index = {s.request.id: k for k, s in enumerate(incidents)}
    joined: list[Incident] = []
    busy: list[Busy] = []
    handed_off: list[str] = []
    events = 0
    cut = 0
    used = 0
    for stretch in stretches:
        used += 1
        start = stretch.rests[cut] if cut else Rest(0, 0, 0)
        joined += [i for i in stretch.incidents if index[i.id] >= cut]
        busy += stretch.busy[start.busy :]
        handed_off += stretch.handed_off[start.handed_off :]
        events += stretch.events - start.events
        end = stretch.end
        if stretch.stopped_at is None:
            break
        cut = stretch.stopped_at
    return SimulationResult(
        incidents=tuple(joined),
        busy=tuple(busy),
        handed_off=tuple(handed_off),
        start=incidents[0].request.reported_at,
        end=end,
        events=events,
        interrupted=False,
        wall_s=time.perf_counter() - started,
        stretches=used,
    )


def _so_far(job: _Job, started: float) -> SimulationResult:
    """The first stretch as far as it got: what a Ctrl-C'd single run would report."""
    assert job.loop is not None
    loop = job.loop
    return SimulationResult(
        incidents=tuple(job.dispatcher.store.incidents()),
        busy=tuple(loop.busy),
        handed_off=tuple(loop.handed_off),
        start=job.incidents[0].request.reported_at,
        end=loop.now,
        events=loop.events,
        interrupted=True,
        wall_s=time.perf_counter() - started,
    )
