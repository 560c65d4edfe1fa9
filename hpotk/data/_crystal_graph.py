"""Crystal graphs as in CGCNN (Xie & Grossman 2018): atoms are nodes, each atom is joined to at
most ``max_neighbors`` nearest atoms within ``cutoff`` (periodic images included), and each edge
carries the interatomic distance, which the model expands in Gaussians.

Only numpy and ASE here: the generator's worker processes never import torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Elements an EMT adsorption structure can hold (ASE's EMT has parameters for exactly these).
ELEMENTS = ("H", "C", "N", "O", "Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au")

# Pauling electronegativity, group and period of each element (standard tables).
_PROPERTIES = {
    #      EN    group period
    "H": (2.20, 1, 1), "C": (2.55, 14, 2), "N": (3.04, 15, 2), "O": (3.44, 16, 2),
    "Al": (1.61, 13, 3), "Ni": (1.91, 10, 4), "Cu": (1.90, 11, 4), "Pd": (2.20, 10, 5),
    "Ag": (1.93, 11, 5), "Pt": (2.28, 10, 6), "Au": (2.54, 11, 6),
}


def atom_feature_table() -> np.ndarray:
    """Per-element feature vectors, the CGCNN atom features of this dataset.

    Returns:
        [len(ELEMENTS), len(ELEMENTS) + 4] float32: a one-hot of the element, then its Pauling
        electronegativity / 4, covalent radius (Å) / 2, group / 18 and period / 6.
    """
    from ase.data import atomic_numbers, covalent_radii

    table = np.zeros((len(ELEMENTS), len(ELEMENTS) + 4), dtype=np.float32)
    for k, symbol in enumerate(ELEMENTS):
        en, group, period = _PROPERTIES[symbol]
        table[k, k] = 1.0
        table[k, len(ELEMENTS):] = (en / 4.0, covalent_radii[atomic_numbers[symbol]] / 2.0,
                                    group / 18.0, period / 6.0)
    return table


def element_indices(symbols: list[str]) -> np.ndarray:
    """[N] int8: each symbol's row in `atom_feature_table`."""
    index = {symbol: k for k, symbol in enumerate(ELEMENTS)}
    return np.array([index[s] for s in symbols], dtype=np.int8)


def crystal_graph(atoms: Any, cutoff: float, max_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    """Edges of the crystal graph of ``atoms`` (an ``ase.Atoms``, periodic where its ``pbc`` is).

    Each atom receives edges from its ``max_neighbors`` nearest neighbours within ``cutoff``
    (ties broken by neighbour index, so the graph is deterministic). An atom may neighbour
    several periodic images of the same atom: each image is its own edge.

    Returns:
        edge_index: [2, E] int32, row 0 the neighbour (message source), row 1 the centre atom.
        distance: [E] float32, in Å.
    """
    from ase.neighborlist import neighbor_list

    centre, neighbour, distance = neighbor_list("ijd", atoms, float(cutoff))
    order = np.lexsort((neighbour, distance, centre))  # by centre, then distance, then index
    centre, neighbour, distance = centre[order], neighbour[order], distance[order]
    starts = np.searchsorted(centre, np.arange(len(atoms)))
    rank = np.arange(len(centre)) - starts[centre]
    keep = rank < int(max_neighbors)
    edge_index = np.stack([neighbour[keep], centre[keep]]).astype(np.int32)
    return edge_index, distance[keep].astype(np.float32)
