"""Fixtures of the network tests: graphs whose roads change class along the way."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest


@pytest.fixture(scope="session")
def mixed_class_graph(grid_graph) -> nx.MultiDiGraph:
    """The test grid with each edge's road class drawn at random: chains mix classes."""
    graph = grid_graph.copy()
    rng = np.random.default_rng(21)
    classes = ["primary", "residential", "unclassified", "tertiary"]
    for _, _, data in graph.edges(data=True):
        data["highway"] = classes[int(rng.integers(len(classes)))]
    return graph
