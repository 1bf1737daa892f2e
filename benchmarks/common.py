"""What every benchmark shares: timing statistics, machine description, result files."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

RESULTS_DIR = Path(__file__).parent / "results"


def machine() -> dict:
    """Enough about the machine to read a number: CPU model, cores, Python."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def timed_ms(func: Callable[[], object], repeats: int) -> np.ndarray:
    """Wall-clock milliseconds of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000.0)
    return np.array(times)


def write_result(name: str, payload: dict) -> Path:
    """Write ``results/<name>.json`` with the run's date and machine."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    full = {
        **payload,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    path.write_text(json.dumps(full, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {path}")
    return path
