"""Datasets the built-in trainables use, generated offline and cached on disk (see `cache`).

`DATASETS` maps a dataset name to ``"module:function"``; the function takes the dataset's
parameters as keyword arguments, builds the dataset (or loads it from the cache) and returns
``(entry, count, unit)``: the `hpotk.data.cache.Cached` entry, how many items the dataset holds
and what they are called ("structures", "nodes", "triples"). `prepare` is what
``hpotk data NAME --param value`` runs: it builds ahead of time and says what it cost.
"""

from __future__ import annotations

from typing import Any

from hpotk.registry import Registry

DATASETS = Registry(
    "dataset",
    {
        "emt-adsorption": "hpotk.data.emt_adsorption:prepare",
        "hetero-synthetic": "hpotk.data.hetero:prepare",
        "kg-synthetic": "hpotk.data.kg:prepare",
    },
)


def prepare(name: str, **params: Any) -> str:
    """Build (or find in the cache) the dataset ``name`` with ``params``; a one-paragraph summary.

    Args:
        name: a name in `DATASETS`.
        **params: the dataset's parameters (e.g. ``size=2000, seed=0``); unknown ones are refused.

    Returns:
        What it cost: seconds, items per second, cache path and size on disk (or that the cache
        already held it).
    """
    builder = DATASETS.resolve(name, "data.name")
    entry, count, unit = builder(**params)
    size_mb = entry.path.stat().st_size / 1e6
    shown = ", ".join(f"{k}={v}" for k, v in sorted(params.items())) or "defaults"
    if entry.hit:
        how = f"already cached: loaded {count} {unit} in {entry.seconds:.2f} s"
    else:
        rate = count / entry.seconds if entry.seconds > 0 else float("inf")
        how = f"built {count} {unit} in {entry.seconds:.1f} s ({rate:.1f} {unit}/s)"
    return f"{name} ({shown}): {how}\ncache: {entry.path} ({size_mb:.1f} MB)"


def graph_size(spec: dict[str, Any]) -> tuple[int, int]:
    """(nodes, edges) of a graph data spec, for ``node_strategy``/``edge_strategy`` ranges.

    Heterogeneous graphs (``hetero-synthetic``, a ``.pt`` HeteroData file) give nodes and edges;
    knowledge graphs (``kg-synthetic``, a ``.tsv`` of triples) give entities and triples.
    Raises ValueError for a spec that is not a graph.
    """
    path = str(spec.get("path", ""))
    name = spec.get("name")
    if name == "kg-synthetic" or path.endswith(".tsv"):
        from hpotk.data.kg import graph_size as kg_size

        return kg_size(spec)
    if name == "hetero-synthetic" or path.endswith(".pt"):
        from hpotk.data.hetero import graph_size as hetero_size

        return hetero_size(spec)
    raise ValueError(f"not a graph data spec: {spec!r}")
