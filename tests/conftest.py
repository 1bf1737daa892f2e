"""Shared fixtures: small named road graphs and the settings tests run with."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from dispatch_engine.settings import Settings, load_settings


def road_graph(
    *,
    rows: int = 8,
    cols: int = 8,
    spacing_deg: float = 0.004,
    seed: int = 7,
    one_way_share: float = 0.15,
    subdivide: int = 3,
) -> nx.MultiDiGraph:
    """A jittered street grid near Shaoguan with subdivided (chained) and one-way roads.

    Every grid street is split into ``subdivide`` straight segments (pass-through nodes
    that the compiler contracts); a share of streets is one-way. Strongly connected
    because the outer ring stays two-way.
    """
    rng = np.random.default_rng(seed)
    graph = nx.MultiDiGraph(crs="epsg:4326", name="test grid")
    lat0, lon0 = 24.80, 113.58

    def node_id(r: int, c: int) -> int:
        return r * cols + c

    for r in range(rows):
        for c in range(cols):
            jitter = rng.uniform(-0.25, 0.25, 2) * spacing_deg
            graph.add_node(
                node_id(r, c),
                y=lat0 + r * spacing_deg + jitter[0],
                x=lon0 + c * spacing_deg + jitter[1],
            )
    next_id = rows * cols
    classes = [("primary", 65.0), ("residential", 30.0), ("unclassified", 25.0)]
    for r in range(rows):
        for c in range(cols):
            for dr, dc in ((0, 1), (1, 0)):
                r2, c2 = r + dr, c + dc
                if r2 >= rows or c2 >= cols:
                    continue
                a, b = node_id(r, c), node_id(r2, c2)
                chain = [a]
                for k in range(1, subdivide):
                    f = k / subdivide
                    ya, xa = graph.nodes[a]["y"], graph.nodes[a]["x"]
                    yb, xb = graph.nodes[b]["y"], graph.nodes[b]["x"]
                    wiggle = rng.uniform(-0.1, 0.1, 2) * spacing_deg
                    graph.add_node(
                        next_id, y=ya + f * (yb - ya) + wiggle[0], x=xa + f * (xb - xa) + wiggle[1]
                    )
                    chain.append(next_id)
                    next_id += 1
                chain.append(b)
                highway, speed = classes[int(rng.integers(len(classes)))]
                outer = (
                    r in (0, rows - 1)
                    or c in (0, cols - 1)
                    or r2 in (0, rows - 1)
                    or c2 in (0, cols - 1)
                )
                one_way = (not outer) and rng.random() < one_way_share
                for u, v in zip(chain[:-1], chain[1:], strict=False):
                    length = _haversine(graph.nodes[u], graph.nodes[v])
                    attrs = dict(
                        length=length,
                        highway=highway,
                        speed_kph=speed,
                        travel_time=length / (speed / 3.6),
                    )
                    graph.add_edge(u, v, **attrs)
                    if not one_way:
                        graph.add_edge(v, u, **attrs)
    assert nx.is_strongly_connected(graph)
    return graph


def _haversine(a: dict, b: dict) -> float:
    from dispatch_engine.network.engine import haversine_m

    return float(haversine_m(a["y"], a["x"], b["y"], b["x"]))


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Settings from the environment: CI points DISPATCH_CACHE_DIR into the checkout."""
    return load_settings()


@pytest.fixture(scope="session")
def grid_graph() -> nx.MultiDiGraph:
    """An 8x8 jittered grid with chains and one-way streets."""
    return road_graph()
