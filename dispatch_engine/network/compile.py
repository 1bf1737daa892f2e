"""Compile a schema graph into flat arrays that queries read; never networkx per query.

Two levels are kept:

* the *edge level*: every directed edge of the source graph (CSR by tail node) with its
  travel time (float32 seconds), length (float32 metres) and road class. Snapping and
  route drawing use it, and it converts back to a graph losslessly (``to_graph``).
* the *core level*: chains of pass-through nodes (a road drawn with many short straight
  segments, a village lane) are contracted into one core edge between two junctions.
  Dijkstra runs on the core graph, which is several times smaller than the edge graph
  on both OSM and synthetic networks, so every query is several times faster.

Each edge-level edge knows its chain and where along the chain it starts, so a point
snapped anywhere on the network is located on the core graph exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import networkx as nx
import numpy as np

from dispatch_engine.errors import DataError
from dispatch_engine.network.schema import road_class, validate_graph

FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class CompiledNetwork:
    """A road network as arrays. Nodes are ``0..n_nodes-1`` in source-graph order.

    Edge arrays are indexed by edge id (sorted by tail node); ``indptr`` gives each
    node's out-edges. Chain arrays are indexed by chain id; ``chain_edges[chain_ptr[c]:
    chain_ptr[c+1]]`` are the edge ids of chain ``c`` in driving order.
    """

    node_lon: np.ndarray  # float64 degrees
    node_lat: np.ndarray  # float64 degrees
    node_osmid: np.ndarray  # int64 ids of the source graph
    indptr: np.ndarray  # int64, n_nodes + 1
    edge_head: np.ndarray  # int32 head node per edge
    edge_time_s: np.ndarray  # float32
    edge_length_m: np.ndarray  # float32
    edge_class: np.ndarray  # uint8 index into road_classes
    road_classes: tuple[str, ...]
    edge_chain: np.ndarray  # int32 chain id per edge
    edge_chain_offset_s: np.ndarray  # float64 chain time before this edge
    edge_chain_offset_m: np.ndarray  # float64 chain length before this edge
    chain_tail: np.ndarray  # int32 core-junction node where the chain starts
    chain_head: np.ndarray  # int32 core-junction node where it ends
    chain_time_s: np.ndarray  # float64
    chain_length_m: np.ndarray  # float64
    chain_ptr: np.ndarray  # int64, n_chains + 1
    chain_edges: np.ndarray  # int32 edge ids in driving order
    meta: dict = field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        return int(self.node_lon.size)

    @property
    def n_edges(self) -> int:
        return int(self.edge_head.size)

    @property
    def n_chains(self) -> int:
        return int(self.chain_tail.size)

    @cached_property
    def edge_tail(self) -> np.ndarray:
        """Tail node per edge (derived from ``indptr`` once; snapping reads it per query)."""
        return np.repeat(np.arange(self.n_nodes, dtype=np.int32), np.diff(self.indptr))

    @property
    def synthetic(self) -> bool:
        return bool(self.meta.get("synthetic", False))

    def summary(self) -> dict:
        """Counts and road-class kilometres, for ``network info`` and the demo."""
        km = np.bincount(
            self.edge_class, weights=self.edge_length_m, minlength=len(self.road_classes)
        )
        return {
            "name": self.meta.get("name", "unnamed"),
            "synthetic": self.synthetic,
            "source": self.meta.get("source", "unknown"),
            "nodes": self.n_nodes,
            "edges": self.n_edges,
            "core_nodes": int(np.unique(np.concatenate([self.chain_tail, self.chain_head])).size),
            "core_edges": self.n_chains,
            "road_km_by_class": {
                cls: round(float(k) / 2000.0, 1)  # two directed edges per two-way road
                for cls, k in zip(self.road_classes, km, strict=True)
                if k > 0
            },
            "bbox": [
                float(self.node_lat.min()),
                float(self.node_lon.min()),
                float(self.node_lat.max()),
                float(self.node_lon.max()),
            ],
        }

    def save(self, path: Path) -> None:
        """Write an uncompressed ``.npz`` (loads in well under a second)."""
        arrays = {
            name: getattr(self, name)
            for name in self.__dataclass_fields__
            if name not in ("meta", "road_classes")
        }
        header = {
            "format_version": FORMAT_VERSION,
            "road_classes": list(self.road_classes),
            "meta": self.meta,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, header=np.array(json.dumps(header, ensure_ascii=False)), **arrays)
        tmp.replace(path)  # atomic: a crashed build never leaves a half-written cache

    @classmethod
    def load(cls, path: Path) -> CompiledNetwork:
        """Read a file written by :meth:`save`."""
        if not path.exists():
            raise DataError(f"compiled network not found: {path}")
        with np.load(path, allow_pickle=False) as npz:
            header = json.loads(str(npz["header"]))
            if header.get("format_version") != FORMAT_VERSION:
                raise DataError(f"{path} has an old format; rebuild it with 'network build'")
            arrays = {name: npz[name] for name in npz.files if name != "header"}
        return cls(road_classes=tuple(header["road_classes"]), meta=header["meta"], **arrays)

    def to_graph(self) -> nx.MultiDiGraph:
        """The schema graph back (edge level), e.g. for GraphML export or reference checks."""
        graph = nx.MultiDiGraph(**{**self.meta, "crs": "epsg:4326"})
        graph.add_nodes_from(
            (int(osmid), {"x": float(x), "y": float(y)})
            for osmid, x, y in zip(self.node_osmid, self.node_lon, self.node_lat, strict=True)
        )
        osmid = self.node_osmid
        tail = self.edge_tail
        for e in range(self.n_edges):
            length = float(self.edge_length_m[e])
            time_s = float(self.edge_time_s[e])
            graph.add_edge(
                int(osmid[tail[e]]),
                int(osmid[self.edge_head[e]]),
                length=length,
                travel_time=time_s,
                speed_kph=round(length / time_s * 3.6, 3) if time_s > 0 else 0.0,
                highway=self.road_classes[self.edge_class[e]],
            )
        return graph


def compile_graph(graph: nx.MultiDiGraph, *, meta: dict | None = None) -> CompiledNetwork:
    """Compile a schema graph (see ``network/schema.py``) to arrays.

    Parallel edges keep the fastest one and self-loops are dropped: neither can be on
    a fastest path. Raises ``DataError`` when the graph breaks the schema.
    """
    validate_graph(graph)
    nodes = list(graph.nodes)
    index = {node: i for i, node in enumerate(nodes)}
    node_lon = np.array([graph.nodes[n]["x"] for n in nodes], dtype=np.float64)
    node_lat = np.array([graph.nodes[n]["y"] for n in nodes], dtype=np.float64)
    try:
        node_osmid = np.array(nodes, dtype=np.int64)
    except (TypeError, ValueError):  # non-integer node keys: number them
        node_osmid = np.arange(len(nodes), dtype=np.int64)

    classes: dict[str, int] = {}
    best: dict[tuple[int, int], tuple[float, float, int]] = {}
    for u, v, data in graph.edges(data=True):
        if u == v:
            continue
        key = (index[u], index[v])
        time_s = float(data["travel_time"])
        cls = classes.setdefault(road_class(data["highway"]), len(classes))
        if key not in best or time_s < best[key][0]:
            best[key] = (time_s, float(data["length"]), cls)
    if not best:
        raise DataError("network has no edges")
    pairs = np.array(sorted(best), dtype=np.int64)
    values = np.array([best[(int(u), int(v))] for u, v in pairs], dtype=np.float64)
    tail, head = pairs[:, 0], pairs[:, 1]
    indptr = np.zeros(len(nodes) + 1, dtype=np.int64)
    np.add.at(indptr, tail + 1, 1)
    indptr = np.cumsum(indptr)

    edge_time_s = values[:, 0].astype(np.float32)
    edge_length_m = values[:, 1].astype(np.float32)
    chains = _contract_chains(len(nodes), tail, head, indptr)
    chain_ptr = np.zeros(len(chains) + 1, dtype=np.int64)
    chain_ptr[1:] = np.cumsum([len(c) for c in chains])
    chain_edges = np.concatenate(chains).astype(np.int32)

    edge_chain = np.repeat(np.arange(len(chains), dtype=np.int32), np.diff(chain_ptr))
    edge_chain_of = np.empty(len(tail), dtype=np.int32)
    edge_chain_of[chain_edges] = edge_chain
    time64 = edge_time_s.astype(np.float64)[chain_edges]
    length64 = edge_length_m.astype(np.float64)[chain_edges]
    offset_s, chain_time_s = _offsets_within(time64, chain_ptr)
    offset_m, chain_length_m = _offsets_within(length64, chain_ptr)
    edge_offset_s = np.empty(len(tail))
    edge_offset_m = np.empty(len(tail))
    edge_offset_s[chain_edges] = offset_s
    edge_offset_m[chain_edges] = offset_m

    return CompiledNetwork(
        node_lon=node_lon,
        node_lat=node_lat,
        node_osmid=node_osmid,
        indptr=indptr,
        edge_head=head.astype(np.int32),
        edge_time_s=edge_time_s,
        edge_length_m=edge_length_m,
        edge_class=values[:, 2].astype(np.uint8),
        road_classes=tuple(classes),
        edge_chain=edge_chain_of,
        edge_chain_offset_s=edge_offset_s,
        edge_chain_offset_m=edge_offset_m,
        chain_tail=tail[chain_edges[chain_ptr[:-1]]].astype(np.int32),
        chain_head=head[chain_edges[chain_ptr[1:] - 1]].astype(np.int32),
        chain_time_s=chain_time_s,
        chain_length_m=chain_length_m,
        chain_ptr=chain_ptr,
        chain_edges=chain_edges,
        meta={**dict(graph.graph), **(meta or {})},
    )


def _offsets_within(values: np.ndarray, ptr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exclusive prefix sums of ``values`` restarting at every ``ptr`` boundary, and totals."""
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    starts = np.repeat(cumulative[ptr[:-1]], np.diff(ptr))
    totals = cumulative[ptr[1:]] - cumulative[ptr[:-1]]
    return cumulative[:-1] - starts, totals


def _pass_through(n_nodes: int, tail: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Nodes that only continue a road: two distinct neighbours, traffic straight through.

    Either a two-way road (in from both neighbours, out to both) or a one-way road (in
    from one, out to the other). Anything else (junctions, dead ends, a one-way meeting
    a two-way) is a core junction.
    """
    out_deg = np.bincount(tail, minlength=n_nodes)
    in_deg = np.bincount(head, minlength=n_nodes)
    lo, hi = np.minimum(tail, head), np.maximum(tail, head)
    undirected = np.unique(lo * n_nodes + hi)
    neighbours = np.bincount(undirected // n_nodes, minlength=n_nodes) + np.bincount(
        undirected % n_nodes, minlength=n_nodes
    )
    two_way = (out_deg == 2) & (in_deg == 2)
    one_way = (out_deg == 1) & (in_deg == 1)
    # a one-way node whose only in- and out-neighbour coincide is a dead end, not a chain
    return (neighbours == 2) & (two_way | one_way)


def _contract_chains(
    n_nodes: int, tail: np.ndarray, head: np.ndarray, indptr: np.ndarray
) -> list[np.ndarray]:
    """Split the edges into chains that run from core junction to core junction."""
    through = _pass_through(n_nodes, tail, head)
    # A ring made only of pass-through nodes has no junction to start from: promote
    # its lowest node so every edge is reached (found after the first sweep).
    chains: list[np.ndarray] = []
    used = np.zeros(len(tail), dtype=bool)

    def sweep() -> None:
        for start in np.flatnonzero(~through):
            for first in range(indptr[start], indptr[start + 1]):
                if used[first]:
                    continue
                chain = [first]
                used[first] = True
                previous, node = int(start), int(head[first])
                while through[node]:
                    lo_e, hi_e = indptr[node], indptr[node + 1]
                    candidates = [e for e in range(lo_e, hi_e) if head[e] != previous]
                    nxt = candidates[0] if candidates else int(lo_e)  # one-way: the single out-edge
                    if used[nxt]:
                        break
                    used[nxt] = True
                    chain.append(nxt)
                    previous, node = node, int(head[nxt])
                chains.append(np.array(chain, dtype=np.int64))

    sweep()
    while not used.all():
        through[tail[np.flatnonzero(~used)[0]]] = False
        sweep()
    return chains
