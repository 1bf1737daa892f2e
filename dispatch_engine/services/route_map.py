"""An HTML map of a day plan (folium): each technician's route in its colour, stops with
their times, and the appointments not served in grey with the reason."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

import folium
from branca.element import Figure

from dispatch_engine.services.day_routes import DayPlan, Stop, StopKind, clock_text

LegGeometry = Callable[[Stop, Stop], Sequence[tuple[float, float]]]
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
_LABELS = {
    StopKind.START: "出发 start",
    StopKind.COLLECT: "取车 collect",
    StopKind.DROP: "送达 drop",
    StopKind.FETCH: "取回 fetch",
    StopKind.RETURN: "还车 return",
    StopKind.END: "返回 end",
}


def write_route_map(
    plan: DayPlan, path: Path, *, leg_geometry: LegGeometry, note: str = ""
) -> Path:
    """Write the plan as a standalone HTML map.

    Parameters
    ----------
    plan
        The day plan.
    path
        Where to write the ``.html`` file.
    leg_geometry
        The drawn path (lat, lon) between two consecutive stops, e.g. the road route.
    note
        A line shown under the title (say when the road network is synthetic).

    Returns
    -------
    Path
        ``path``.
    """
    points = [(s.lat, s.lon) for r in plan.routes for s in r.stops] + [
        (u.lat, u.lon) for u in plan.unplanned
    ]
    fmap = folium.Map(tiles="OpenStreetMap", control_scale=True)
    if points:
        lats, lons = zip(*points, strict=True)
        fmap.fit_bounds([(min(lats), min(lons)), (max(lats), max(lons))])
    for index, route in enumerate(plan.routes):
        colour = COLOURS[index % len(COLOURS)]
        served = len(route.appointment_ids)
        layer = folium.FeatureGroup(name=f"{route.technician_id} ({served} appointments)")
        for before, after in zip(route.stops[:-1], route.stops[1:], strict=True):
            if (before.lat, before.lon) != (after.lat, after.lon):
                folium.PolyLine(
                    leg_geometry(before, after), color=colour, weight=4, opacity=0.8
                ).add_to(layer)
        for number, stop in enumerate(route.stops):
            folium.CircleMarker(
                (stop.lat, stop.lon),
                radius=7 if stop.kind in (StopKind.START, StopKind.END) else 5,
                color=colour,
                fill=True,
                fill_opacity=0.9,
                popup=folium.Popup(_stop_html(route.technician_id, number, stop), max_width=320),
            ).add_to(layer)
        layer.add_to(fmap)
    if plan.unplanned:
        layer = folium.FeatureGroup(name=f"not served ({len(plan.unplanned)})")
        for item in plan.unplanned:
            text = (
                f"<b>{html.escape(item.appointment_id)} {html.escape(item.plate)}</b>"
                f"<br>{html.escape(item.reason)}"
            )
            folium.CircleMarker(
                (item.lat, item.lon),
                radius=6,
                color="#7f7f7f",
                fill=True,
                popup=folium.Popup(text, max_width=320),
            ).add_to(layer)
        layer.add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    title = f"增值服务路线 value-added service routes {plan.day.isoformat()}"
    banner = (
        '<div style="position:fixed;top:10px;left:50px;z-index:1000;background:white;'
        f'padding:6px 10px;border:1px solid #999;font:14px sans-serif"><b>{html.escape(title)}</b>'
        f"<br>{html.escape(note)}</div>"
    )
    cast(Figure, fmap.get_root()).html.add_child(folium.Element(banner))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fmap.save(str(path))
    return Path(path)


def _stop_html(technician_id: str, number: int, stop: Stop) -> str:
    what = _LABELS[stop.kind]
    car = (
        ""
        if stop.plate is None
        else f" {html.escape(stop.plate)} ({html.escape(stop.appointment_id or '')})"
    )
    wait = f", starts {clock_text(stop.start_s)}" if stop.start_s > stop.arrival_s else ""
    return (
        f"<b>{html.escape(technician_id)} #{number} {what}</b>{car}"
        f"<br>{html.escape(stop.place)}<br>arrives {clock_text(stop.arrival_s)}{wait}"
    )
