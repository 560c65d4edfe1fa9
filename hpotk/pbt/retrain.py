"""A PBT run's ``retrain.yaml`` trained with the learning-rate schedule its best lineage
followed: written with the fit when the run ends (`fit_for_retrain`, called by `hpotk.summary`)
and updated by `hpotk schedule` (`update_retrain`).

`hpotk.summary` imports this module lazily: it imports neither Ray nor `hpotk.runner`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpotk import layout

if TYPE_CHECKING:
    from hpotk.pbt.analysis import Analysis


def retrain_with_schedule(doc: dict[str, Any], fit: Any, param: str = "lr") -> dict[str, Any]:
    """A retrain experiment mapping that trains with ``fit``: the param at the fit's lr0, the
    fitted ``lr_schedule`` (none for a constant)."""
    doc = dict(doc)
    space = doc.get("space")
    doc["space"] = {**(space if isinstance(space, dict) else {}), param: fit.lr0}
    doc["lr_schedule"] = None if fit.spec["type"] == "constant" else fit.spec
    return doc


def update_retrain(analysis: Analysis) -> Path | None:
    """Put the fitted schedule into ``retrain.yaml`` (only for ``lr``: lr_schedule drives the
    optimiser's lr)."""
    import yaml

    path = Path(analysis.results.path) / layout.RETRAIN_YAML
    if analysis.param != "lr" or not path.exists():
        return None
    text = path.read_text()
    header = "".join(line + "\n" for line in text.splitlines()
                     if line.startswith("#") and "PBT lineage" not in line)
    doc = yaml.safe_load(text) or {}
    doc = retrain_with_schedule(doc, analysis.best, analysis.param)
    note = (f"# The lr follows the schedule hpotk schedule fitted to trial "
            f"{analysis.lineage.trial_id}'s PBT lineage: {analysis.best.torch}\n")
    layout.atomic_write(path, header + note + yaml.safe_dump(doc, sort_keys=False))
    return path


def fit_for_retrain(exp: Any, best_row: dict[str, Any], doc: dict[str, Any]) -> str:
    """For `hpotk.summary`: when a PBT run mutated ``lr``, train retrain.yaml with the schedule
    fitted to the best trial's lineage; returns a comment line for the file ("" if none)."""
    from hpotk import results
    from hpotk.pbt import fits, lineage

    if exp.strategy.scheduler.name != "pbt" or not isinstance(doc.get("space"), dict) or \
            "lr" not in doc["space"]:
        return ""
    directory = Path(exp.results_dir)
    history = results.read_history_log(directory)
    events = layout.read_lineage_events(directory / layout.LINEAGE_LOG)
    if history is None or not len(history):
        return ""
    lin = lineage.stitch(history, events, str(best_row["trial_id"]))
    values = lin.series("config/lr")
    if len(values) < 2 or lin.iterations != list(range(1, len(values) + 1)):
        return ""
    best = fits.fit(values)[0]
    doc.update(retrain_with_schedule(doc, best))
    return (f"# The lr follows the schedule fitted to this trial's PBT lineage (hpotk "
            f"schedule): {best.torch}\n")

