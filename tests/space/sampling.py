"""Draw configs from a `Space` the way `hpotk`'s random searcher does: Ray's BasicVariantGenerator."""

from __future__ import annotations

from typing import Any

from hpotk.space import Space


def sample_configs(space: Space, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` configs drawn from ``space.to_ray()`` by a seeded BasicVariantGenerator."""
    from ray.tune.search import BasicVariantGenerator

    gen = BasicVariantGenerator(random_state=seed)
    gen.add_configurations({"space": {"run": _noop, "config": space.to_ray(), "num_samples": n}})
    configs = []
    while (trial := gen.next_trial()) is not None:
        configs.append(trial.config)
    assert len(configs) == n
    return configs


def values(space: Space, name: str, n: int = 2000, seed: int = 0) -> list[Any]:
    return [c[name] for c in sample_configs(space, n, seed)]


def _noop(config: dict[str, Any]) -> None:  # the trainable is never run
    return None


def draws(space: Space, n: int, seed: int = 0) -> dict[str, list[Any]]:
    """``n`` values of every param, drawn in one go from its Ray domain (``Domain.sample``).

    Much faster than `sample_configs` for checking a distribution's shape; the values are the
    same kind of draw the generator makes (same domain, same sampler).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    out = {}
    for name, domain in space.to_ray().items():
        if name in space.fixed:
            out[name] = [domain] * n
            continue
        values = domain.sample(size=n, random_state=rng)
        out[name] = values.tolist() if isinstance(values, np.ndarray) else list(values)
    return out
