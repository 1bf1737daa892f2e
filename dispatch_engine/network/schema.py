"""The one graph schema every network source yields (osmnx's).

A network is a ``networkx.MultiDiGraph`` with graph attribute ``crs`` (always
``"epsg:4326"``), node attributes ``x`` (longitude, degrees) and ``y`` (latitude,
degrees), and edge attributes ``length`` (metres), ``highway`` (road class, str),
``speed_kph`` and ``travel_time`` (seconds). Everything downstream (compile, snap,
engines) reads only these, so osmnx downloads, OSM files and the synthetic Shaoguan
network are interchangeable.
"""

from __future__ import annotations

import math

import networkx as nx

from dispatch_engine.errors import DataError

# Free-flow speeds by road class, km/h (SPEC §3): expressway ~100, national/provincial
# ~60-70, county ~40-50, urban ~30, village ~25. Also the fallback osmnx uses for OSM
# edges without a usable ``maxspeed``.
ROAD_CLASS_SPEED_KPH: dict[str, float] = {
    "motorway": 100.0,
    "motorway_link": 50.0,
    "trunk": 70.0,
    "trunk_link": 40.0,
    "primary": 65.0,
    "primary_link": 35.0,
    "secondary": 50.0,
    "secondary_link": 30.0,
    "tertiary": 45.0,
    "tertiary_link": 30.0,
    "residential": 30.0,
    "living_street": 15.0,
    "unclassified": 25.0,
    "service": 20.0,
    "road": 30.0,
    "track": 15.0,
}
DEFAULT_SPEED_KPH = 25.0

REQUIRED_NODE_ATTRS = ("x", "y")
REQUIRED_EDGE_ATTRS = ("length", "highway", "speed_kph", "travel_time")


def road_class(highway: object) -> str:
    """One road-class label for an edge; osmnx gives a list when merged ways differ."""
    if isinstance(highway, list | tuple):
        return str(highway[0]) if highway else "road"
    return str(highway)


def validate_graph(graph: nx.MultiDiGraph, *, max_problems: int = 10) -> None:
    """Check a graph against the schema, collecting every problem and raising once.

    Raises
    ------
    DataError
        Listing up to ``max_problems`` problems (missing attributes, non-finite or
        negative lengths and travel times, an empty graph).
    """
    problems: list[str] = []
    if graph.number_of_nodes() == 0:
        problems.append("graph has no nodes")
    for node, data in graph.nodes(data=True):
        missing = [a for a in REQUIRED_NODE_ATTRS if a not in data]
        if missing:
            problems.append(f"node {node}: missing {', '.join(missing)}")
        if len(problems) >= max_problems:
            break
    for u, v, data in graph.edges(data=True):
        missing = [a for a in REQUIRED_EDGE_ATTRS if a not in data]
        if missing:
            problems.append(f"edge {u}->{v}: missing {', '.join(missing)}")
        else:
            for attr in ("length", "travel_time", "speed_kph"):
                value = float(data[attr])
                if not math.isfinite(value) or value < 0:
                    problems.append(f"edge {u}->{v}: {attr}={value} is not a finite number >= 0")
        if len(problems) >= max_problems:
            break
    if problems:
        raise DataError("network does not match the schema: " + "; ".join(problems))
