"""The Ray sampler behind `hpotk.space.ray_domains` (imports Ray; import it only when needed).

Tune pickles it into ``tuner.pkl`` by this module path: keep the path."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ray.tune.search.sample import Sampler, _BackwardsCompatibleNumpyRng

from hpotk.space.sampling import draw

if TYPE_CHECKING:
    from hpotk.space.param import Param


class ParamSampler(Sampler):
    """A Ray sampler that draws values of one `Param` by its own rules (see `draw`)."""

    def __init__(self, param: Param):
        self.param = param

    def sample(self, domain: Any, config: Any = None, size: int = 1,
               random_state: Any = None) -> Any:
        if not isinstance(random_state, _BackwardsCompatibleNumpyRng):
            random_state = _BackwardsCompatibleNumpyRng(random_state)
        values = draw(self.param, random_state, size)
        return values if size > 1 else values[0]

    def __str__(self) -> str:
        return self.param.describe()
