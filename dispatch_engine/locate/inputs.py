"""What location models are built from: planners' CSV files and road travel times.

Two ways to a :class:`~dispatch_engine.locate.models.CostMatrix`:

* demand points (``id,lat,lon,weight``) and candidate sites (``id,lat,lon``), WGS-84,
  with travel times from the road network (:func:`road_cost_matrix`);
* a planner's own matrix (:func:`read_cost_matrix_csv`): the header row names the sites
  (its first cell is a label, e.g. ``demand_id``), each further row is a demand id then
  one travel time in minutes per site; an empty cell or ``inf`` means unreachable.
  Weights come from an optional ``id,weight`` CSV, else every demand point weighs 1.

Every CSV is validated once, here, and every problem found is counted; the error names
the file, the row (as a spreadsheet numbers it: the header is row 1) and the column of
the first one, so a planner can go straight to the cell. Columns other than the ones
read are ignored; a UTF-8 byte-order mark (Excel's "CSV UTF-8") is accepted.

Off-network points: demand points and sites must snap to the road network (within
``Settings.snap_max_m``). A point that does not is an error naming it, not a silent
great-circle estimate: a placement mixing road times with estimates would favour
whichever side the estimate flatters, and a base off the roads is not a base.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from dispatch_engine.errors import InvalidInputError, OffNetworkError
from dispatch_engine.locate.models import CostMatrix
from dispatch_engine.network.engine import CoreEngine
from dispatch_engine.network.snap import Snapped

SECONDS_PER_MIN = 60.0
UNREACHABLE_CELLS = frozenset({"", "inf", "+inf", "infinity"})

Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Latitude = Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180.0, le=180.0, allow_inf_nan=False)]
Weight = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Id


class SiteRow(_Row):
    """One candidate site: where a base could go."""

    lat: Latitude
    lon: Longitude


class DemandRow(SiteRow):
    """One demand point and how much it counts (e.g. expected incidents per year)."""

    weight: Weight


class WeightRow(_Row):
    """The weight of one demand point of a cost matrix."""

    weight: Weight


R = TypeVar("R", bound=_Row)


@dataclass(frozen=True, eq=False)
class Places:
    """Named WGS-84 points from a CSV: demand points or candidate sites.

    ``weights`` are the demand weights; candidate sites carry weight 1 (unused).
    """

    ids: tuple[str, ...]
    lat: np.ndarray
    lon: np.ndarray
    weights: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


class _Problems:
    """Every problem of one file, raised once as one line naming the first."""

    def __init__(self, path: Path, field: str) -> None:
        self.path = path
        self.field = field
        self.found: list[str] = []

    def add(self, row: int, column: str | None, reason: str) -> None:
        where = f"row {row}" if column is None else f"row {row}, column '{column}'"
        self.found.append(f"{self.path} {where}: {reason}")

    def raise_if_any(self) -> None:
        if self.found:
            more = len(self.found) - 1
            suffix = (
                f" (and {more} more problem{'s' if more > 1 else ''} in this file)" if more else ""
            )
            raise InvalidInputError(self.found[0] + suffix, field=self.field)


def _csv_rows(path: Path, field: str) -> Iterator[tuple[int, list[str]]]:
    """(spreadsheet row number, cells) of every non-blank record, the header first."""
    if not path.is_file():
        raise InvalidInputError(f"no such file: {path}", field=field)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            row = 1
            for cells in reader:
                if any(cell.strip() for cell in cells):
                    yield row, cells
                row = reader.line_num + 1
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path} is not UTF-8 text ({exc.reason})", field=field) from None
    except csv.Error as exc:
        raise InvalidInputError(f"{path} row {row}: not valid CSV ({exc})", field=field) from None


def _read_records(path: Path, row_model: type[R], field: str) -> list[tuple[int, R]]:
    """Validated rows of a CSV with a header naming ``row_model``'s fields (any order)."""
    problems = _Problems(path, field)
    rows = _csv_rows(path, field)
    first = next(rows, None)
    if first is None:
        raise InvalidInputError(f"{path} is empty", field=field)
    header = [cell.strip().lower() for cell in first[1]]
    wanted = list(row_model.model_fields)
    missing = [name for name in wanted if name not in header]
    if missing:
        raise InvalidInputError(
            f"{path} row 1: missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} "
            f"(the header has {', '.join(repr(h) for h in header)})",
            field=field,
        )
    records: list[tuple[int, R]] = []
    first_row_of: dict[str, int] = {}
    for row, cells in rows:
        if len(cells) != len(header):
            problems.add(row, None, f"{len(cells)} cells for the header's {len(header)} columns")
            continue
        values = dict(zip(header, (cell.strip() for cell in cells), strict=True))
        try:
            record = row_model.model_validate({name: values[name] for name in wanted})
        except ValidationError as exc:
            for error in exc.errors():
                column = str(error["loc"][0])
                problems.add(row, column, f"{error['msg']} (got '{values[column]}')")
            continue
        record_id = record.id
        if record_id in first_row_of:
            problems.add(
                row, "id", f"duplicate id '{record_id}' (first at row {first_row_of[record_id]})"
            )
            continue
        first_row_of[record_id] = row
        records.append((row, record))
    problems.raise_if_any()
    if not records:
        raise InvalidInputError(f"{path} has a header but no data rows", field=field)
    return records


def read_demand_csv(path: Path) -> Places:
    """Demand points from a CSV ``id,lat,lon,weight`` (WGS-84; weight >= 0).

    Raises
    ------
    InvalidInputError
        ``field="demand"``; the message names the file, row and column of the first problem.
    """
    records = [r for _, r in _read_records(Path(path), DemandRow, "demand")]
    return Places(
        ids=tuple(r.id for r in records),
        lat=np.array([r.lat for r in records]),
        lon=np.array([r.lon for r in records]),
        weights=np.array([r.weight for r in records]),
    )


def read_sites_csv(path: Path) -> Places:
    """Candidate sites from a CSV ``id,lat,lon`` (WGS-84).

    Raises
    ------
    InvalidInputError
        ``field="candidates"``; the message names the file, row and column of the first problem.
    """
    records = [r for _, r in _read_records(Path(path), SiteRow, "candidates")]
    return Places(
        ids=tuple(r.id for r in records),
        lat=np.array([r.lat for r in records]),
        lon=np.array([r.lon for r in records]),
        weights=np.ones(len(records)),
    )


def _parse_minutes(cells: list[str]) -> tuple[np.ndarray, int | None]:
    """Minutes of one matrix row (unreachable -> inf); and the first bad cell, if any."""
    values = np.empty(len(cells))
    for k, cell in enumerate(cells):
        text = cell.strip().lower()
        if text in UNREACHABLE_CELLS:
            values[k] = math.inf
            continue
        try:
            values[k] = float(text)
        except ValueError:
            return values, k
        if not values[k] >= 0:  # negative or NaN
            return values, k
    return values, None


def read_cost_matrix_csv(path: Path, *, weights_path: Path | None = None) -> CostMatrix:
    """A planner's travel-time matrix in minutes (rows demand ids, columns site ids).

    Parameters
    ----------
    path : Path
        The matrix CSV (see the module docstring for the layout).
    weights_path : Path, optional
        CSV ``id,weight`` with exactly one row per demand id of the matrix; without it
        every demand point weighs 1.

    Raises
    ------
    InvalidInputError
        ``field="costs"`` or ``field="weights"``; the message names the file, row and
        column of the first problem (a bad cell is named by its site id).
    """
    path = Path(path)
    problems = _Problems(path, "costs")
    rows = _csv_rows(path, "costs")
    first = next(rows, None)
    if first is None:
        raise InvalidInputError(f"{path} is empty", field="costs")
    site_ids = [cell.strip() for cell in first[1][1:]]
    if not site_ids:
        raise InvalidInputError(
            f"{path} row 1: the header names no sites after its first cell", field="costs"
        )
    seen: set[str] = set()
    for k, site in enumerate(site_ids):
        if not site:
            problems.add(1, f"#{k + 2}", "empty site id")
        elif site in seen:
            problems.add(1, site, "duplicate site id")
        seen.add(site)
    demand_ids: list[str] = []
    first_row_of: dict[str, int] = {}
    matrix: list[np.ndarray] = []
    label = first[1][0].strip() or "#1"
    for row, cells in rows:
        if len(cells) != len(site_ids) + 1:
            problems.add(
                row, None, f"{len(cells)} cells for the header's {len(site_ids) + 1} columns"
            )
            continue
        demand_id = cells[0].strip()
        if not demand_id:
            problems.add(row, label, "empty demand id")
            continue
        if demand_id in first_row_of:
            problems.add(
                row,
                label,
                f"duplicate demand id '{demand_id}' (first at row {first_row_of[demand_id]})",
            )
            continue
        values, bad = _parse_minutes(cells[1:])
        if bad is not None:
            problems.add(
                row,
                site_ids[bad],
                "expected minutes >= 0, or empty / 'inf' for unreachable "
                f"(got '{cells[bad + 1].strip()}')",
            )
            continue
        first_row_of[demand_id] = row
        demand_ids.append(demand_id)
        matrix.append(values)
    problems.raise_if_any()
    if not matrix:
        raise InvalidInputError(f"{path} has a header but no data rows", field="costs")
    weights = (
        np.ones(len(demand_ids))
        if weights_path is None
        else _matrix_weights(Path(weights_path), first_row_of)
    )
    return CostMatrix(np.vstack(matrix), tuple(demand_ids), tuple(site_ids), weights)


def _matrix_weights(path: Path, row_of_demand: dict[str, int]) -> np.ndarray:
    """Weights in the matrix's demand order: one row per demand id, no unknown ids."""
    problems = _Problems(path, "weights")
    weight_of: dict[str, float] = {}
    for row, record in _read_records(path, WeightRow, "weights"):
        if record.id not in row_of_demand:
            problems.add(row, "id", f"'{record.id}' is not a demand id of the cost matrix")
        weight_of[record.id] = record.weight
    problems.raise_if_any()
    missing = [d for d in row_of_demand if d not in weight_of]
    if missing:
        raise InvalidInputError(
            f"{path}: no weight for demand id '{missing[0]}' "
            f"(row {row_of_demand[missing[0]]} of the cost matrix)"
            f"{f' and {len(missing) - 1} more' if len(missing) > 1 else ''}",
            field="weights",
        )
    return np.array([weight_of[d] for d in row_of_demand])


def road_cost_matrix(
    engine: CoreEngine, demand: Places, sites: Places, *, at: datetime | None = None
) -> CostMatrix:
    """Road travel minutes from every candidate site to every demand point.

    Vehicles drive from their base to the incident, so times run site -> demand point
    (one-way streets make the direction matter). The full matrix is computed, without a
    cutoff, so a model can report the nearest site's time even beyond its standard
    (2,000 x 300 takes under a second on the embedded network).

    Parameters
    ----------
    engine : CoreEngine
        The road engine over the network to plan on.
    demand, sites : Places
        Demand points (with weights) and candidate sites, WGS-84.
    at : datetime, optional
        Plan with the traffic of this moment (the engine's speed profile, e.g. a weekday
        morning peak); by default free-flow times, the engine's default.

    Raises
    ------
    OffNetworkError
        A demand point or site farther than the engine's ``snap_max_m`` from any road,
        naming the first one, its coordinates and how many are off
        (``field="demand"`` or ``field="candidates"``).
    """
    demand_at = _snap_all(engine, demand, "demand point", "demand")
    sites_at = _snap_all(engine, sites, "candidate site", "candidates")
    seconds = engine.many_to_many(sites_at, demand_at, at=at)
    return CostMatrix(seconds.T / SECONDS_PER_MIN, demand.ids, sites.ids, demand.weights)


def _snap_all(engine: CoreEngine, places: Places, what: str, field: str) -> Snapped:
    found, snapped = engine.locate_where_possible(places.lat, places.lon)
    if not found.all():
        off = np.flatnonzero(~found)
        i = int(off[0])
        raise OffNetworkError(
            f"{what} '{places.ids[i]}' at {places.lat[i]:.5f},{places.lon[i]:.5f} is more than "
            f"{engine.snapper.snap_max_m:.0f} m from any road of the network "
            f"({off.size} of {len(places)} {what}s are off the network)",
            field=field,
        )
    return snapped
