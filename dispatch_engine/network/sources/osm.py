"""OpenStreetMap road graphs in osmnx form, brought to the network schema.

Every OpenStreetMap source (osmnx download, ``.osm.pbf``, ``.osm`` XML, saved GraphML)
ends in :func:`normalise_osm_graph`, so they all yield the same graph as the synthetic
network: WGS-84, one road class per edge, speeds and travel times, straight edges.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import ParseError

import networkx as nx
import osmnx as ox
import pyproj

from dispatch_engine.errors import DataError, InvalidInputError
from dispatch_engine.network.schema import (
    DEFAULT_SPEED_KPH,
    ROAD_CLASS_SPEED_KPH,
    road_class,
    validate_graph,
)
from dispatch_engine.network.straighten import straighten

WGS84 = "epsg:4326"


def normalise_osm_graph(graph: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """Turn an osmnx-style OpenStreetMap road graph into a network of the schema.

    Steps, each with osmnx's own functions where one exists:

    1. reproject to WGS-84 if the graph is in another CRS;
    2. one road-class string per edge (osmnx keeps a list where merged ways differ);
    3. keep only the largest *strongly* connected component, because dispatch needs
       every node reachable from every other and back (a vehicle must be able to
       leave an incident it was sent to); one-way fragments cut off by the area's
       border are dropped;
    4. ``speed_kph`` from OSM ``maxspeed`` where tagged, else the road-class speed of
       ``ROAD_CLASS_SPEED_KPH``, else ``DEFAULT_SPEED_KPH``
       (``osmnx.routing.add_edge_speeds``), then ``travel_time`` in seconds
       (``osmnx.routing.add_edge_travel_times``);
    5. :func:`~dispatch_engine.network.straighten.straighten`, so every edge is a
       straight segment between its nodes.

    Parameters
    ----------
    graph
        A ``MultiDiGraph`` as osmnx or pyrosm build it: graph attribute ``crs``, node
        ``x``/``y`` in that CRS, edge ``length`` (metres) and ``highway``. Modified in
        place; use the returned graph.

    Returns
    -------
    networkx.MultiDiGraph
        A graph that passes :func:`~dispatch_engine.network.schema.validate_graph`.

    Raises
    ------
    DataError
        If required attributes are missing or no two-way-reachable road is left.
    """
    _require_osm_attributes(graph)
    if pyproj.CRS.from_user_input(graph.graph["crs"]) != pyproj.CRS.from_user_input(WGS84):
        graph = ox.projection.project_graph(graph, to_latlong=True)
    graph.graph["crs"] = WGS84
    for _, _, data in graph.edges(data=True):
        data["highway"] = road_class(data["highway"])
    if graph.number_of_edges() > 0:
        graph = ox.truncate.largest_component(graph, strongly=True)
    if graph.number_of_edges() == 0:
        raise DataError("the OpenStreetMap data holds no drivable roads that form a network")
    ox.routing.add_edge_speeds(graph, hwy_speeds=ROAD_CLASS_SPEED_KPH, fallback=DEFAULT_SPEED_KPH)
    ox.routing.add_edge_travel_times(graph)
    graph = straighten(graph)
    validate_graph(graph)
    return graph


def read_osm_graphml(path: Path) -> nx.MultiDiGraph:
    """Load a GraphML file saved by osmnx and normalise it (see :func:`normalise_osm_graph`).

    Raises
    ------
    DataError
        If the file is not an osmnx GraphML of a road network.
    """
    try:
        graph = ox.load_graphml(path)
    except (ParseError, nx.NetworkXError, ValueError) as error:
        raise DataError(f"{path} is not a GraphML file saved by osmnx: {error}") from error
    return normalise_osm_graph(graph)


def save_graphml(graph: nx.MultiDiGraph, path: Path) -> None:
    """Export a network as GraphML with ``osmnx.save_graphml``.

    The file reopens with ``osmnx.load_graphml`` (and :func:`read_osm_graphml`) with the
    same nodes, edges and attribute types, and in tools that read GraphML.

    Raises
    ------
    InvalidInputError
        ``field="graphml"``, if ``path`` cannot be written.
    """
    try:
        ox.save_graphml(graph, path)
    except OSError as error:
        raise InvalidInputError(
            f"cannot write {path}: {error.strerror}", field="graphml"
        ) from error


def _require_osm_attributes(graph: nx.MultiDiGraph) -> None:
    missing = []
    if "crs" not in graph.graph:
        missing.append("graph attribute 'crs'")
    if any("x" not in data or "y" not in data for _, data in graph.nodes(data=True)):
        missing.append("node 'x'/'y'")
    if any("length" not in data or "highway" not in data for *_, data in graph.edges(data=True)):
        missing.append("edge 'length'/'highway'")
    if missing:
        raise DataError(f"not an OpenStreetMap road graph: missing {', '.join(missing)}")
