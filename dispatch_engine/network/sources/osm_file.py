"""Road networks from local OpenStreetMap files, read offline.

``.osm.pbf`` extracts (Geofabrik, BBBike, ...) through pyrosm, ``.osm``/``.xml``
exports through osmnx, and GraphML files saved by osmnx (e.g. an earlier download).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from xml.etree.ElementTree import ParseError
from xml.sax import SAXException

import networkx as nx
import osmnx as ox
import pyrosm
from pyrosm.exceptions import PBFException

from dispatch_engine.errors import DataError, InvalidInputError
from dispatch_engine.network.sources.osm import normalise_osm_graph, read_osm_graphml


def graph_from_osm_file(path: Path) -> nx.MultiDiGraph:
    """Read the drivable roads of a local OpenStreetMap file as a network of the schema.

    Only roads open to cars are read (pyrosm ``"driving"``; osmnx's graph of an XML
    export), unsimplified: every OSM node of a road stays a node with its OSM id, so
    edges are already straight. The result is normalised by
    :func:`~dispatch_engine.network.sources.osm.normalise_osm_graph`, which keeps only
    the largest strongly connected component (every node reachable from every other
    and back, as dispatch needs).

    Parameters
    ----------
    path
        ``.osm.pbf`` (or ``.pbf``), ``.osm`` / ``.xml`` (OSM XML), or ``.graphml``
        saved by osmnx.

    Returns
    -------
    networkx.MultiDiGraph
        WGS-84 network with ``length`` (m), ``highway``, ``speed_kph``, ``travel_time`` (s).

    Raises
    ------
    InvalidInputError
        ``field="osm_file"``: the file is missing, has an unsupported suffix, cannot be
        read in its format, or holds no connected drivable roads.
    """
    path = Path(path)
    reader = _reader_for(path)
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file", field="osm_file")
    try:
        return reader(path)
    except DataError as error:
        raise InvalidInputError(error.message, field="osm_file") from error


def _reader_for(path: Path) -> Callable[[Path], nx.MultiDiGraph]:
    name = path.name.lower()
    if name.endswith(".pbf"):
        return _read_pbf
    if name.endswith((".osm", ".xml")):
        return _read_osm_xml
    if name.endswith(".graphml"):
        return read_osm_graphml
    raise InvalidInputError(
        f"{path}: unsupported file type; expected .osm.pbf, .osm, .xml or .graphml",
        field="osm_file",
    )


def _read_pbf(path: Path) -> nx.MultiDiGraph:
    try:
        osm = pyrosm.OSM(str(path))
        nodes, edges = osm.get_network(network_type="driving", nodes=True)
    except PBFException as error:
        raise DataError(f"{path} is not a readable OSM PBF file: {error}") from error
    if edges is None or edges.empty:
        raise DataError(f"{path} holds no drivable roads")
    graph = osm.to_graph(nodes, edges, graph_type="networkx", simplify=False)
    # pyrosm extras that osmnx graphs do not have: a shapely Point per node (GraphML
    # would save it as text it cannot read back) and the edge ends repeated as data.
    for _, data in graph.nodes(data=True):
        data.pop("geometry", None)
    for _, _, data in graph.edges(data=True):
        data.pop("u", None)
        data.pop("v", None)
    return normalise_osm_graph(graph)


def _read_osm_xml(path: Path) -> nx.MultiDiGraph:
    try:
        graph = ox.graph_from_xml(path, simplify=False)
    except (ParseError, SAXException) as error:
        raise DataError(f"{path} is not a readable OSM XML file: {error}") from error
    except ox._errors.InsufficientResponseError as error:
        raise DataError(f"{path} holds no OpenStreetMap roads: {error}") from error
    return normalise_osm_graph(graph)
