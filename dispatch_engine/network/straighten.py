"""Make every edge of a road graph a straight segment between its two nodes.

osmnx's simplified graphs keep a road's curve in an edge ``geometry``; the compiled
engine instead snaps points to straight node-to-node segments and draws routes through
nodes. Turning each curve into a chain of straight edges through nodes at its vertices
keeps both exact without the engine ever reading geometries.
"""

from __future__ import annotations

from collections.abc import Hashable
from itertools import count
from numbers import Integral

import networkx as nx
import numpy as np
import osmnx as ox

# Edge quantities that add up along a road, so a piece gets its share of the whole.
_ADDITIVE_ATTRS = ("length", "travel_time")

Coords = tuple[tuple[float, float], ...]


def straighten(graph: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """Replace every curved edge by a chain of straight edges through its vertices.

    An edge whose ``geometry`` LineString has interior vertices becomes one edge per
    segment, through new nodes (``x``, ``y`` of the vertex) numbered above every integer
    node id of ``graph``, so they cannot clash. Each piece gets the share of the edge's
    ``length`` and ``travel_time`` that its great-circle length has of the whole line,
    and a copy of every other attribute (``highway``, ``speed_kph``, ``oneway``,
    ``osmid``, ...) except ``geometry``. The reverse edge of a two-way road (same ends,
    reversed vertices) runs through the same new nodes, so the road stays one road
    rather than becoming two parallel ones. Travel times between the original nodes
    are therefore unchanged.

    Parameters
    ----------
    graph
        A road graph of the network schema; edges without ``geometry``, or with a
        two-point one, are already straight and are kept as they are.

    Returns
    -------
    networkx.MultiDiGraph
        A new graph; ``graph`` itself is not modified.
    """
    result = graph.copy()
    new_ids = count(_first_free_id(graph))
    # (u, v, interior vertices) -> new nodes along them, for the road's reverse edge
    chains: dict[tuple[Hashable, Hashable, Coords], list[int]] = {}
    for u, v, key, data in graph.edges(keys=True, data=True):
        geometry = data.get("geometry")
        if geometry is None or len(geometry.coords) <= 2:
            continue
        coords: Coords = tuple((float(x), float(y)) for x, y in geometry.coords)
        interior = coords[1:-1]
        reverse_chain = chains.get((v, u, interior[::-1]))
        if reverse_chain is None:
            chain = [next(new_ids) for _ in interior]
            result.add_nodes_from(
                (n, {"x": x, "y": y}) for n, (x, y) in zip(chain, interior, strict=True)
            )
            chains[(u, v, interior)] = chain
        else:
            chain = reverse_chain[::-1]

        shares = _segment_shares(np.asarray(coords))
        kept = {a: val for a, val in data.items() if a != "geometry" and a not in _ADDITIVE_ATTRS}
        split = {a: data[a] for a in _ADDITIVE_ATTRS if a in data}
        result.remove_edge(u, v, key)
        path = [u, *chain, v]
        for a, b, share in zip(path[:-1], path[1:], shares, strict=True):
            result.add_edge(a, b, **kept, **{k: float(total * share) for k, total in split.items()})
    return result


def _first_free_id(graph: nx.MultiDiGraph) -> int:
    """One more than the largest integer node id (OSM ids can be large or negative)."""
    return max((int(n) for n in graph.nodes if isinstance(n, Integral)), default=-1) + 1


def _segment_shares(coords: np.ndarray) -> np.ndarray:
    """Each segment's fraction of a lon/lat polyline's great-circle length."""
    lon, lat = coords[:, 0], coords[:, 1]
    segment_m = ox.distance.great_circle(lat[:-1], lon[:-1], lat[1:], lon[1:])
    return segment_m / segment_m.sum()
