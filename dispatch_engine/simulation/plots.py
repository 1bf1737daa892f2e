"""PNG charts of a simulation run and of a fleet-size curve (matplotlib, no display needed).

District names are Chinese; without a CJK font matplotlib would draw empty boxes, so
the charts then label Shaoguan's districts in pinyin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: never open a window, work without a display

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from dispatch_engine.simulation.report import ZONES, Outcome  # noqa: E402

GUARANTEE_LINES_MIN = (15, 30, 60)
PINYIN = {
    "浈江区": "Zhenjiang",
    "武江区": "Wujiang",
    "曲江区": "Qujiang",
    "乐昌市": "Lechang",
    "南雄市": "Nanxiong",
    "仁化县": "Renhua",
    "始兴县": "Shixing",
    "翁源县": "Wengyuan",
    "新丰县": "Xinfeng",
    "乳源瑶族自治县": "Ruyuan",
}
_CJK_FONTS = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "SimHei",
    "Microsoft YaHei",
)


@cache
def _cjk_font() -> str | None:
    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in _CJK_FONTS if name in names), None)


def district_label(name: str) -> str:
    """The district's name as the charts can draw it."""
    return name if _cjk_font() else PINYIN.get(name, name)


def plot_eta_by_zone(rows: Sequence[Outcome], path: Path, *, note: str = "") -> Path:
    """Histogram of ETAs per zone, with the 15 / 30 / 60-minute guarantee lines."""
    zones = [z for z in ZONES if any(r.zone == z for r in rows)] or ["shaoguan"]
    fig, axes = plt.subplots(len(zones), 1, figsize=(8, 2.8 * len(zones)), squeeze=False)
    for ax, zone in zip(axes[:, 0], zones, strict=True):
        etas = np.array([r.eta_min for r in rows if r.zone == zone], dtype=np.float64)
        served = etas[~np.isnan(etas)]
        met = sum(r.met for r in rows if r.zone == zone)
        top = max(70.0, float(np.percentile(served, 99)) if served.size else 0.0)
        ax.hist(served, bins=np.linspace(0, top, 60), color="#4c72b0")
        for minutes in GUARANTEE_LINES_MIN:
            ax.axvline(minutes, color="#c44e52", linestyle="--", linewidth=1)
            ax.annotate(
                f"{minutes} min",
                (minutes, 1),
                xycoords=("data", "axes fraction"),
                xytext=(3, -12),
                textcoords="offset points",
                color="#c44e52",
                fontsize=8,
            )
        share = f"{met / etas.size:.1%}" if etas.size else "n/a"
        unserved = int(np.isnan(etas).sum())
        ax.set_title(
            f"{zone}: {etas.size} incidents, {share} met the guarantee, {unserved} unserved"
        )
        ax.set_xlabel("minutes from report to first vehicle on scene")
        ax.set_ylabel("incidents")
    return _save(fig, path, note)


def plot_share_by_district(
    districts: Mapping[str, dict], path: Path, *, target: float | None = None, note: str = ""
) -> Path:
    """Share of incidents meeting the 15-minute guarantee, per Shaoguan district."""
    names = [d for d, row in districts.items() if row["incidents"]]
    shares = [districts[d]["share_met"] for d in names]
    order = np.argsort(shares)
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(names), 4) + 1.2))
    ax.barh([district_label(names[i]) for i in order], [shares[i] for i in order], color="#55a868")
    for y, i in enumerate(order):
        ax.text(
            shares[i] + 0.01,
            y,
            f"{shares[i]:.0%} of {districts[names[i]]['incidents']}",
            va="center",
            fontsize=8,
        )
    if target is not None:
        ax.axvline(
            target, color="#c44e52", linestyle="--", linewidth=1, label=f"target {target:.0%}"
        )
        ax.legend(loc="lower right")
    ax.set_xlim(0, 1.15)
    ax.set_xlabel("share on scene within 15 minutes")
    ax.set_title("Shaoguan: share meeting the guarantee per district")
    return _save(fig, path, note)


def plot_fleet_curve(
    cars: Sequence[int],
    shares: Sequence[float],
    path: Path,
    *,
    target: float,
    minutes: float,
    smallest: int | None,
    covered: Sequence[float] | None = None,
    note: str = "",
) -> Path:
    """Survey cars -> simulated share within ``minutes``, with the target and the answer;
    ``covered`` (the placement model's covered demand share) is drawn as its upper bound."""
    order = np.argsort(cars)
    x = np.asarray(cars)[order]
    y = np.asarray(shares)[order]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(x, y, marker="o", color="#4c72b0", label="simulated")
    if covered is not None:
        ax.plot(
            x,
            np.asarray(covered)[order],
            linestyle=":",
            marker=".",
            color="#8c8c8c",
            label=f"demand within {minutes:g} min of a chosen site (MCLP)",
        )
    ax.axhline(target, color="#c44e52", linestyle="--", linewidth=1, label=f"target {target:.0%}")
    if smallest is not None:
        ax.axvline(
            smallest, color="#55a868", linestyle=":", label=f"smallest fleet: {smallest} cars"
        )
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("survey cars (around the clock, placed by MCLP)")
    ax.set_ylabel(f"share on scene within {minutes:g} min")
    ax.set_title("Shaoguan fleet size: simulated share meeting the guarantee")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return _save(fig, path, note)


def _save(fig: plt.Figure, path: Path, note: str) -> Path:
    """Write the figure (``note``, e.g. that the network is synthetic, in a corner)."""
    if note:
        fig.text(0.99, 0.005, note, ha="right", va="bottom", fontsize=7, color="#666666")
    path.parent.mkdir(parents=True, exist_ok=True)
    cjk = _cjk_font()
    if cjk is not None:
        for text in fig.findobj(matplotlib.text.Text):
            text.set_fontfamily([cjk, "DejaVu Sans"])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
