"""`hpotk schedule DIR [--param lr] [--trial best|ID] [--check [--repeats R]]`: the
learning-rate schedule a PBT run found, as a torch scheduler.

1. the best (or a chosen) trial's stitched lineage and every schedule fitted to its lr, printed
   in torch's terms (`hpotk.pbt.analysis`) and written to ``schedule.json``;
2. with ``--check``: the retraining from scratch with the fitted schedule, the exact lineage
   and a constant lr (`hpotk.pbt.check`), compared with the PBT trial;
3. the two-panel figure ``schedule.png`` (`hpotk.reporting.pbt_schedule`);
4. the lineage as its own TensorBoard run (``lineage/<trial>``);
5. ``retrain.yaml`` updated to train the best config with the fitted schedule
   (`hpotk.pbt.retrain`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hpotk import layout
from hpotk.pbt import analysis as pbt_analysis
from hpotk.pbt import check, retrain


def main(args: Any, out: Any = None) -> int:
    """Run `hpotk schedule` with the parsed ``args``; print to ``out`` (default stdout)."""
    from hpotk.reporting import pbt_schedule as figure

    out = out or sys.stdout
    analysis = pbt_analysis.analyse(args.results_dir, param=args.param, trial=args.trial)
    print(pbt_analysis.describe(analysis), file=out)
    if args.check:
        check.run_checks(analysis, repeats=args.repeats, address=getattr(args, "address", None),
                         out=out)
        print("", file=out)
        print(check.check_table(analysis), file=out)
    written = [pbt_analysis.write_json(analysis),
               figure.write_png(analysis, Path(analysis.results.path) / layout.SCHEDULE_PNG,
                                check.VARIANT_LABELS),
               pbt_analysis.write_tensorboard(analysis)]
    updated = retrain.update_retrain(analysis)
    if updated is not None:
        written.append(updated)
    print(f"[hpotk] wrote {', '.join(str(p) for p in written)}", file=out)
    return 0
