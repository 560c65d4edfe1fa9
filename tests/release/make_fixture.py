"""Makes ``interrupted/``: a small PBT experiment interrupted halfway, with the hpotk release
given as the first argument (a source checkout), to test that today's code resumes it.

Run from the repository root, with the release's checkout first on the path:

    PYTHONPATH=/path/to/release-checkout .venv/bin/python tests/release/make_fixture.py OUT

Tune pickles hpotk's callbacks, save hook, watchdog, Ray sampler and PBT scheduler into
``tuner.pkl`` by module path; the experiment uses each of them (trial_time_s for the watchdog,
a quantised param for the sampler).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import hpotk
from hpotk import experiment, runner

HERE = Path(__file__).resolve().parent


def main(out: Path) -> None:
    print("hpotk from", hpotk.__file__, flush=True)
    doc = {
        "name": "interrupted", "trainable": "fx.py:train",
        "metric": {"name": "loss", "mode": "min"},
        "space": {"lr": {"type": "continuous", "min_value": 0.01, "max_value": 0.5,
                         "scaling": "log"},
                  "momentum": {"type": "quniform", "min_value": 0.0, "max_value": 0.9,
                               "q": 0.1, "role": "algorithm"}},
        "strategy": {"scheduler": {"name": "pbt", "perturbation_interval": 2},
                     "searcher": "random"},
        "budget": {"trials": 4, "concurrent": 2, "max_t": 6, "trial_time_s": 120},
        "results": str(out), "seed": 0,
    }
    exp = experiment.validate(doc, str(HERE / "experiment.yaml"))
    history = out / "interrupted" / "history.jsonl"

    def interrupt() -> None:  # Ctrl+C once 8 results are in: an interrupted experiment
        while True:
            try:
                results = [json.loads(x) for x in history.read_text().splitlines()]
            except (OSError, ValueError):
                results = []
            if sum(r.get("event") == "result" for r in results) >= 8:
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.1)

    threading.Thread(target=interrupt, daemon=True).start()
    outcome = runner.run(exp, verbose=0)
    print("status:", outcome.status, flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
