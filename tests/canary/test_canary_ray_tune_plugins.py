"""Canaries for what hpotk's schedulers, searchers and sampler borrow from Ray Tune's own: PBT
and HyperBand internals (`hpotk.schedulers.pbt`, `hpotk.schedulers.hyperband`), the
controller's handling of a population (`hpotk.schedulers.population`), the searcher and
scheduler protocol (`hpotk.searchers.base`, `hpotk.recovery.complete_after_restore`,
`hpotk.testing._schedule_harness`) and Ray's sampler RNG (`hpotk.space.ray_sampler`). No test
here starts Ray."""

from __future__ import annotations

import inspect
import pickle
import random

import pytest

from tests.canary._tune import controller, moved, stub_trial


def params(owner, name: str) -> tuple[str, ...]:
    """The parameter names of ``owner.name`` (unwrapped from hpotk's patch); () if it is gone."""
    function = getattr(owner, name, None)
    if function is None:
        return ()
    return tuple(inspect.signature(getattr(function, "__wrapped__", function)).parameters)


# --- hpotk.schedulers.pbt ------------------------------------------------------------------

LINEAGE = ("pbt_lineage.jsonl (every exploit with its operations, iterations and scores) and "
           "PBT's seeded decisions (hpotk/schedulers/pbt.py PBT)")


@pytest.fixture
def pbt_pair(tmp_path, monkeypatch):
    from ray.tune.schedulers import PopulationBasedTraining
    from ray.tune.search import BasicVariantGenerator

    monkeypatch.setenv("TUNE_MAX_PENDING_TRIALS_PG", "1")  # else Tune asks the cluster
    tc = controller(tmp_path, search_alg=BasicVariantGenerator())

    pbt = PopulationBasedTraining(time_attr="training_iteration", metric="loss", mode="min",
                                  perturbation_interval=1, resample_probability=0.5,
                                  hyperparam_mutations={"lr": [0.1, 0.2, 0.3, 0.4]})
    trials = [stub_trial(f"t{i}", tc._storage, lr=0.2) for i in range(2)]
    for trial in trials:
        pbt.on_trial_add(tc._wrapped(), trial)
    return pbt, trials


def test_canary_pbt_get_new_config(pbt_pair):
    from ray.tune.schedulers import PopulationBasedTraining

    pbt, (trial, donor) = pbt_pair
    assert params(PopulationBasedTraining, "_get_new_config") == ("self", "trial",
                                                               "trial_to_clone"), moved(
        "PopulationBasedTraining._get_new_config(self, trial, trial_to_clone)", LINEAGE,
        "ray/tune/schedulers/pbt.py")
    out = pbt._get_new_config(trial, donor)
    assert isinstance(out, tuple) and len(out) == 2 and all(isinstance(x, dict) for x in out) \
        and "lr" in out[0] and "lr" in out[1], moved(
            "_get_new_config returning (new_config, operations)", LINEAGE, "pbt.py")


def test_canary_pbt_exploit(pbt_pair):
    from ray.tune.schedulers import PopulationBasedTraining

    assert params(PopulationBasedTraining, "_exploit") == ("self", "tune_controller", "trial",
                                                        "trial_to_clone"), moved(
        "PopulationBasedTraining._exploit(self, tune_controller, trial, trial_to_clone)",
        LINEAGE, "ray/tune/schedulers/pbt.py")
    exploit = getattr(PopulationBasedTraining, "_exploit", None)
    assert exploit and "self._get_new_config(" in inspect.getsource(exploit), \
        moved("_exploit calling self._get_new_config (hpotk reads its operations there)",
              LINEAGE, "pbt.py")


def test_canary_pbt_trial_state_and_settings(pbt_pair):
    pbt, (trial, _) = pbt_pair
    state = getattr(pbt, "_trial_state", {}).get(trial)
    assert state is not None and all(hasattr(state, a) for a in (
        "last_score", "last_result", "last_train_time")), moved(
        "PopulationBasedTraining._trial_state[trial].last_score / last_result / "
        "last_train_time", LINEAGE, "pbt.py _PBTTrialState")
    assert list(getattr(pbt, "_hyperparam_mutations", {})) == ["lr"], moved(
        "PopulationBasedTraining._hyperparam_mutations", LINEAGE, "pbt.py")
    assert getattr(pbt, "_time_attr", None) == "training_iteration", moved(
        "PopulationBasedTraining._time_attr", LINEAGE, "pbt.py")


def test_canary_pbt_draws_from_the_global_random(pbt_pair):
    """hpotk seeds PBT by swapping the global ``random`` state in around its calls."""
    pbt, (trial, donor) = pbt_pair
    draws = []
    for _ in range(2):
        random.seed(1234)
        configs = [pbt._get_new_config(trial, donor)[0]["lr"] for _ in range(8)]
        draws.append((configs, random.random()))
    assert draws[0] == draws[1], moved(
        "PBT's explore drawing from the global random module (same seed, same draws)",
        "PBT decisions reproducible from the experiment seed (hpotk/schedulers/pbt.py "
        "PBT._own_rng)", "ray/tune/schedulers/pbt.py _explore")
    random.seed(1234)
    untouched = random.random()
    assert draws[0][1] != untouched, moved(
        "PBT's explore drawing from the global random module (it consumed none)",
        "PBT decisions reproducible from the experiment seed (PBT._own_rng)", "pbt.py")


def test_canary_checkpoint_manager_config(tmp_path):
    import dataclasses

    trial = stub_trial("t0", controller(tmp_path)._storage)
    manager = trial.run_metadata.checkpoint_manager
    assert hasattr(manager, "_checkpoint_config"), moved(
        "_CheckpointManager._checkpoint_config", "PBT keeps every checkpoint its exploits "
        "load (hpotk/schedulers/pbt.py PBT.on_trial_add)",
        "ray/train/_internal/checkpoint_manager.py")
    manager._checkpoint_config = dataclasses.replace(manager.checkpoint_config, num_to_keep=None)
    assert manager.checkpoint_config.num_to_keep is None, moved(
        "_CheckpointManager.checkpoint_config reading _checkpoint_config", "PBT keeps every "
        "checkpoint its exploits load", "checkpoint_manager.py")


def test_canary_storage_paths_of_the_lineage():
    from ray.train._internal.storage import StorageContext

    for name in ("storage_filesystem", "experiment_fs_path"):
        assert hasattr(StorageContext, name) or name in inspect.getsource(
            StorageContext.__init__), moved(f"StorageContext.{name}", "pbt_lineage.jsonl in "
                                            "the results directory (PBT.log_file)",
                                            "ray/train/_internal/storage.py")


# --- hpotk.schedulers.hyperband ----------------------------------------------------------------

def test_canary_hyperband_lambdas_and_their_inputs():
    from ray.tune.schedulers import HyperBandScheduler

    from hpotk.schedulers.hyperband import HyperBand

    feature = ("the hyperband scheduler pickles into tuner.pkl and resumes "
               "(hpotk/schedulers/hyperband.py HyperBand.__getstate__/__setstate__)")
    ray_own = HyperBandScheduler(time_attr="training_iteration", max_t=27, reduction_factor=3,
                                 metric="loss", mode="min")
    names = ("_get_n0", "_get_r0", "_s_max_1", "_eta", "_max_t_attr")
    missing = [n for n in names if not hasattr(ray_own, n)]
    assert not missing, moved(f"HyperBandScheduler.{', '.join(missing)}", feature,
                              "ray/tune/schedulers/hyperband.py")
    ours = pickle.loads(pickle.dumps(HyperBand(time_attr="training_iteration", max_t=27,
                                               reduction_factor=3, metric="loss",
                                               mode="min")))
    rebuilt = [(ours._get_n0(s), ours._get_r0(s)) for s in range(ray_own._s_max_1)]
    assert rebuilt == [(ray_own._get_n0(s), ray_own._get_r0(s))
                       for s in range(ray_own._s_max_1)], moved(
        "HyperBandScheduler's _get_n0/_get_r0 formulas", feature, "hyperband.py __init__")


# --- hpotk.schedulers.population ------------------------------------------------------------

POPULATION = ("a PBT or HyperBand population larger than budget.concurrent trains only "
              "'concurrent' members at a time (hpotk/schedulers/population.py)")


def _population(slots):
    from ray.tune.schedulers import FIFOScheduler

    from hpotk.schedulers.population import Population

    class Members(Population, FIFOScheduler):
        pass

    scheduler = Members()
    scheduler.slots = slots
    return scheduler


def test_canary_on_trial_add_comes_before_filing(tmp_path):
    """``TuneController.add_trial`` calls ``on_trial_add`` before it files the trial under its
    status, so a member paused there is filed PAUSED, out of the controller's pending queue."""
    from ray.tune.experiment import Trial

    tc = controller(tmp_path, scheduler=_population(1))
    trial = stub_trial("t0", tc._storage)
    tc.add_trial(trial)
    assert trial.status == Trial.PAUSED and trial in tc._paused_trials, moved(
        "TuneController.add_trial calling scheduler.on_trial_add before filing the trial",
        POPULATION, "ray/tune/execution/tune_controller.py add_trial")
    assert trial not in tc._pending_trials and trial not in tc._pending_trials_list, moved(
        "TuneController.add_trial calling scheduler.on_trial_add before filing the trial",
        POPULATION, "tune_controller.py add_trial")


def test_canary_a_paused_trial_starts_only_when_the_scheduler_chooses_it(tmp_path):
    """``_maybe_add_actors`` starts PENDING trials by itself, a PAUSED one only as the
    scheduler's ``choose_trial_to_run``."""
    from ray.tune.execution.tune_controller import TuneController
    from ray.tune.experiment import Trial

    started = []

    def record(self, trial):  # the one step that needs a cluster: starting the actor
        started.append(trial.trial_id)

    scheduler = _population(1)
    tc = controller(tmp_path, scheduler=scheduler)
    tc.__class__ = type("Recording", (TuneController,), {"_schedule_trial_actor": record})
    trials = [stub_trial(f"t{i}", tc._storage) for i in range(3)]
    for trial in trials:
        tc.add_trial(trial)
    tc._maybe_add_actors()
    where = "ray/tune/execution/tune_controller.py _maybe_add_actors"
    assert started == ["t0"] and trials[0].status == Trial.PENDING, moved(
        "TuneController._maybe_add_actors starting the trial choose_trial_to_run returns",
        POPULATION, where)
    scheduler.slots = 0  # choose_trial_to_run now answers the wrapped FIFO's None
    tc._maybe_add_actors()
    tc._maybe_add_actors()
    assert started == ["t0"] and {t.status for t in trials[1:]} == {Trial.PAUSED}, moved(
        "TuneController._maybe_add_actors leaving PAUSED trials the scheduler does not choose",
        POPULATION, where)


def test_canary_scheduler_view_of_the_controller(tmp_path):
    """What Ray's schedulers may call on the controller: the schedule harness and the replay
    simulator serve exactly these."""
    tc = controller(tmp_path)
    allowed = tc._wrapped()._runner_whitelist_attr
    served = {"search_alg", "get_trials", "get_live_trials", "pause_trial", "stop_trial",
              "_schedule_trial_save"}
    assert served <= allowed, moved(
        f"the controller methods schedulers may call ({sorted(served - allowed)} gone)",
        "the scheduler conformance suite and replay (hpotk/testing/_schedule_harness.py, "
        "hpotk/replay/)", "tune_controller.py _wrapped")
    from ray.tune.execution.tune_controller import TuneController

    assert params(TuneController, "pause_trial") == ("self", "trial", "should_checkpoint") and \
        params(TuneController, "_schedule_trial_save")[:3] == ("self", "trial", "result"), moved(
            "TuneController.pause_trial / _schedule_trial_save signatures", "the scheduler "
            "conformance suite and replay", "tune_controller.py")


# --- hpotk.searchers.base, IntervalPolicy: metric and mode ----------------------------------

def test_canary_metric_and_mode_live_in_underscored_attributes():
    from ray.tune.schedulers import FIFOScheduler
    from ray.tune.search import Searcher

    for obj, names in ((Searcher(), ("metric", "mode")), (FIFOScheduler(), ("metric",))):
        obj._metric, obj._mode = "loss", "min"
        assert [getattr(obj, n) for n in names] == ["loss", "min"][:len(names)], moved(
            f"{type(obj).__name__}.{' / .'.join(names)} reading _metric / _mode", "hpotk's "
            "searchers "
            "and the median/bandit/truncation schedulers take Tune's metric and mode "
            "(hpotk/searchers/base.py, hpotk/schedulers/early_termination.py)",
            "ray/tune/search/searcher.py, ray/tune/schedulers/trial_scheduler.py")


def test_canary_restore_reaches_the_innermost_searcher(tmp_path):
    """hpotk.recovery.complete_after_restore wraps the innermost searcher's
    ``restore_from_dir`` on the instance; Tune's restore of the wrappers must call it."""
    from ray.tune.search import ConcurrencyLimiter, Searcher, SearchGenerator

    class Inner(Searcher):
        def suggest(self, trial_id):
            return None

        def save(self, path):
            with open(path, "wb") as f:
                pickle.dump({}, f)

        def restore(self, path):
            pass

    inner = Inner(metric="loss", mode="min")
    outer = SearchGenerator(ConcurrencyLimiter(inner, max_concurrent=1))
    outer.save_to_dir(str(tmp_path), session_str="s")
    called = []
    inner.restore_from_dir = called.append
    outer.restore_from_dir(str(tmp_path))
    assert called == [str(tmp_path)], moved(
        "SearchGenerator/ConcurrencyLimiter.restore_from_dir calling the innermost searcher's "
        "restore_from_dir (found through .searcher)", "a resume tells the searcher about "
        "trials that ended after Tune's last save (hpotk/recovery.py complete_after_restore)",
        "ray/tune/search/search_generator.py, concurrency_limiter.py")


# --- hpotk.space.ray_sampler -----------------------------------------------------------------

def test_canary_backwards_compatible_numpy_rng():
    import numpy as np
    from ray.tune.search.sample import Float, _BackwardsCompatibleNumpyRng

    feature = ("Ray-side sampling of hpotk's params (random and grid search; "
               "hpotk/space/ray_sampler.py ParamSampler)")
    for seed in (None, 3, np.random.default_rng(3), np.random.RandomState(3)):
        rng = _BackwardsCompatibleNumpyRng(seed)
        values = [rng.integers(0, 5, size=2), rng.uniform(0, 1, size=2),
                  rng.normal(0, 1, size=2)]
        assert all(len(v) == 2 for v in values), moved(
            "_BackwardsCompatibleNumpyRng(seed | Generator | RandomState).integers / uniform "
            "/ normal", feature, "ray/tune/search/sample.py")
    got = []

    class Probe(Float._Uniform):
        def sample(self, domain, config=None, size=1, random_state=None):
            got.append(random_state)
            return [0.5] * size

    domain = Float(0.0, 1.0)
    domain.set_sampler(Probe())
    domain.sample(size=1, random_state=np.random.default_rng(0))
    assert got and isinstance(got[0], _BackwardsCompatibleNumpyRng), moved(
        "Domain.sample handing samplers a _BackwardsCompatibleNumpyRng as random_state",
        feature, "ray/tune/search/sample.py Domain.sample")
