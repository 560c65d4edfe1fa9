"""What a strategy may replay, and the searchers that give the simulator its trials.

**On the table** (the default for random and grid): ``random`` draws the table's configs
without replacement (a fresh order per seed), ``grid`` every grid point in the grid's order
(each must be in the table). Searchers that propose new configs from a model or a sequence
(tpe, bo, anneal, sobol) cannot replay on the table alone: a nearest-neighbour stand-in would
feed the model results of configs it did not propose.
**On a surrogate** (`hpotk.replay.surrogate`): every searcher replays. The strategy's own
searcher, built as `hpotk run` builds it, proposes; the surrogate answers with the config's
learning curve and seconds, with the seed's noise; the searcher hears every result and every
trial's end where Ray's controller would tell it. Random search draws from the space.
**PBT** is refused either way: after an exploit a trial trains on from another trial's weights
with new hyperparameters, a learning curve neither a table nor its surrogate holds.

`strategy_of` turns an experiment into a `Strategy` and checks it against the table (same
trainable, data, space and fixed values; max_t within the table's); `refuse` names what replay
cannot run and why; `TableSearch` draws the recorded configs, `SurrogateSearch` asks the
searcher and the surrogate.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hpotk.errors import HpotkError
from hpotk.replay.table import Recorded, Table, normal_value

#: schedulers a replay refuses, and why
REFUSED_SCHEDULERS = {
    "pbt": "pbt cannot be replayed: after an exploit a trial trains on from another trial's "
           "weights with perturbed hyperparameters, a learning curve that no recorded table "
           "holds (replay shows only what the recorded trials did). Run pbt for real",
}
#: searchers that replay draws configs for itself (from the table)
TABLE_SEARCHERS = ("random", "grid")
#: searchers a replay refuses: they propose configs the table has no curves for
MODEL_SEARCHERS = ("tpe", "bo", "anneal", "sobol", "optuna_tpe", "nsga2", "optuna_gp")


@dataclass
class Strategy:
    """One strategy to replay: scheduler and searcher (names and options) and its budget.

    Attributes:
        label: the study's label for it.
        scheduler, scheduler_options: the hpotk scheduler and its options.
        searcher, searcher_options: the searcher (random or grid) and its options.
        concurrent: workers.
        time_s: the time budget (None: until the table is used up).
        max_t: iterations a trial may run (at most the table's).
        trials: most trials to start (None: as many as the table has).
        space: the strategy's `hpotk.space.param.Space` (needed by grid, by the searchers a
            surrogate replays, and by schedulers that know the space).
        checkpoint_every: iterations between checkpoints (``checkpoint.every``; 0: never).
        charge_searcher: whether the searcher's measured time is charged to the simulated clock
            (`hpotk.replay.simulation`; a study's ``charge_searcher``).
        checkpoint_s: seconds a checkpoint costs in replay (charged after each checkpointed
            iteration, and when a paused trial is restored).
    """

    label: str
    scheduler: str = "fifo"
    scheduler_options: dict[str, Any] = field(default_factory=dict)
    searcher: str = "random"
    searcher_options: dict[str, Any] = field(default_factory=dict)
    concurrent: int = 1
    time_s: float | None = None
    max_t: int | None = None
    trials: int | None = None
    space: Any = None
    checkpoint_every: int = 0
    checkpoint_s: float = 0.0
    charge_searcher: bool = True


def strategy_of(exp: Any, *, label: str | None = None, time_s: float | None = None,
                concurrent: int | None = None, table: Table | None = None) -> Strategy:
    """The `Strategy` of an experiment (a `hpotk.experiment.Experiment`), checked against
    ``table`` when given: the same trainable, data, tuned params and fixed values (a config the
    table never ran is refused), max_t no more than the table's."""
    from hpotk.plan import build_space

    space = build_space(exp)
    strategy = Strategy(
        label=label or exp.strategy.label,
        scheduler=exp.strategy.scheduler.name,
        scheduler_options=dict(exp.strategy.scheduler.options),
        searcher=exp.strategy.searcher.name,
        searcher_options=dict(exp.strategy.searcher.options),
        concurrent=int(concurrent or exp.budget.concurrent),
        time_s=time_s if time_s is not None else exp.budget.time_s,
        max_t=exp.budget.max_t, trials=exp.budget.trials, space=space,
        checkpoint_every=int(exp.checkpoint.every),
    )
    if table is not None:
        check_against(table, exp, space, strategy.label)
    return strategy


def check_against(table: Table, exp: Any, space: Any, label: str) -> None:
    """Refuse (HpotkError) a strategy whose configs the table does not hold."""
    recorded = table.meta.get("experiment") or {}
    where = f"strategy {label!r}"
    if recorded.get("trainable") is not None and recorded.get("trainable") != exp.trainable:
        raise HpotkError(f"{where} trains {exp.trainable!r} but the replay table {table.path} "
                         f"recorded {recorded.get('trainable')!r}")
    if recorded.get("data") is not None and dict(recorded.get("data") or {}) != dict(exp.data):
        raise HpotkError(f"{where} uses data {dict(exp.data)} but the replay table {table.path} "
                         f"recorded data {recorded.get('data')}: its curves are of other data")
    tuned = list(space.params)
    if set(tuned) != set(table.params):
        raise HpotkError(f"{where} tunes {sorted(tuned)} but the replay table {table.path} tuned "
                         f"{sorted(table.params)}: replay draws configs from the table, so the "
                         f"space must be the table's")
    defined = table.meta.get("params") or {}
    for name, p in space.params.items():
        old = defined.get(name)
        if not old:
            continue
        new = {"kind": p.kind, "scale": p.scale, "low": p.low, "high": p.high,
               "choices": list(p.choices) if p.choices is not None else None}
        if any(normal_value(old.get(k)) != normal_value(v) for k, v in new.items()):
            raise HpotkError(f"{where}: space.{name} is {p.describe()} but the replay table "
                             f"{table.path} sampled it from {_describe_old(old)}: replay can draw "
                             f"only the recorded configs, so the space must be the table's")
    sample = table.trials[0].config
    for name, value in space.fixed_values().items():
        if name in sample and normal_value(sample[name]) != normal_value(value):
            raise HpotkError(f"{where}: {name}={value!r} is a config the replay table "
                             f"{table.path} never ran (it ran {name}={sample[name]!r})")
    if exp.budget.max_t > table.max_t:
        raise HpotkError(f"{where}: budget.max_t={exp.budget.max_t} is beyond the replay table's "
                         f"curves ({table.path} ran every trial to max_t={table.max_t})")


def refuse(strategy: Strategy, *, surrogate: bool = False) -> None:
    """HpotkError for a scheduler or searcher replay cannot run, with the reason (``surrogate``:
    the replay has a surrogate, on which every searcher replays)."""
    if strategy.scheduler in REFUSED_SCHEDULERS:
        raise HpotkError(f"strategy {strategy.label!r}: {REFUSED_SCHEDULERS[strategy.scheduler]}")
    if surrogate:
        if strategy.space is None:
            raise HpotkError(f"strategy {strategy.label!r}: a surrogate replay needs the space "
                             f"its searcher proposes from")
        return
    if strategy.searcher in MODEL_SEARCHERS:
        raise HpotkError(
            f"strategy {strategy.label!r}: searcher {strategy.searcher!r} cannot be replayed: it "
            f"proposes new configs from a model or sequence, and the table has curves only for "
            f"the configs it recorded (a nearest recorded config would feed the model results of "
            f"configs it did not propose, so it would not be {strategy.searcher} any more). "
            f"Replay it on a surrogate of the table (a study's `surrogate: true`), replay the "
            f"scheduler with random search, or run {strategy.label} for real")
    if strategy.searcher not in TABLE_SEARCHERS:
        raise HpotkError(f"strategy {strategy.label!r}: searcher {strategy.searcher!r} cannot be "
                         f"replayed (replay draws configs with {' or '.join(TABLE_SEARCHERS)})")


class TableSearch:
    """Draws the table's configs: ``random`` without replacement, ``grid`` in grid order, or
    ``order`` given (a list of recorded trial ids, e.g. a real run's creation order)."""

    def __init__(self, table: Table, strategy: Strategy, seed: int,
                 order: Sequence[str] | None = None):
        from hpotk.options import check_options

        check_options(strategy.searcher_options, {}, "strategy.searcher")
        if order is not None:
            by_id = {t.trial_id: t for t in table.trials}
            missing = [o for o in order if o not in by_id]
            if missing:
                raise HpotkError(f"trials {missing} are not in the replay table {table.path}")
            self.queue = [by_id[o] for o in order]
        elif strategy.searcher == "grid":
            self.queue = self._grid(table, strategy)
        else:
            import numpy as np

            permutation = np.random.default_rng(seed).permutation(len(table.trials))
            self.queue = [table.trials[i] for i in permutation]
        if strategy.trials is not None:
            self.queue = self.queue[:strategy.trials]
        self.position = 0

    @staticmethod
    def _grid(table: Table, strategy: Strategy) -> list[Recorded]:
        import itertools

        from hpotk.searchers import SearchContext
        from hpotk.searchers.grid import grid_points

        if strategy.space is None:
            raise HpotkError(f"strategy {strategy.label!r}: grid replay needs the space")
        ctx = SearchContext(space=strategy.space, metric=table.metric, mode=table.mode)
        values = grid_points(ctx)
        names = list(values)
        return [table.lookup(dict(zip(names, combo, strict=True)))
                for combo in itertools.product(*(values[n] for n in names))]

    def next(self, trial_id: str = "") -> Recorded | None:
        if self.position >= len(self.queue):
            return None
        self.position += 1
        return self.queue[self.position - 1]

    @property
    def exhausted(self) -> bool:
        return self.position >= len(self.queue)


class SurrogateSearch:
    """The strategy's own searcher proposes, the surrogate answers (see the module docstring).

    Random search draws from the space (in batches, so the surrogate answers many configs at
    once); every other searcher is built by `hpotk.searchers.make` as `hpotk run` builds it, and
    hears ``on_trial_result`` / ``on_trial_complete`` from the simulator. ``queue`` is the
    trials made so far; the search is exhausted after ``strategy.trials`` of them, or when the
    searcher says it is finished.

    ``think_s`` is the wall time the searcher has spent so far (proposing and hearing results),
    measured as it runs here: in a real run Tune's driver does the same work between a result
    and the trial's next step, so the simulator charges it to the simulated clock
    (`hpotk.replay.simulation.Simulation`). Random search costs nothing there.
    """

    _BATCH = 256

    def __init__(self, surrogate: Any, strategy: Strategy, seed: int):
        from hpotk.searchers import SearchContext

        if strategy.space is None:
            raise HpotkError(f"strategy {strategy.label!r}: a surrogate replay needs the space")
        self.surrogate, self.strategy, self.seed = surrogate, strategy, seed
        self.queue: list[Recorded] = []
        self.limit = strategy.trials
        self.finished = False
        self._drawn: list[Recorded] = []
        self.fixed = dict(strategy.space.fixed_values())
        self.searcher = None
        self.think_s = 0.0
        self.used: set[int] = set()  # recorded trials whose residuals it has drawn
        if strategy.searcher != "random":
            from hpotk import searchers

            ctx = SearchContext(space=strategy.space, metric=surrogate.metric,
                                mode=surrogate.mode, seed=seed,
                                trials=strategy.trials or 1000, concurrent=strategy.concurrent)
            plan = searchers.make(strategy.searcher, ctx, dict(strategy.searcher_options))
            from ray.tune.search import Searcher

            if not isinstance(plan.search_alg, Searcher):
                raise HpotkError(f"strategy {strategy.label!r}: searcher {strategy.searcher!r} "
                                 f"is not a Ray Searcher; a surrogate replay asks a Searcher")
            self.searcher = plan.search_alg
            self.searcher.set_search_properties(surrogate.metric, surrogate.mode, {})
        else:
            from hpotk.options import check_options

            check_options(strategy.searcher_options, {}, "strategy.searcher")

    def next(self, trial_id: str = "") -> Recorded | None:
        """The next trial, or None: none now (the searcher waits) or none left (`exhausted`)."""
        if self.exhausted:
            return None
        if self.searcher is None:
            if not self._drawn:
                self._drawn = self._draw(self._BATCH)
            recorded = self._drawn.pop(0)
        else:
            from ray.tune.search import Searcher

            started = time.perf_counter()
            config = self.searcher.suggest(trial_id)
            self.think_s += time.perf_counter() - started
            if config is None:
                return None
            if config == Searcher.FINISHED:
                self.finished = True
                return None
            recorded = self.surrogate.curve({**self.fixed, **config}, self.seed, self.used)
        self.queue.append(recorded)
        return recorded

    def _draw(self, n: int) -> list[Recorded]:
        import numpy as np

        from hpotk.space.sampling import draw

        rng = np.random.default_rng([self.seed, len(self.queue)])
        columns = {}
        for name, p in self.strategy.space.params.items():
            if p.choices is not None:
                columns[name] = [p.choices[i] for i in rng.integers(0, len(p.choices), n)]
            else:
                columns[name] = [p.cast(v) for v in draw(p, rng, n)]
        configs = [{**self.fixed, **{name: values[i] for name, values in columns.items()}}
                   for i in range(n)]
        return self.surrogate.curves(configs, self.seed, self.used)

    def on_result(self, trial_id: str, result: dict[str, Any]) -> None:
        if self.searcher is not None:
            started = time.perf_counter()
            self.searcher.on_trial_result(trial_id, result)
            self.think_s += time.perf_counter() - started

    def on_complete(self, trial_id: str, result: dict[str, Any] | None) -> None:
        if self.searcher is not None:
            started = time.perf_counter()
            self.searcher.on_trial_complete(trial_id, result)
            self.think_s += time.perf_counter() - started

    @property
    def exhausted(self) -> bool:
        return self.finished or (self.limit is not None and len(self.queue) >= self.limit)


def _describe_old(p: Mapping[str, Any]) -> str:
    if p.get("choices"):
        return f"choice({p['choices']})"
    return f"{p.get('scale')} {p.get('kind')} [{p.get('low')}, {p.get('high')}]"
