"""Canaries for the hyperopt internals the tpe and anneal searchers use
(`hpotk.searchers.hyperopt_base.HyperoptSearcher`): a result is told by editing the trial's
document in ``Trials._dynamic_trials`` and refreshing."""

from __future__ import annotations

from tests.canary._tune import moved

TPE = ("the tpe and anneal searchers learn from results (hpotk/searchers/hyperopt_base.py "
       "HyperoptSearcher._observe, _propose)")


def test_canary_hyperopt_dynamic_trials_edited_then_refreshed():
    import hyperopt
    import numpy as np
    from hyperopt import JOB_STATE_DONE, STATUS_OK
    from hyperopt.base import spec_from_misc

    domain = hyperopt.Domain(lambda c: 0.0, {"x": hyperopt.hp.uniform("x", 0, 1)})
    trials = hyperopt.Trials()
    ids = trials.new_trial_ids(1)
    trials.refresh()
    docs = hyperopt.tpe.suggest(ids, domain, trials, int(np.random.default_rng(0).integers(9)))
    trials.insert_trial_docs(docs)
    trials.refresh()
    tid = docs[0]["tid"]
    assert "x" in spec_from_misc(docs[0]["misc"]), moved("hyperopt.base.spec_from_misc", TPE,
                                                         "hyperopt/base.py")
    dynamic = getattr(trials, "_dynamic_trials", None)
    assert isinstance(dynamic, list), moved("Trials._dynamic_trials (a list of documents)",
                                            TPE, "hyperopt/base.py Trials")
    doc = next((d for d in dynamic if d.get("tid") == tid), None)
    assert doc is not None and {"state", "misc", "result"} <= set(doc), moved(
        "a Trials._dynamic_trials document's tid / state / misc / result", TPE, "base.py")
    doc["state"] = JOB_STATE_DONE
    doc["result"] = {"loss": 0.25, "status": STATUS_OK}
    trials.refresh()
    assert trials.losses() == [0.25], moved(
        "Trials.refresh() taking documents edited in _dynamic_trials", TPE,
        "hyperopt/base.py Trials.refresh")
