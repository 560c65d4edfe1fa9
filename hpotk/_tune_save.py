"""A journal of the trials Tune creates, so that Tune's experiment state need not be saved at
every trial event (imports Ray: import this lazily).

Tune saves ``experiment_state-*.json`` (every trial, ~10 kB each) and the searcher's state every
``TUNE_GLOBAL_CHECKPOINT_S`` (by default ``auto``: at least 10 s apart, and 19 times as long as
the last save took). Saving it at every trial start and end instead, as hpotk once did, costs
O(trials) per save and O(trials²) per experiment (plus Tune's copy of every trial's files at
each save): 0.5 s per trial at 1,000 trials. Tune's own period is kept, and between two of its
saves `TrialJournal` keeps, in O(1) per trial:

- ``tune-trials.jsonl``: one line per trial Tune creates, appended at the end of the loop step
  that created it (before it can report, let alone end): the trial's own saved form
  (``Trial.get_json_state``, what Tune writes into its state file) and its position in the
  driver's trial list;
- ``.hpotk-tune-state/searcher-snapshot.pkl``: the search algorithm's saved files right after
  those trials were created, with the number of trials they cover (atomically replaced);
- ``.hpotk-tune-state/``: a copy of Tune's state files after each of Tune's own saves, taken
  from its staging directory (complete there), for when a kill cuts a write in the results
  directory short.

On resume, `hpotk.recovery.keep_finished` adds to Tune's last saved state the trials created
since (those the snapshot covers), puts the snapshot's searcher files in place, and marks every
trial ``finished.jsonl`` says ended as ended: a completed trial is neither lost nor run again,
and one created since the save but not ended runs again from its start under its own id.

Ray 2.60 gives callbacks no handle on the controller: `setup` (which the controller calls) finds
it on the call stack (`hpotk._ray_fixes.find_controller`) and reads `CONTROLLER_PARTS` of it. If
it cannot find one or a part is missing, it warns once per process and only Tune's own saves
apply.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ray.tune import Callback

from hpotk.recovery import BACKUP_DIR, SNAPSHOT, TRIAL_JOURNAL, TUNE_STATE_PATTERNS

#: what the journal reads of Ray 2.60's TuneController (tests/canary pins each)
CONTROLLER_PARTS = ("_trials", "_checkpoint_manager._last_save_time", "_session_str",
                    "_search_alg.save_to_dir", "_storage.experiment_driver_staging_path")


class TrialJournal(Callback):
    """Journals each trial Tune creates and the searcher state with it; backs up Tune's saves.

    Args:
        results_dir: the experiment's results directory.
    """

    def __init__(self, results_dir: str | None = None) -> None:
        self.results_dir = results_dir
        self._controller: Any = None
        self._count = 0  # trials of the controller's list journaled (or restored)
        self._last_save: float | None = None

    def setup(self, **info: Any) -> None:
        from hpotk._ray_fixes import reach_controller

        self._controller = reach_controller(
            "trial-journal", CONTROLLER_PARTS, "cannot journal trials between Tune's state "
            "saves, so a driver killed between two saves may run trials that ended since again",
            "hpotk/_tune_save.py")
        if self._controller is None:
            return
        controller = self._live()
        # restored trials are in the state file this run resumed from
        self._count = len(controller._trials)
        self._last_save = controller._checkpoint_manager._last_save_time

    def _live(self) -> Any:
        return self._controller() if self._controller is not None else None

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        controller = self._live()
        if controller is None or not self.results_dir:
            return
        if len(trials) > self._count:
            self._journal(controller, trials[self._count:])
            self._count = len(trials)
        saved = controller._checkpoint_manager._last_save_time
        if saved != self._last_save:  # Tune saved its state in this step
            self._last_save = saved
            self.back_up(controller)

    def _journal(self, controller: Any, new: list) -> None:
        session = controller._session_str
        lines = []
        for index, trial in enumerate(new, start=self._count):
            state, metadata = trial.get_json_state()  # cached by the trial; Tune reuses it
            lines.append(json.dumps({"session": session, "index": index,
                                     "trial_id": trial.trial_id, "state": state,
                                     "metadata": metadata}) + "\n")
        with open(Path(self.results_dir) / TRIAL_JOURNAL, "a") as f:
            f.write("".join(lines))
        # the searcher's state now covers exactly the trials journaled
        write_snapshot(Path(self.results_dir), controller._search_alg, session,
                       self._count + len(new))

    def back_up(self, controller: Any) -> None:
        """Copy the state files Tune just wrote in its staging directory (whole there: the
        copies in the results directory are written in place by a background sync)."""
        staging = Path(controller._storage.experiment_driver_staging_path)
        backup = Path(self.results_dir) / BACKUP_DIR
        backup.mkdir(exist_ok=True)
        for pattern in TUNE_STATE_PATTERNS:
            for path in staging.glob(pattern):
                tmp = backup / f".{path.name}.tmp"
                shutil.copyfile(path, tmp)
                tmp.replace(backup / path.name)

    def __getstate__(self) -> dict[str, Any]:  # Tune pickles callbacks with the run config
        return {"results_dir": self.results_dir, "_controller": None, "_count": 0,
                "_last_save": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # also unpickles the SaveOnTrialEvents of an older tuner.pkl
        self.__dict__.update({"_controller": None, "_count": 0, "_last_save": None,
                              "results_dir": state.get("results_dir")})


#: the name an older tuner.pkl holds (a resume replaces the restored callbacks with new ones)
SaveOnTrialEvents = TrialJournal


def write_snapshot(results_dir: Path, search_alg: Any, session: str, covers: int) -> None:
    """Save ``search_alg``'s files (as Tune names them for ``session``) into one atomically
    replaced snapshot, with the number of the driver's trials they cover."""
    backup = results_dir / BACKUP_DIR
    backup.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=backup, prefix=".snapshot-") as tmp:
        if search_alg.save_to_dir(tmp, session_str=session) is False:
            return  # a searcher Tune does not save (lazily evaluated spaces): nothing to keep
        files = {p.name: p.read_bytes() for p in Path(tmp).iterdir()
                 if p.is_file() and not p.name.startswith("tmp-")}
    data = pickle.dumps({"session": session, "covers": covers, "files": files})
    part = backup / f".{SNAPSHOT}.{os.getpid()}.tmp"
    part.write_bytes(data)
    part.replace(backup / SNAPSHOT)
