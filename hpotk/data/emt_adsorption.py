"""``emt-adsorption``: adsorption energies of H, C, N and O on bimetallic fcc(111) surfaces,
computed with ASE's EMT calculator and turned into CGCNN crystal graphs.

Each structure (drawn from its own RNG ``(seed, index)``, so the data does not depend on how
many workers built it):

- a 2x2x3 fcc(111) slab of a host metal (Cu, Ag, Au, Ni, Pd, Pt or Al, at ASE's reference
  lattice constant, 6 Å vacuum each side, periodic in the surface plane);
- 0-4 of its 4 top-layer atoms substituted by a second metal (one of the other six);
- one adsorbate atom (H, C, N or O) on an ontop, bridge, fcc or hcp site of a random surface
  cell, moved laterally by a random offset (normal, sigma 0.25 Å, clipped at 0.5 Å);
- relaxation: the slab is kept rigid (unrelaxed, as built) and only the adsorbate's *height* is
  relaxed, by at most ``relax_steps`` secant-Newton steps on its vertical force (stop below
  0.05 eV/Å); its lateral position stays where the site + offset put it, so the site
  distinction is kept. ``relax_steps=0`` uses the unrelaxed starting height. This costs ~5-10
  EMT evaluations per structure, a fraction of a full BFGS relaxation;
- adsorption energy ``E(slab+ads) - E(slab) - E(ads)`` in eV, each term from EMT, ``E(ads)``
  the isolated atom.

The generated structures are cached on disk (`hpotk.data.cache`) under a key of every
parameter that changes them; the train/val/test split is a seeded permutation, made at load time.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpotk.data import _crystal_graph as cg
from hpotk.errors import ConfigError

NAME = "emt-adsorption"
FORMAT_VERSION = 2
METALS = ("Cu", "Ag", "Au", "Ni", "Pd", "Pt", "Al")
ADSORBATES = ("H", "C", "N", "O")
SITES = ("ontop", "bridge", "fcc", "hcp")
SLAB_SIZE = (2, 2, 3)
VACUUM = 6.0
_START_HEIGHT = {"ontop": 1.8, "bridge": 1.5, "fcc": 1.3, "hcp": 1.3}
_OFFSET_SIGMA, _OFFSET_MAX = 0.25, 0.5
_FMAX, _MAX_MOVE = 0.05, 0.3

#: parameters that change the generated structures (the cache key) and their defaults
GENERATION_DEFAULTS: dict[str, Any] = {
    "size": 2000, "seed": 0, "cutoff": 6.0, "max_neighbors": 12, "relax_steps": 10,
}
#: parameters applied at load time
SPLIT_DEFAULTS: dict[str, Any] = {"val_fraction": 0.15, "test_fraction": 0.15}
_TYPES: dict[str, type | tuple[type, ...]] = {
    "size": int, "seed": int, "cutoff": (int, float), "max_neighbors": int, "relax_steps": int,
    "val_fraction": (int, float), "test_fraction": (int, float), "workers": int,
}


@dataclass
class EMTAdsorption:
    """A built dataset: PyG graphs, their energies, what each structure is, and the split.

    Attributes:
        graphs: one ``torch_geometric.data.Data`` per structure with ``x`` [N, F] atom features
            (`hpotk.data._crystal_graph.atom_feature_table`), ``edge_index`` [2, E] int64,
            ``edge_attr`` [E] interatomic distances in Å, ``y`` [1] adsorption energy in eV.
        energies: [size] float64 adsorption energies (eV).
        records: per structure: host, guest (second metal), substituted (count), adsorbate,
            site, height (Å above the top layer after relaxation), force_z (eV/Å, the
            adsorbate's remaining vertical force), evaluations (EMT calls).
        split: ``{"train", "val", "test"}`` -> int64 index arrays into ``graphs``.
        params: the generation and split parameters.
        cache_path: the file the structures were loaded from (or written to).
        cache_hit: whether they came from the cache.
    """

    graphs: list[Any]
    energies: np.ndarray
    records: list[dict[str, Any]]
    split: dict[str, np.ndarray]
    params: dict[str, Any]
    cache_path: str = ""
    cache_hit: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.graphs)

    @property
    def num_atom_features(self) -> int:
        return int(self.graphs[0].x.shape[1])


def build(size: int = 2000, seed: int = 0, cutoff: float = 6.0, max_neighbors: int = 12,
          relax_steps: int = 10, val_fraction: float = 0.15, test_fraction: float = 0.15,
          workers: int | None = None) -> EMTAdsorption:
    """Generate (or load from the cache) ``size`` structures and return them as crystal graphs.

    Args:
        size: number of structures.
        seed: seeds the structures and the split.
        cutoff: neighbour cutoff radius (Å).
        max_neighbors: at most this many nearest neighbours per atom (CGCNN's M).
        relax_steps: adsorbate-height relaxation steps (0: unrelaxed).
        val_fraction, test_fraction: split fractions.
        workers: generator processes (default: the CPUs this process may use); not part of the
            cache key, as the data does not depend on it.
    """
    params = _check({"size": size, "seed": seed, "cutoff": cutoff, "max_neighbors": max_neighbors,
                     "relax_steps": relax_steps, "val_fraction": val_fraction,
                     "test_fraction": test_fraction}, "data")
    entry = _structures(params, workers)
    return _as_dataset(entry.value, params, str(entry.path), entry.hit)


def load(spec: dict[str, Any]) -> EMTAdsorption:
    """`build` from an experiment's ``data`` mapping (``name`` may be present and is ignored)."""
    params = {k: v for k, v in spec.items() if k != "name"}
    _check(params, "data")
    return build(**params)


def prepare(**params: Any) -> tuple[Any, int, str]:
    """What ``hpotk data emt-adsorption`` runs: build the cache; see `hpotk.data.prepare`."""
    workers = params.pop("workers", None)
    checked = _check(params, "data")
    entry = _structures(checked, workers)
    return entry, len(entry.value["energy"]), "structures"


# -- generation ---------------------------------------------------------------------------------
def _check(params: dict[str, Any], path: str) -> dict[str, Any]:
    from hpotk.options import check_options

    check_options(params, _TYPES, path)
    params = {k: v for k, v in params.items() if v is not None}  # null (``size=``): the default
    full = {**GENERATION_DEFAULTS, **SPLIT_DEFAULTS, **params}
    if full["size"] < 10:
        raise ConfigError(f"{path}.size", f"need at least 10 structures, got {full['size']}")
    if not 0 < full["cutoff"] <= 12:
        raise ConfigError(f"{path}.cutoff", f"must be in (0, 12] Å, got {full['cutoff']}")
    if full["max_neighbors"] < 1:
        raise ConfigError(f"{path}.max_neighbors", f"must be >= 1, got {full['max_neighbors']}")
    if full["relax_steps"] < 0:
        raise ConfigError(f"{path}.relax_steps", f"must be >= 0, got {full['relax_steps']}")
    if not (0 < full["val_fraction"] and 0 < full["test_fraction"]
            and full["val_fraction"] + full["test_fraction"] < 0.9):
        raise ConfigError(f"{path}.val_fraction", "val_fraction and test_fraction must be > 0 "
                          f"and sum below 0.9, got {full['val_fraction']} and {full['test_fraction']}")
    return full


def _structures(params: dict[str, Any], workers: int | None) -> Any:
    from hpotk.data.cache import load_or_build

    key = {k: params[k] for k in GENERATION_DEFAULTS}
    key["cutoff"] = float(key["cutoff"])
    return load_or_build(NAME, key, lambda: generate(**key, workers=workers),
                         version=FORMAT_VERSION)


def generate(size: int, seed: int, cutoff: float, max_neighbors: int, relax_steps: int,
             workers: int | None = None) -> dict[str, Any]:
    """Compute ``size`` structures, in parallel over ``workers`` processes.

    Returns:
        Column-wise numpy data: ``energy`` [size], ``elements`` / ``edge_index`` / ``distance``
        (lists of per-structure arrays, see `one_structure`), ``records`` and ``seconds``.
    """
    workers = workers or len(os.sched_getaffinity(0))
    start = time.perf_counter()
    jobs = [(seed, i, cutoff, max_neighbors, relax_steps) for i in range(size)]
    if workers <= 1:
        results = [one_structure(*job) for job in jobs]
    else:
        import multiprocessing

        # spawn, not fork: this may run inside a Ray worker, whose threads a fork would copy
        chunk = max(1, size // (workers * 8))
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_single_thread) as pool:
            results = list(pool.map(_star, jobs, chunksize=chunk))
    return {
        "energy": np.array([r["energy"] for r in results]),
        "elements": [r["elements"] for r in results],
        "edge_index": [r["edge_index"] for r in results],
        "distance": [r["distance"] for r in results],
        "records": [r["record"] for r in results],
        "seconds": time.perf_counter() - start,
    }


def _single_thread() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    import ase.build  # noqa: F401  once per worker, not in the timed loop
    import ase.calculators.emt  # noqa: F401
    import ase.neighborlist  # noqa: F401


def _star(job: tuple) -> dict[str, Any]:
    return one_structure(*job)


def one_structure(seed: int, index: int, cutoff: float, max_neighbors: int,
                  relax_steps: int) -> dict[str, Any]:
    """Structure ``index`` of the dataset with ``seed``: its graph arrays and energy.

    Returns:
        ``energy`` (eV), ``elements`` [N] int8 rows of the atom feature table, ``edge_index``
        [2, E] int32, ``distance`` [E] float32, ``record`` (what the structure is).
    """
    rng = np.random.default_rng([seed, index])
    host = METALS[rng.integers(len(METALS))]
    guests = [m for m in METALS if m != host]
    guest = guests[rng.integers(len(guests))]
    adsorbate = ADSORBATES[rng.integers(len(ADSORBATES))]
    site = SITES[rng.integers(len(SITES))]
    top_count = SLAB_SIZE[0] * SLAB_SIZE[1]
    substituted = rng.choice(top_count, size=int(rng.integers(top_count + 1)), replace=False)
    cell = (int(rng.integers(SLAB_SIZE[0])), int(rng.integers(SLAB_SIZE[1])))
    shift = rng.normal(0.0, _OFFSET_SIGMA, size=2)
    norm = float(np.linalg.norm(shift))
    if norm > _OFFSET_MAX:
        shift *= _OFFSET_MAX / norm
    system, energy, record = adsorption_energy(host, guest, substituted.tolist(), adsorbate, site,
                                               cell, tuple(shift), relax_steps)
    edge_index, distance = cg.crystal_graph(system, cutoff, max_neighbors)
    return {
        "energy": energy,
        "elements": cg.element_indices(system.get_chemical_symbols()),
        "edge_index": edge_index,
        "distance": distance,
        "record": record,
    }


def adsorption_energy(host: str, guest: str, substituted: list[int], adsorbate: str, site: str,
                      cell: tuple[int, int] = (0, 0), shift: tuple[float, float] = (0.0, 0.0),
                      relax_steps: int = 10) -> tuple[Any, float, dict[str, Any]]:
    """EMT adsorption energy of one adsorbate atom on a (substituted) fcc(111) slab.

    Args:
        host: the slab's metal.
        guest: the metal that replaces the top-layer atoms listed in ``substituted``.
        substituted: positions (0..3) among the 4 top-layer atoms that hold ``guest``.
        adsorbate: H, C, N or O.
        site: ontop, bridge, fcc or hcp.
        cell: which surface cell of the 2x2 slab the site is in.
        shift: lateral offset (Å) from the ideal site.
        relax_steps: adsorbate-height relaxation steps (0: none).

    Returns:
        The relaxed ``ase.Atoms`` (slab + adsorbate, adsorbate last), ``E(slab+ads) - E(slab)
        - E(ads)`` in eV, and a record of the structure.
    """
    from ase import Atoms
    from ase.build import add_adsorbate, fcc111
    from ase.calculators.emt import EMT

    slab = fcc111(host, size=SLAB_SIZE, vacuum=VACUUM)
    top = np.flatnonzero(slab.get_tags() == 1)
    symbols = slab.get_chemical_symbols()
    for k in substituted:
        symbols[top[k]] = guest
    slab.set_chemical_symbols(symbols)
    slab.calc = EMT()
    e_slab = slab.get_potential_energy()

    system = slab.copy()
    add_adsorbate(system, adsorbate, _START_HEIGHT[site], site, offset=cell)
    system.positions[-1, :2] += np.asarray(shift, dtype=float)
    system.calc = EMT()
    evaluations = _relax_height(system, relax_steps)
    e_system = system.get_potential_energy()

    isolated = Atoms(adsorbate, cell=[12.0, 12.0, 12.0], pbc=False)
    isolated.calc = EMT()
    energy = float(e_system - e_slab - isolated.get_potential_energy())
    record = {
        "host": host, "guest": guest, "substituted": len(substituted), "adsorbate": adsorbate,
        "site": site, "height": round(float(system.positions[-1, 2] - slab.positions[top, 2].max()), 4),
        "force_z": round(float(system.get_forces()[-1, 2]), 5), "evaluations": evaluations,
    }
    return system, energy, record


def _relax_height(system: Any, steps: int) -> int:
    """Relax the last atom's height (slab rigid, lateral position fixed); EMT calls made.

    Secant-Newton on the vertical force F_z = -dE/dz: the curvature comes from the last two
    force evaluations (10 eV/Å² to start), a step never exceeds 0.3 Å, and a step of fixed size
    along the force is taken where the curvature is not positive.
    """
    if steps <= 0:
        return 1
    z = system.positions[-1, 2]
    force = system.get_forces()[-1, 2]
    calls = 1
    curvature = 10.0
    for _ in range(steps):
        if abs(force) < _FMAX:
            break
        move = force / curvature if curvature > 0 else np.sign(force) * 0.1
        move = float(np.clip(move, -_MAX_MOVE, _MAX_MOVE))
        positions = system.get_positions()
        positions[-1, 2] = z + move
        system.set_positions(positions)
        new_force = system.get_forces()[-1, 2]
        calls += 1
        curvature = (force - new_force) / move if move != 0 else curvature
        z, force = z + move, new_force
    return calls


# -- loading ------------------------------------------------------------------------------------
def _as_dataset(raw: dict[str, Any], params: dict[str, Any], path: str,
                hit: bool) -> EMTAdsorption:
    import torch
    from torch_geometric.data import Data

    table = torch.from_numpy(cg.atom_feature_table())
    graphs = []
    for elements, edges, distance, energy in zip(raw["elements"], raw["edge_index"],
                                                 raw["distance"], raw["energy"], strict=True):
        graphs.append(Data(
            x=table[torch.from_numpy(elements.astype(np.int64))],
            edge_index=torch.from_numpy(edges.astype(np.int64)),
            edge_attr=torch.from_numpy(distance),
            y=torch.tensor([energy], dtype=torch.float32),
        ))
    return EMTAdsorption(
        graphs=graphs, energies=raw["energy"], records=raw["records"],
        split=split_indices(len(graphs), params["seed"], params["val_fraction"],
                            params["test_fraction"]),
        params=dict(params), cache_path=path, cache_hit=hit,
        extra={"generation_seconds": raw["seconds"]},
    )


def split_indices(size: int, seed: int, val_fraction: float,
                  test_fraction: float) -> dict[str, np.ndarray]:
    """A seeded permutation cut into train/val/test (each non-empty)."""
    order = np.random.default_rng([seed, 7]).permutation(size)
    n_test = max(1, round(size * test_fraction))
    n_val = max(1, round(size * val_fraction))
    return {"test": np.sort(order[:n_test]), "val": np.sort(order[n_test:n_test + n_val]),
            "train": np.sort(order[n_test + n_val:])}
