"""Guarantee scenarios (issue 7): the four standard days under the optimizer and two baselines.

Each scenario of :mod:`dispatch_engine.simulation.scenarios` (normal week, storm day, cars
away, thin night) is drawn from ``SEEDS`` on the embedded network with the shipped fleet
and demand, and every draw runs through the production dispatcher three times, once per
policy: ``optimizer`` (production: nearest by road for each report, joint OR-tools
assignment of whatever waits when vehicles free up), ``greedy_road`` (the same, but the
queue served one incident at a time, nearest by road) and ``straight_line`` (the queue
too, nearest as the crow flies; arrivals still measured by road). The seeds are pooled:
per zone and over all zones, the share of owners called within 5 minutes, of incidents
reached within 15 / 30 / 60 minutes and within their zone's guarantee, and ETA p50 / p90 /
p99 (report to first vehicle on scene, waiting included). The optimizer's gain is the
ratio of guarantees met, optimizer over each baseline, pooled and per seed.

Writes ``results/latest.json`` (every number, the machine) and ``results/REPORT.md`` with
PNG charts beside it and the headline numbers of the other benchmarks' JSON files, so
``python -m benchmarks`` runs this one last.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402

from benchmarks.common import RESULTS_DIR, write_result  # noqa: E402
from dispatch_engine.dispatch.rank import POLICIES  # noqa: E402
from dispatch_engine.settings import fleet_path, load_settings  # noqa: E402
from dispatch_engine.simulation.demand import default_demand_path  # noqa: E402
from dispatch_engine.simulation.des import BaseTrips, SimulationResult  # noqa: E402
from dispatch_engine.simulation.report import outcomes  # noqa: E402
from dispatch_engine.simulation.runs import RunInputs  # noqa: E402
from dispatch_engine.simulation.scenarios import (  # noqa: E402
    ARRIVAL_THRESHOLDS_MIN,
    SCENARIOS,
    ScenarioSpec,
    guarantees,
    prepare_scenario,
    simulate_policy,
)
from dispatch_engine.wiring import build_router  # noqa: E402

SEEDS = tuple(range(1, 11))
START = date(2026, 3, 2)  # a Monday: the week starts here, the one-day scenarios fall on it
BASELINES = ("greedy_road", "straight_line")
WALL_TARGET_S = 300.0
POLICY_NOTES = {
    "optimizer": "production: each report gets the nearest free vehicle by road; whatever "
    "waits is assigned jointly (OR-tools: most guarantees met, injury first, then least "
    "total ETA) whenever vehicles free up",
    "greedy_road": "baseline: reports as above; the queue served one incident at a time "
    "(injury first, then earliest deadline), each taking its nearest free vehicle by road",
    "straight_line": "baseline: reports and queue take the nearest free vehicle as the crow "
    "flies (queue in the same order); arrivals measured by road",
}
COLORS = {"optimizer": "#4c72b0", "greedy_road": "#dd8452", "straight_line": "#8c8c8c"}


def main() -> None:
    started = time.perf_counter()
    settings = load_settings()
    router = build_router(settings, progress=print)
    scenarios, etas = {}, {}
    for spec in SCENARIOS.values():
        scenario_started = time.perf_counter()
        results: dict[str, list[SimulationResult]] = {name: [] for name in POLICIES}
        facts = []
        for seed in SEEDS:
            inputs = RunInputs(
                fleet=fleet_path(settings),
                demand=default_demand_path(settings),
                replay=None,
                start=START,
                days=None,
                seed=seed,
            )
            prepared = prepare_scenario(settings, inputs, router, spec)
            facts.append({k: v for k, v in prepared.facts().items() if k != "spec"})
            trips = BaseTrips(router, prepared.run.fleet, prepared.run.incidents)
            for name, policy in POLICIES.items():
                results[name].append(simulate_policy(prepared.run, policy, trips=trips))
        scenarios[spec.name] = _scenario_entry(spec, facts, results)
        etas[spec.name] = {name: _etas(runs) for name, runs in results.items()}
        scenarios[spec.name]["wall_s"] = round(time.perf_counter() - scenario_started, 2)
        print(f"{spec.name:12s} {_headline(scenarios[spec.name])}", flush=True)
    network = router.road.network
    payload = {
        "what": "standard guarantee scenarios through the production dispatcher, three policies",
        "network": network.meta.get("name"),
        "synthetic": network.synthetic,
        "engine": settings.engine,
        "start": START.isoformat(),
        "seeds": list(SEEDS),
        "policies": POLICY_NOTES,
        "scenarios": scenarios,
        "wall_s": round(time.perf_counter() - started, 1),
        "targets": {"wall_s": WALL_TARGET_S},
    }
    path = write_result("latest", payload)
    written = json.loads(path.read_text(encoding="utf-8"))
    charts = _plot(scenarios, etas, RESULTS_DIR)
    report = RESULTS_DIR / "REPORT.md"
    report.write_text(_report(written, charts), encoding="utf-8")
    print(f"wrote {report} and {', '.join(p.name for p in charts.values())}")


# -- numbers ---------------------------------------------------------------------------


def _scenario_entry(
    spec: ScenarioSpec, facts: Sequence[dict], results: Mapping[str, Sequence[SimulationResult]]
) -> dict:
    policies = {
        name: {
            "zones": guarantees(runs),
            "met_per_seed": [guarantees([r])["all"]["met"] for r in runs],
            "double_bookings": sum(_double_bookings(r) for r in runs),
        }
        for name, runs in results.items()
    }
    return {
        "title": spec.title,
        "spec": dataclasses.asdict(spec),
        "drawn": _drawn(facts),
        "policies": policies,
        "gain": {b: _gain(policies["optimizer"], policies[b]) for b in BASELINES},
    }


def _drawn(facts: Sequence[dict]) -> dict:
    """What the seeds drew, summed over seeds (and the per-seed incident counts)."""
    total: dict = {"incidents_per_seed": [f["incidents"] for f in facts]}
    for key in (
        "needing_tow",
        "injured",
        "natural_disaster_claims",
        "remote_assessed_not_dispatched",
    ):
        total[key] = sum(f[key] for f in facts)
    zones: dict[str, int] = {}
    for f in facts:
        for zone, n in f["incidents_by_zone"].items():
            zones[zone] = zones.get(zone, 0) + n
    total["incidents_by_zone"] = dict(sorted(zones.items()))
    total["own_vehicles"] = facts[0]["own_vehicles"]
    total["period"] = facts[0]["period"]
    return total


def _etas(runs: Sequence[SimulationResult]) -> list[float]:
    return [o.eta_min for r in runs for o in outcomes(r)]


def _double_bookings(result: SimulationResult) -> int:
    """Pairs of one vehicle's consecutive jobs that overlap in time (must be 0)."""
    spans: dict[str, list] = {}
    for job in result.busy:
        spans.setdefault(job.vehicle_id, []).append((job.start, job.end))
    overlaps = 0
    for jobs in spans.values():
        jobs.sort()
        overlaps += sum(
            b_start < a_end for (_, a_end), (b_start, _) in zip(jobs, jobs[1:], strict=False)
        )
    return overlaps


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _gain(optimizer: dict, baseline: dict) -> dict:
    """Optimizer over ``baseline``: guarantees met (pooled, per seed), reach, ETA p90."""
    opt, base = optimizer["zones"]["all"], baseline["zones"]["all"]
    per_seed = [
        round(o / b, 3)
        for o, b in zip(optimizer["met_per_seed"], baseline["met_per_seed"], strict=True)
        if b
    ]
    return {
        "guarantees_met_ratio": _ratio(opt["met"], base["met"]),
        "met_ratio_per_seed_min_max": [min(per_seed), max(per_seed)] if per_seed else None,
        "optimizer_ge_baseline_every_seed": all(
            o >= b for o, b in zip(optimizer["met_per_seed"], baseline["met_per_seed"], strict=True)
        ),
        "within_15_min_ratio": _ratio(opt["within_15_min"], base["within_15_min"]),
        "within_60_min_ratio": _ratio(opt["within_60_min"], base["within_60_min"]),
        "eta_p90_baseline_over_optimizer": _ratio(base["eta_min_p90"], opt["eta_min_p90"]),
    }


def _headline(entry: dict) -> str:
    parts = []
    for name, policy in entry["policies"].items():
        row = policy["zones"]["all"]
        parts.append(f"{name} {row['share_met']:.1%} met, p90 {row['eta_min_p90']} min")
    gain = entry["gain"]
    ratios = ", ".join(f"x{gain[b]['guarantees_met_ratio']} vs {b}" for b in BASELINES)
    return f"{'; '.join(parts)}; {ratios} ({entry['wall_s']} s)"


# -- charts ----------------------------------------------------------------------------


def _plot(
    scenarios: Mapping[str, dict], etas: Mapping[str, Mapping[str, list[float]]], folder: Path
) -> dict[str, Path]:
    """Three PNGs: shares reached per policy, ETA distribution per policy, the gain."""
    note = "embedded SYNTHETIC network, synthetic demand and fleet; all zones, seeds pooled"
    names = list(scenarios)
    charts = {}

    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.8), sharey=True)
    labels = ["call ≤5", *(f"≤{m} min" for m in ARRIVAL_THRESHOLDS_MIN), "guarantee"]
    keys = ["calls_within_5_min", *(f"within_{m}_min" for m in ARRIVAL_THRESHOLDS_MIN), "share_met"]
    x = np.arange(len(labels))
    for ax, name in zip(axes, names, strict=True):
        for k, policy in enumerate(POLICIES):
            row = scenarios[name]["policies"][policy]["zones"]["all"]
            ax.bar(
                x + (k - 1) * 0.27,
                [row[key] for key in keys],
                0.27,
                label=policy,
                color=COLORS[policy],
            )
        ax.set_xticks(x, labels, fontsize=8)
        ax.set_title(name)
        ax.set_ylim(0, 1.05)
    axes[0].set_ylabel("share of incidents")
    axes[0].legend(fontsize=8, loc="lower left")
    fig.suptitle(f"Guarantees by policy ({note})", fontsize=9)
    fig.tight_layout()
    charts["guarantees"] = _save(fig, folder / "report_guarantees.png")

    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.6), sharey=True)
    for ax, name in zip(axes, names, strict=True):
        for policy in POLICIES:
            eta = np.array(etas[name][policy], dtype=np.float64)
            reached = np.sort(eta[~np.isnan(eta)])
            share = np.arange(1, reached.size + 1) / max(eta.size, 1)
            ax.step(reached, share, where="post", label=policy, color=COLORS[policy])
        for minutes in ARRIVAL_THRESHOLDS_MIN:
            ax.axvline(minutes, color="#c44e52", linestyle="--", linewidth=0.8)
        ax.set_xlim(0, 180)
        ax.set_xlabel("minutes from report to first vehicle on scene")
        ax.set_title(name)
    axes[0].set_ylabel("share of incidents reached")
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"ETA distribution by policy ({note})", fontsize=9)
    fig.tight_layout()
    charts["eta"] = _save(fig, folder / "report_eta.png")

    fig, ax = plt.subplots(figsize=(7, 3.6))
    x = np.arange(len(names))
    for k, baseline in enumerate(BASELINES):
        ratios = [scenarios[n]["gain"][baseline]["guarantees_met_ratio"] or np.nan for n in names]
        bars = ax.bar(
            x + (k - 0.5) * 0.35, ratios, 0.35, label=f"vs {baseline}", color=COLORS[baseline]
        )
        ax.bar_label(bars, fmt="%.3f", fontsize=8)
    ax.axhline(1.0, color="black", linewidth=0.8)
    top = max(
        (scenarios[n]["gain"][b]["guarantees_met_ratio"] or 1.0) for n in names for b in BASELINES
    )
    ax.set_ylim(0, top * 1.2)
    ax.set_xticks(x, names)
    ax.set_ylabel("guarantees met: optimizer / baseline")
    ax.legend(fontsize=8, loc="upper right", ncols=2)
    ax.set_title(f"Optimizer gain ({note})", fontsize=9)
    fig.tight_layout()
    charts["gain"] = _save(fig, folder / "report_gain.png")
    return charts


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# -- the report ------------------------------------------------------------------------


def _report(latest: dict, charts: Mapping[str, Path]) -> str:
    machine = latest["machine"]
    scenarios = {k: v for k, v in latest["scenarios"].items()}
    lines = [
        "# Guarantee benchmark report",
        "",
        f"Measured {latest['measured_at']} on {machine['cpu']}, {machine['cores']} cores, "
        f"Python {machine['python']} ({machine['platform']}), by `make bench` "
        f"(this part alone: `python -m benchmarks scenarios`, {latest['wall_s']} s for all "
        f"scenarios, target {latest['targets']['wall_s']:.0f} s). All numbers: "
        f"[latest.json](latest.json).",
        "",
        f"**Everything here is simulated** on the {latest['network']} with the shipped "
        "SYNTHETIC fleet and demand files, through the production dispatcher "
        "(`dispatch_engine/simulation/scenarios.py`; run one yourself with "
        "`dispatch-engine simulate --scenario storm --policy optimizer --out DIR`). "
        f"Each scenario is drawn from seeds {latest['seeds'][0]}..{latest['seeds'][-1]} "
        f"starting {latest['start']}; the seeds are pooled.",
        "",
        "Policies:",
        "",
        *(f"- `{name}`: {note}." for name, note in latest["policies"].items()),
        "",
        "Metrics: *call ≤ 5* is the owner phoned by the 5-minute deadline; *≤ 15 / 30 / 60* "
        "the share of incidents whose first vehicle was on scene within that many minutes of "
        "the report (waiting for a free vehicle included); *guarantee* the share on scene "
        "by its own zone's deadline (Shaoguan 15, Guangdong 30, national 60 min). Unserved "
        "incidents miss every deadline. Survey-waived natural-disaster claims assessed from "
        "photos are not dispatch incidents and are not counted.",
        "",
        "## Headline: all zones",
        "",
        "| scenario | policy | incidents | call ≤ 5 | ≤ 15 min | ≤ 30 min | ≤ 60 min "
        "| guarantee met | ETA p50 / p90 / p99 (min) | double bookings |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, entry in scenarios.items():
        for policy, result in entry["policies"].items():
            row = result["zones"]["all"]
            lines.append(
                f"| {name} | {policy} | {row['incidents']} | {_pct(row['calls_within_5_min'])} | "
                + " | ".join(_pct(row[f"within_{m}_min"]) for m in ARRIVAL_THRESHOLDS_MIN)
                + f" | {_pct(row['share_met'])} ({row['met']}) | {_etas_cell(row)} | "
                f"{result['double_bookings']} |"
            )
    lines += [
        "",
        "## Optimizer gain",
        "",
        "Guarantees met by the optimizer divided by those met by each baseline (pooled over "
        "the seeds; per-seed range in brackets), and the baseline's ETA p90 divided by the "
        "optimizer's (above 1: the optimizer reaches 90 % of incidents sooner).",
        "",
        "| scenario | vs greedy by road | ETA p90 ratio | vs straight line | ETA p90 ratio |",
        "|---|--:|--:|--:|--:|",
    ]
    for name, entry in scenarios.items():
        cells = []
        for baseline in BASELINES:
            gain = entry["gain"][baseline]
            spread = gain["met_ratio_per_seed_min_max"]
            spread_text = f" [{spread[0]:.3f}–{spread[1]:.3f}]" if spread else ""
            cells += [
                f"{_num(gain['guarantees_met_ratio'])}{spread_text}",
                _num(gain["eta_p90_baseline_over_optimizer"]),
            ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", *(f"![{key}]({path.name})" for key, path in charts.items()), ""]
    lines += ["## Scenarios by zone", ""]
    for name, entry in scenarios.items():
        drawn = entry["drawn"]
        lines += [
            f"### `{name}`: {entry['title']}",
            "",
            f"Period {drawn['period'][0]} to {drawn['period'][1]}; incidents per seed "
            f"{drawn['incidents_per_seed']}; over all seeds by zone "
            + ", ".join(f"{z} {n}" for z, n in drawn["incidents_by_zone"].items())
            + f"; needing a tow {drawn['needing_tow']}, injured {drawn['injured']}; "
            f"natural-disaster claims {drawn['natural_disaster_claims']}, of which assessed "
            f"from photos with no vehicle {drawn['remote_assessed_not_dispatched']}; own "
            f"vehicles {drawn['own_vehicles']}. Simulated in {entry['wall_s']} s.",
            "",
            "| zone | policy | incidents | call ≤ 5 | ≤ 15 min | ≤ 30 min | ≤ 60 min "
            "| guarantee met | ETA p50 / p90 / p99 (min) | unserved |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        zones = [z for z in entry["policies"]["optimizer"]["zones"] if z != "all"]
        for zone in zones:
            for policy, result in entry["policies"].items():
                row = result["zones"][zone]
                lines.append(
                    f"| {zone} ({row['guarantee_min']} min) | {policy} | {row['incidents']} | "
                    f"{_pct(row['calls_within_5_min'])} | "
                    + " | ".join(_pct(row[f"within_{m}_min"]) for m in ARRIVAL_THRESHOLDS_MIN)
                    + f" | {_pct(row['share_met'])} | {_etas_cell(row)} | {row['unserved']} |"
                )
        lines.append("")
    lines += _other_results()
    return "\n".join(lines) + "\n"


def _other_results() -> list[str]:
    """Each other benchmark's targets with the measured value, from its JSON file."""
    lines = [
        "## Other benchmarks",
        "",
        "Headline numbers of the other `benchmarks/results/*.json` files as they stand beside "
        "this report (each file has its own date and machine): every target a benchmark "
        "declares, with the value it measured.",
        "",
        "| benchmark | metric | measured | target | met | measured at |",
        "|---|---|--:|--:|:-:|---|",
    ]
    for path in sorted(RESULTS_DIR.glob("*.json")):
        if path.stem == "latest":
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        for key, targets in data.items():
            if not key.startswith("targets"):
                continue
            section = key.removeprefix("targets").removeprefix("_")
            source = data.get(section, {}) if section else data
            for metric, target in targets.items():
                measured = source.get(metric, source.get(f"{metric}_median"))
                label = f"{section}: {metric}" if section else metric
                lines.append(
                    f"| [{path.stem}]({path.name}) | {label} | {_num(measured)} | "
                    f"{_target(metric, target)} | {_met(metric, measured, target)} | "
                    f"{data.get('measured_at', '')} |"
                )
    return [*lines, ""]


def _is_floor(metric: str) -> bool:
    """Whether a target is a minimum (throughput, speed-up) rather than a maximum (time)."""
    return metric.endswith("per_s") or "speedup" in metric


def _met(metric: str, measured: object, target: object) -> str:
    numbers = (int, float)
    if not isinstance(measured, numbers) or not isinstance(target, numbers):
        return "–"
    ok = measured >= target if _is_floor(metric) else measured <= target
    return "yes" if ok else "**no**"


def _target(metric: str, target: object) -> str:
    if not isinstance(target, int | float):
        return str(target)
    return f"{'≥' if _is_floor(metric) else '≤'} {target:g}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _num(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _etas_cell(row: Mapping) -> str:
    return " / ".join(_num(row[f"eta_min_p{q}"]) for q in (50, 90, 99))


if __name__ == "__main__":
    main()
