"""Build, cache and load compiled networks, whatever their source.

Compiled networks are cached so a build happens once: the embedded synthetic network
under ``settings.cache_dir``, keyed by a hash of its recipe, the boundary it is drawn
in and the generator's code (change any and it is rebuilt); an OSM file's network next
to the file (``<file>.compiled.npz``), keyed by the file's content hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from dispatch_engine.errors import DataError, InvalidInputError
from dispatch_engine.geo.boundaries import load_boundaries
from dispatch_engine.network import compile as compile_module
from dispatch_engine.network.compile import CompiledNetwork, compile_graph
from dispatch_engine.network.sources import osm_file as osm_file_module
from dispatch_engine.network.sources import osmnx_download, synthetic
from dispatch_engine.settings import Settings

EMBEDDED_RECIPE = Path("network") / "shaoguan_synthetic.yaml"
Progress = Callable[[str], None]


def quiet(_: str) -> None:
    """Default progress sink."""


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:16]


def embedded_network_path(settings: Settings) -> Path:
    """Where the embedded network for the current recipe, boundary and code is cached."""
    recipe = settings.data_dir / EMBEDDED_RECIPE
    if not recipe.exists():
        raise DataError(f"embedded network recipe missing: {recipe}")
    key = _digest(
        recipe.read_bytes(),
        (settings.data_dir / "boundaries" / "cities.geojson.gz").read_bytes(),
        Path(synthetic.__file__).read_bytes(),
        Path(compile_module.__file__).read_bytes(),
    )
    return settings.cache_dir / "networks" / f"embedded-{key}.npz"


def build_embedded(settings: Settings, *, progress: Progress = quiet) -> CompiledNetwork:
    """The embedded synthetic Shaoguan network: from the cache, or built and cached."""
    path = embedded_network_path(settings)
    if path.exists():
        progress(f"loading cached network {path}")
        return CompiledNetwork.load(path)
    progress("generating the synthetic Shaoguan road network (first run only)")
    recipe = synthetic.load_recipe(settings.data_dir / EMBEDDED_RECIPE)
    graph = synthetic.build_synthetic_graph(recipe, load_boundaries(settings.data_dir))
    progress(f"compiling {graph.number_of_nodes():,} nodes, {graph.number_of_edges():,} edges")
    network = compile_graph(graph, meta={"source": "embedded", "synthetic": True})
    network.save(path)
    progress(f"cached at {path}")
    return network


def build_from_osm_file(
    osm_file: Path, *, progress: Progress = quiet
) -> tuple[CompiledNetwork, Path]:
    """Compile a local ``.osm.pbf`` / ``.osm`` / ``.graphml``; cached next to the file."""
    if not osm_file.is_file():
        raise InvalidInputError(f"no such file: {osm_file}", field="osm_file")
    content = _digest(osm_file.read_bytes(), Path(compile_module.__file__).read_bytes())
    path = osm_file.with_name(osm_file.name + ".compiled.npz")
    if path.exists():
        cached = CompiledNetwork.load(path)
        if cached.meta.get("content_hash") == content:
            progress(f"loading cached network {path}")
            return cached, path
    progress(f"reading {osm_file}")
    graph = osm_file_module.graph_from_osm_file(osm_file)
    progress(f"compiling {graph.number_of_nodes():,} nodes, {graph.number_of_edges():,} edges")
    network = compile_graph(
        graph,
        meta={"source": f"osm file {osm_file.name}", "synthetic": False, "content_hash": content},
    )
    network.save(path)
    return network, path


def build_from_place(
    place: str, settings: Settings, *, progress: Progress = quiet
) -> tuple[CompiledNetwork, Path]:
    """Download a place from OpenStreetMap with osmnx (needs internet; cached)."""
    path = settings.cache_dir / "networks" / f"place-{_digest(place.encode())}.npz"
    if path.exists():
        return CompiledNetwork.load(path), path
    progress(f"downloading '{place}' from OpenStreetMap")
    graph = osmnx_download.graph_from_place(place, cache_dir=settings.cache_dir / "osmnx")
    network = compile_graph(graph, meta={"source": f"osmnx place {place}", "synthetic": False})
    network.save(path)
    return network, path


def load_network(settings: Settings, *, progress: Progress = quiet) -> CompiledNetwork:
    """The network the settings select: ``embedded`` or a compiled ``.npz`` path."""
    if settings.network == "embedded":
        return build_embedded(settings, progress=progress)
    path = Path(settings.network)
    if path.suffix != ".npz":
        raise InvalidInputError(
            f"'{settings.network}' is neither 'embedded' nor a compiled .npz network "
            "(build one with 'dispatch-engine network build')",
            field="network",
        )
    return CompiledNetwork.load(path)
