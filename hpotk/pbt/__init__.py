"""Learning-rate schedules found by Population Based Training (`hpotk schedule`).

- `lineage`: a trial's history stitched across its exploits (from ``pbt_lineage.jsonl``);
- `fits`, `fits_rising`: the schedules fitted to the lr a lineage followed, best by BIC;
- `analysis`: a lineage and its fits, as text, ``schedule.json`` and a TensorBoard run;
- `retrain`: ``retrain.yaml`` trained with the fitted schedule (`hpotk.summary` asks for it);
- `check`: ``--check``, retraining from scratch with the fit, the lineage and a constant lr;
- `command`: the ``hpotk schedule`` command.

The runtime spec that trainables follow stays in `hpotk.lr_schedule`; the figure is
`hpotk.reporting.pbt_schedule`. This ``__init__`` imports nothing, so `hpotk.summary`'s lazy
import of `hpotk.pbt.retrain` pulls in neither Ray nor `hpotk.runner`.
"""
