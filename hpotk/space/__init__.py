"""Search spaces: tiered JSON and distribution specs -> one `Param` model -> Ray domains.

`build` takes what an experiment's ``space:`` key holds and returns a `Space`:

- a path to a .json / .yaml / .yml file (relative to ``base_dir``) holding any of the below;
- a tiered document (``1-tier-param``, ``2-tier-param``, ``3-tier-param``, ``fixed-param``;
  see `hpotk.space.tiered`), also as a Neptune ML model entry or a whole
  ``model-HPO-configuration.json`` (``{"models": [entry]}``; more than one entry is refused);
- a mapping ``{name: distribution}`` (see `hpotk.space.distributions`).
"""

from __future__ import annotations

import os
from typing import Any

from hpotk.errors import ConfigError
from hpotk.space._checks import join
from hpotk.space.distributions import build_distributions
from hpotk.space.neptune import ENTRY_KEYS, load_neptune, neptune_entry, read_document
from hpotk.space.param import Fixed, Param, Space, default_role
from hpotk.space.tiered import SECTIONS, active_tier, build_tiered

__all__ = ["Fixed", "Param", "Space", "active_tier", "build", "build_distributions",
           "build_tiered", "default_role", "load_neptune"]


def build(spec: Any, *, trials: int, base_dir: str | os.PathLike | None = None,
          graph_nodes: float | None = None, graph_edges: float | None = None,
          path: str = "space") -> Space:
    """Resolve a search-space spec into a `Space`.

    Args:
        spec: a file path (str or PathLike), a tiered / Neptune mapping, or a distribution mapping.
        trials: the trial budget (decides which tiers of a tiered space are tuned).
        base_dir: directory that relative file paths are taken from (the experiment file's).
        graph_nodes, graph_edges: graph size, for tiered entries with node_strategy/edge_strategy.
        path: key path of ``spec`` in the experiment file, for error messages. Errors inside a
            space file carry the file as their source and key paths within that file.

    Raises:
        ConfigError: naming the key path (and file) of what is wrong.
    """
    if isinstance(spec, (str, os.PathLike)):
        doc, file = read_document(spec, base_dir, path)
        try:
            return _build_doc(doc, trials, graph_nodes, graph_edges, "")
        except ConfigError as err:
            raise ConfigError(err.path, err.message, err.source or file) from None
    return _build_doc(spec, trials, graph_nodes, graph_edges, path)


def _build_doc(doc: Any, trials: int, graph_nodes: float | None, graph_edges: float | None,
               path: str) -> Space:
    if not isinstance(doc, dict):
        raise ConfigError(path, "expected a space file path, a tiered mapping (1-tier-param, ...) "
                                f"or a mapping of name -> distribution, got {doc!r}")
    if "models" in doc:
        entry = load_neptune(doc, path=path)
        path = join(join(path, "models"), 0)
    elif not any(key in doc for key in SECTIONS):
        return build_distributions(doc, path=path)
    elif any(key in doc for key in ENTRY_KEYS if key not in SECTIONS):
        entry = neptune_entry(doc, path)  # a Neptune model entry on its own
    else:
        entry = doc  # a bare tiered doc: build_tiered refuses stray keys, listing valid ones
    return build_tiered({key: entry[key] for key in entry if key not in ENTRY_KEYS or
                         key in SECTIONS}, trials=trials, graph_nodes=graph_nodes,
                        graph_edges=graph_edges, path=path)
