"""An HTML map of a simulation run (folium): bases, 15-minute reach, incidents met or missed.

The reach of a base is the area its vehicles cover within the guarantee: the road
engine's ``one_to_many`` with a cutoff gives the network nodes (a regular sample of
them) reachable within the minutes, and their concave hull is drawn. Writing the map
needs no network; viewing it loads the OpenStreetMap tiles and Leaflet from the web.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path

import folium
import numpy as np
import shapely

from dispatch_engine.fleet.model import Base
from dispatch_engine.network.router import Router
from dispatch_engine.simulation.report import Outcome

REACH_NODES = 20_000  # network nodes sampled for the reach areas
MAX_INCIDENTS = 5_000  # incidents drawn; a year has more than a browser draws smoothly
_COLOURS = {"met": "#2ca02c", "missed": "#d62728", "unserved": "#000000"}


def reach_areas(
    router: Router, bases: Sequence[Base], *, minutes: float = 15.0, sample: int = REACH_NODES
) -> dict[str, shapely.Geometry]:
    """Area reachable from each base within ``minutes`` (bases off the network: none).

    Returns a (Multi)Polygon in WGS-84 lon/lat per base id.
    """
    road = router.road
    net = road.network
    nodes = np.arange(0, net.n_nodes, max(1, net.n_nodes // sample))
    found, snapped = road.locate_where_possible(net.node_lat[nodes], net.node_lon[nodes])
    nodes = nodes[found]
    areas = {}
    for base in bases:
        base_found, origin = road.locate_where_possible(base.lat, base.lon)
        if not base_found[0]:
            continue
        seconds = road.one_to_many(origin, snapped, cutoff_s=minutes * 60.0)
        reached = nodes[np.isfinite(seconds)]
        points = shapely.multipoints(
            np.column_stack([net.node_lon[reached], net.node_lat[reached]])
        )
        hull = shapely.concave_hull(points, ratio=0.3)
        # a handful of nodes makes a line or a point: give it a visible width (~300 m)
        areas[base.id] = hull if hull.area > 0 else shapely.buffer(hull, 0.003)
    return areas


def write_map(
    path: Path,
    *,
    bases: Sequence[Base],
    vehicles_at: Mapping[str, int],
    rows: Sequence[Outcome],
    reach: Mapping[str, shapely.Geometry],
    minutes: float = 15.0,
    note: str = "",
) -> Path:
    """Write the map: one toggleable layer each for reach, bases and incident outcomes.

    ``vehicles_at`` counts the vehicles of each base; ``rows`` are drawn when in
    Shaoguan (at most :data:`MAX_INCIDENTS`, evenly spread over the run).
    """
    shaoguan = [r for r in rows if r.zone == "shaoguan"]
    shown = (
        [shaoguan[i] for i in np.linspace(0, len(shaoguan) - 1, MAX_INCIDENTS).astype(int)]
        if len(shaoguan) > MAX_INCIDENTS
        else shaoguan
    )
    centre = (
        [float(np.mean([b.lat for b in bases])), float(np.mean([b.lon for b in bases]))]
        if bases
        else [24.8, 113.6]
    )
    fmap = folium.Map(location=centre, zoom_start=9, tiles="OpenStreetMap")
    area_layer = folium.FeatureGroup(name=f"{minutes:g}-minute reach of each base")
    for base_id, area in sorted(reach.items()):
        folium.GeoJson(
            shapely.to_geojson(area),
            style_function=lambda _: {"color": "#1f77b4", "weight": 1, "fillOpacity": 0.12},
            tooltip=f"{base_id}: reached within {minutes:g} min",
        ).add_to(area_layer)
    area_layer.add_to(fmap)
    layers = {outcome: folium.FeatureGroup(name=f"incidents {outcome}") for outcome in _COLOURS}
    for row in shown:
        outcome = _outcome(row)
        eta = (
            "no vehicle arrived"
            if outcome == "unserved"
            else f"on scene after {row.eta_min:.1f} min"
        )
        folium.CircleMarker(
            [row.lat, row.lon],
            radius=3,
            color=_COLOURS[outcome],
            fill=True,
            fill_opacity=0.8,
            weight=0,
            tooltip=html.escape(f"{row.id} ({row.district}): {eta}"),
        ).add_to(layers[outcome])
    for layer in layers.values():
        layer.add_to(fmap)
    base_layer = folium.FeatureGroup(name="bases")
    for base in bases:
        label = f"{base.id} {base.name} ({base.district}): {vehicles_at.get(base.id, 0)} vehicles"
        folium.Marker(
            [base.lat, base.lon],
            tooltip=html.escape(label),
            icon=folium.Icon(color="blue", icon="home"),
        ).add_to(base_layer)
    base_layer.add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    root = fmap.get_root()
    assert isinstance(root, folium.Figure)  # a map's root is the page, which has the html
    root.html.add_child(folium.Element(_legend(shown, len(shaoguan), note)))
    path.parent.mkdir(parents=True, exist_ok=True)
    fmap.save(str(path))
    return path


def _legend(shown: Sequence[Outcome], total: int, note: str) -> str:
    counts = {k: sum(1 for r in shown if _outcome(r) == k) for k in _COLOURS}
    lines = [
        f"<span style='color:{c}'>&#9679;</span> {k}: {counts[k]}" for k, c in _COLOURS.items()
    ]
    lines += [f"shown: {len(shown)} of {total} incidents in Shaoguan", html.escape(note)]
    style = (
        "position: fixed; bottom: 20px; left: 20px; z-index: 9999; background: white; "
        "padding: 8px; border: 1px solid #888; font: 12px sans-serif"
    )
    return f"<div style='{style}'><b>Shaoguan coverage simulation</b><br>{'<br>'.join(lines)}</div>"


def _outcome(row: Outcome) -> str:
    return "unserved" if np.isnan(row.eta_min) else "met" if row.met else "missed"
