"""The `hpotk` command. Heavy imports (Ray, torch, pydantic) happen inside the subcommands, so
``hpotk --help`` answers instantly."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hpotk import layout

EXIT_USAGE = 2


def _add_experiment_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("experiment", help="experiment file (YAML/JSON) or a Neptune "
                                      "model-HPO-configuration.json")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key by dotted path, e.g. --set budget.trials=8 "
                        "--set strategy=asha/random (repeatable)")
    p.add_argument("--trials", type=int, metavar="N",
                   help="budget.trials (Neptune's maxHPONumberOfTrainingJobs)")
    p.add_argument("--parallel", type=int, metavar="N",
                   help="budget.concurrent (Neptune's maxHPOParallelTrainingJobs)")
    p.add_argument("--data", metavar="DATA",
                   help="the data: a dataset name, a file path, or key=value,... (these "
                        "change parameters of the experiment's dataset)")


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (exit 2) like every other input error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"hpotk: error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hpotk",
        description="Hyperparameter optimisation on Ray Tune, from one experiment file.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="run an experiment (resumes it if it was interrupted)")
    _add_experiment_args(p)
    p.add_argument("--address", help="Ray cluster to use (default: $RAY_ADDRESS, else an "
                                     "embedded local Ray)")
    p.add_argument("--new", action="store_true",
                   help="if the experiment is complete, run it again as <name>-<timestamp>")
    p.add_argument("--exist-ok", action="store_true",
                   help="if the experiment is complete, print its best trial instead of refusing")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="Ray Tune's own status tables as well (-vv: every result)")

    p = sub.add_parser("plan", help="show the resolved space, scheduler plan and resources; "
                                    "runs nothing")
    _add_experiment_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("resume", help="resume an interrupted experiment from its results dir")
    p.add_argument("results_dir")
    p.add_argument("--address")

    p = sub.add_parser("best", help="print the best trial of a results directory")
    p.add_argument("results_dir")
    p.add_argument("--json", action="store_true", help="print best.json as it is")
    p.add_argument("--pick", metavar="OBJ=W,...",
                   help="several objectives: choose the Pareto-front trial with the largest "
                        "weighted sum of objectives scaled to [0, 1] over the front (e.g. "
                        "val_mae=1,epoch_s=0.3) and rewrite retrain.yaml for it")
    p.add_argument("--trial", metavar="ID", help="choose this trial for retrain.yaml")

    p = sub.add_parser("report", help="figures (PNG) and an offline HTML page of a results "
                                      "or study directory, finished or still running")
    p.add_argument("results_dir")
    p.add_argument("--out", metavar="DIR", help="where to write them [RESULTS_DIR/report]")
    p.add_argument("--open", action="store_true", help="open the page in a web browser")
    p.add_argument("--watch", nargs="?", type=float, const=60.0, metavar="SECONDS",
                   help="while the experiment runs, rewrite the report every SECONDS [60] (the "
                        "page reloads itself); stops when it ends")

    p = sub.add_parser("status", help="the one-line progress of an experiment from its results "
                                      "directory (running, complete or interrupted)")
    p.add_argument("results_dir")
    p.add_argument("--watch", nargs="?", type=float, const=10.0, metavar="SECONDS",
                   help="print it again every SECONDS [10] until the experiment ends")

    p = sub.add_parser("submit", help="run an experiment on a Ray cluster of Slurm nodes "
                                      "(renders slurm/submit.sbatch and calls sbatch)")
    p.add_argument("experiment")
    p.add_argument("--nodes", type=int, default=1, help="nodes (Ray head + workers) [1]")
    p.add_argument("--gpus-per-node", type=int, default=0, help="GPUs per node [0]")
    p.add_argument("--time", default="01:00:00", help="wall time HH:MM:SS or D-HH:MM:SS "
                                                      "[01:00:00]; the job requeues and resumes")
    p.add_argument("--partition")
    p.add_argument("--account")
    p.add_argument("--cpus-per-task", metavar="N|all", default="all",
                   help="CPUs per node for Ray [all: every CPU of the partition's smallest node, "
                        "from sinfo; --exclusive if sinfo cannot tell]")
    p.add_argument("--constraint", help="node features, e.g. gpu (NERSC: -C gpu)")
    p.add_argument("--qos", help="quality of service, e.g. regular, debug")
    p.add_argument("--mem", help="memory per node, e.g. 64G (0: all of it)")
    p.add_argument("--exclusive", action="store_true", help="whole nodes, shared with no job")
    p.add_argument("--sbatch", action="append", default=[], metavar="OPTION",
                   help="any other sbatch option, as it is: --sbatch=--reservation=x "
                        "(repeatable)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the batch script(s), submit nothing")
    p.add_argument("--elastic", type=int, metavar="N",
                   help="a one-node head job (Ray's head, the driver, trials) and an array of N "
                        "one-node worker jobs that join it as Slurm starts them and leave at "
                        "their own wall time (slurm/README.md)")
    p.add_argument("--worker-time", metavar="HH:MM:SS",
                   help="wall time of each elastic worker job [--time]")
    p.epilog = ("More `hpotk run` arguments go after --, e.g. -- --set budget.trials=64. A study "
                "file is submitted as a job array, one element per run (same nodes, GPUs and "
                "time each); arguments after -- then go to `hpotk study`.")

    p = sub.add_parser("cancel", help="cancel every Slurm job of an experiment (its head and "
                                      "all its worker jobs)")
    p.add_argument("results_dir", help="the experiment's results directory (results/<name>)")

    p = sub.add_parser("study", help="compare tuning strategies at equal time (a time-to-solution "
                                     "study): run every strategy x repeat, then aggregate")
    p.add_argument("study", help="study file (YAML/JSON with a `strategies` key)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of the study file, e.g. --set repeats=1 (repeatable)")
    p.add_argument("--report-only", action="store_true",
                   help="run nothing: aggregate the runs that are complete")
    p.add_argument("--replay", metavar="TABLE",
                   help="run nothing for real: replay every strategy in simulated time on the "
                        "learning curves of TABLE, a run whose trials all reached max_t or a "
                        "table archive (the study file's `replay:`); outputs in "
                        "results/<study>/replay/")
    p.add_argument("--element", type=int, metavar="I",
                   help="run only run I (0-based, as `hpotk plan` lists them; a job-array "
                        "element of `hpotk submit STUDY`)")
    p.add_argument("--address", help="Ray cluster to use (default: $RAY_ADDRESS, else an "
                                     "embedded local Ray)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="Ray Tune's own status tables as well")

    p = sub.add_parser("schedule", help="fit a torch lr scheduler to the best PBT trial's "
                                        "lineage (schedule.json, schedule.png); --check retrains")
    p.add_argument("results_dir")
    p.add_argument("--param", default="lr", help="the mutated param to follow [lr]")
    p.add_argument("--trial", default="best", help="'best' or a trial id [best]")
    p.add_argument("--check", action="store_true",
                   help="retrain from scratch with the fitted schedule, the exact lineage and a "
                        "constant lr, and compare them with the PBT trial")
    p.add_argument("--repeats", type=int, default=3, help="seeds per --check variant [3]")
    p.add_argument("--address", help="Ray cluster for --check (default: $RAY_ADDRESS, else an "
                                     "embedded local Ray)")

    p = sub.add_parser("replay", help="replay tables: check a table's surrogate, pack a table")
    replay_sub = p.add_subparsers(dest="replay_command", metavar="{check,pack}")
    q = replay_sub.add_parser("check", help="fit the surrogate of a table and print its "
                                            "held-out errors")
    q.add_argument("table", help="a results directory whose trials all reached max_t, or a "
                                 "table archive (.tar.gz)")
    q.add_argument("--metric", action="append", default=[], metavar="NAME",
                   help="also model this metric (e.g. test_mae; repeatable)")
    q = replay_sub.add_parser("pack", help="write a table archive (.tar.gz) of a complete run, "
                                           "with its provenance")
    q.add_argument("results_dir")
    q.add_argument("archive", help="the .tar.gz to write")
    q.add_argument("--note", default="", help="a line of provenance (e.g. the machine's GPUs)")

    p = sub.add_parser("data", help="build a dataset ahead of time and print what it cost")
    p.add_argument("name", help="dataset name, e.g. emt-adsorption")
    p.add_argument("params", nargs="*", metavar="KEY=VALUE", help="dataset parameters")
    p.add_argument("--size", type=int, help="number of samples (structures, nodes...)")
    p.add_argument("--seed", type=int)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["data"]:  # KEY=VALUE pairs may come before or after --size / --seed
        data_parser = parser._subparsers._group_actions[0].choices["data"]
        args = data_parser.parse_intermixed_args(argv[1:],
                                                 namespace=argparse.Namespace(command="data"))
    elif argv[:1] == ["submit"] and "--" in argv:  # what follows -- is for `hpotk run`
        cut = argv.index("--")
        args = parser.parse_args(argv[:cut])
        args.run_args = argv[cut + 1:]
    else:
        args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    from hpotk.errors import HpotkError

    handlers = {"run": cmd_run, "plan": cmd_plan, "resume": cmd_resume, "best": cmd_best,
                "data": cmd_data, "submit": cmd_submit, "study": cmd_study, "replay": cmd_replay,
                "report": cmd_report, "cancel": cmd_cancel, "status": cmd_status}
    handlers["schedule"] = cmd_schedule
    try:
        return handlers[args.command](args)
    except HpotkError as exc:
        print(f"hpotk: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("hpotk: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `hpotk best DIR | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return 0
    except OSError as exc:
        import errno

        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        print(f"hpotk: error: the disk is full (writing {exc.filename or '?'}): free some "
              f"space, then run the same command again", file=sys.stderr)
        return EXIT_USAGE


def _parse_data(text: str) -> Any:
    """``--data``: a name, a path (``{path: ...}``), or ``key=value,...``."""
    import yaml

    if "=" in text:
        out = {}
        for item in text.split(","):
            key, _, value = item.partition("=")
            out[key.strip()] = yaml.safe_load(value)
        if isinstance(out.get("path"), str):  # trials run elsewhere: from the current directory
            out["path"] = str(Path(out["path"]).expanduser().resolve())
        return out
    if Path(text).exists() or "/" in text or Path(text).suffix:
        return {"path": str(Path(text).resolve())}
    return {"name": text}


def _load(args: argparse.Namespace) -> Any:
    from hpotk import experiment

    extra: dict[str, Any] = {}
    if args.trials is not None:
        extra["budget.trials"] = args.trials
    if args.parallel is not None:
        extra["budget.concurrent"] = args.parallel
    if args.data is not None:
        data = _parse_data(args.data)
        if "name" in data or "path" in data:
            extra["data"] = data  # another dataset: replaces the file's data mapping
        else:
            extra.update({f"data.{k}": v for k, v in data.items()})  # same dataset, new params
    return experiment.load(args.experiment, args.overrides, extra)


def cmd_run(args: argparse.Namespace) -> int:
    from hpotk import plan as planning
    from hpotk import runner

    exp = _load(args)
    plan = planning.make_plan(exp)  # validates space and strategy before Ray starts
    verbose = 0 if args.quiet else 1 + args.verbose
    if verbose:
        _print_plan_short(plan)
    outcome = runner.run(exp, address=args.address, new=args.new, exist_ok=args.exist_ok,
                         verbose=verbose, plan=plan)
    return _report_outcome(outcome)


def cmd_resume(args: argparse.Namespace) -> int:
    from hpotk import experiment, runner
    from hpotk.errors import HpotkError

    results_dir = Path(args.results_dir)
    saved = results_dir / layout.EXPERIMENT
    if not saved.exists():
        raise HpotkError(f"{results_dir} holds no hpotk experiment (no experiment.json)")
    doc = layout.read_json_object(saved)
    if doc is None:
        raise HpotkError(f"{saved} is not a readable experiment (cut short?); run the experiment "
                         f"file again instead")
    doc["results"] = str(results_dir.resolve().parent)
    doc["name"] = results_dir.resolve().name
    state = runner.read_state(results_dir) or {}
    exp = experiment.validate(doc, state.get("source"))
    outcome = runner.run(exp, address=args.address, exist_ok=True)
    return _report_outcome(outcome)


def _report_outcome(outcome: Any) -> int:
    if outcome.status == "failed":
        why = getattr(outcome, "reason", "") or "it was stopped at a trial error (fail_fast)"
        first = f"; the first error: {outcome.error}" if outcome.error else ""
        print(f"[hpotk] failed: {why}{first}\n"
              f"[hpotk] results so far: {outcome.results_dir}; after fixing the cause, run "
              f"again with --new", file=sys.stderr)
        return 2 if getattr(outcome, "bad_config", False) else 1
    if outcome.status == "interrupted":
        unfinished = [r["trial_id"] for r in outcome.rows or [] if r.get("status") == "UNFINISHED"]
        which = (f" ({len(unfinished)} unfinished: {', '.join(unfinished[:5])}"
                 f"{', ...' if len(unfinished) > 5 else ''})" if unfinished else "")
        print(f"[hpotk] interrupted after {outcome.n_trials} trial(s){which}; the state is saved. "
              f"Run the same command again to resume ({outcome.results_dir}).")
        return 1
    if outcome.best is None:
        print(f"[hpotk] no trial reported the objective; see {outcome.results_dir / layout.TRIALS_CSV}",
              file=sys.stderr)
        return 1
    _print_best(outcome.best)
    print(f"[hpotk] results: {outcome.results_dir}  (trials.csv, best.json; "
          f"tensorboard --logdir {outcome.results_dir})")
    return 0


def _print_plan_short(plan: Any) -> None:
    exp = plan.experiment
    tuned = ", ".join(plan.space.params) or "(none)"
    print(f"[hpotk] {exp.name}: {exp.strategy.label}, {plan.expected_trials} trials "
          f"({exp.budget.concurrent} at a time), tuning {tuned}", flush=True)
    for warning in plan.scheduler_info.get("warnings", []) or []:
        print(f"[hpotk] warning: {warning}", file=sys.stderr, flush=True)


def _print_best(best: dict[str, Any]) -> None:
    if best.get("front") is not None:  # several objectives: the front, then the chosen one
        _print_front(best)
    elif best.get("value") is not None:
        print(f"[hpotk] best trial {best['trial_id']}: {best['metric']} = {best['value']:.6g} "
              f"({best['mode']}) after {best['iterations']} iterations")
    if best.get("constraints"):
        print(f"[hpotk] constraints: {'; '.join(best['constraints'])} "
              f"({best.get('infeasible_trials', 0)} trial(s) infeasible)")
    width = max((len(k) for k in best["config"]), default=0)
    for key, value in best["config"].items():
        print(f"    {key:<{width}} = {value!r}")
    print(f"[hpotk] retrain it: {best['retrain']}")


def _print_front(best: dict[str, Any]) -> None:
    names = [o["name"] for o in best["objectives"]]
    modes = {o["name"]: o["mode"] for o in best["objectives"]}
    print(f"[hpotk] Pareto front: {len(best['front'])} trial(s) of {best.get('n_trials')}, "
          f"objectives " + ", ".join(f"{n} ({modes[n]})" for n in names))
    width = max([len("trial")] + [len(str(f["trial_id"])) for f in best["front"]])
    print("    " + f"{'trial':<{width}}  " + "  ".join(f"{n:>12}" for n in names))
    for member in best["front"]:
        mark = "*" if member["trial_id"] == best["trial_id"] else " "
        cells = "  ".join(f"{_fmt(member['values'].get(n)):>12}" for n in names)
        print(f"  {mark} {str(member['trial_id']):<{width}}  {cells}")
    chosen = best.get("chosen") or {}
    print(f"[hpotk] chosen (*) for retrain.yaml: {best['trial_id']} ({chosen.get('how', '')}); "
          f"another: hpotk best DIR --pick {names[0]}=1,{names[-1]}=0.5 or --trial ID")


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.6g}"


def cmd_plan(args: argparse.Namespace) -> int:
    from hpotk import plan as planning
    from hpotk.study import is_study_file

    if is_study_file(args.experiment):  # a study file: its runs and total time
        return _plan_study(args)
    plan = planning.make_plan(_load(args))
    if args.json:
        print(json.dumps(plan.describe(), indent=2, default=str))
        return 0
    print(plan.text())
    return 0


def cmd_best(args: argparse.Namespace) -> int:
    from hpotk import results

    path = Path(args.results_dir)
    if path.is_file() and path.name == layout.BEST_JSON:
        path = path.parent
    res = results.load(path)
    best_file = path / layout.BEST_JSON
    if args.pick is not None or args.trial is not None:
        if res.status == "running":
            print(f"[hpotk] {res.name} is still running: choose a trial when it has ended",
                  file=sys.stderr)
            return 2
        from hpotk.summary import repick

        best = repick(path, pick=args.pick, trial=args.trial)
        if args.json:
            print(json.dumps(best, indent=2, default=str))
        else:
            _print_best(best)
        return 0
    if res.status != "running" and best_file.exists():
        best = layout.read_json_object(best_file)
    else:  # a running experiment: the best trial so far, from the live logs
        best = _best_so_far(res)
    if best is None:
        print(f"[hpotk] no trial of {path} has reported {res.metric} yet "
              f"({res.freshness.describe()})")
        return 1
    if args.json:
        print(json.dumps(best, indent=2, default=str))
    else:
        if res.status == "running":
            print(f"[hpotk] {res.name} is still running: the best trial so far "
                  f"({res.freshness.describe()})")
        _print_best(best)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from hpotk.reporting import write_report

    if args.watch is not None:
        return _watch_report(args)
    files = write_report(args.results_dir, args.out)
    print(f"[hpotk] report: {files.index}")
    if files.pngs:
        print(f"[hpotk] figures: {', '.join(p.name for p in files.pngs)} in "
              f"{files.pngs[0].parent}")
    if args.open:
        import webbrowser

        webbrowser.open(files.index.resolve().as_uri())
    return 0


def _watch_report(args: argparse.Namespace) -> int:
    import webbrowser

    from hpotk.reporting import live

    opener = ((lambda files: webbrowser.open(files.index.resolve().as_uri())) if args.open
              else None)
    live.watch_report(args.results_dir, args.out, args.watch,
                      say=lambda text: print(text, flush=True), on_first=opener)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from hpotk.reporting import live

    if args.watch is not None:
        return live.watch_status(args.results_dir, args.watch)
    print(live.status_text(args.results_dir))
    return 0


def _best_so_far(res: Any) -> dict[str, Any] | None:
    row = res.best()
    if row is None:
        return None
    return {
        "name": res.name, "metric": res.metric, "mode": res.mode,
        "value": row[f"best_{res.metric}"], "final_value": row.get(res.metric),
        "trial_id": row["trial_id"], "iterations": row.get("iterations", 0),
        "config": {k[len("config/"):]: v for k, v in row.items() if k.startswith("config/")},
        "retrain": "(when the experiment ends: hpotk run <results>/retrain.yaml)",
        "n_trials": len(res.trials),
    }


def cmd_submit(args: argparse.Namespace) -> int:
    from hpotk import plan as planning
    from hpotk import slurm
    from hpotk.errors import HpotkError
    from hpotk.study import is_study_file, load_study

    run_args = list(getattr(args, "run_args", []))
    # validate the experiment (and the run arguments) here, not after a wait in the queue
    elements = None
    if is_study_file(args.experiment):  # a job array: one element per run of the study
        study_ns = build_parser().parse_args(["study", args.experiment, *run_args])
        study = load_study(args.experiment, study_ns.overrides)
        for run in study.runs:
            planning.make_plan(run.experiment)
        # one element per run that runs for real (`hpotk study --element i`): a hybrid study's
        # replayed strategies run only their `validate` repeats
        elements = len(study.real_runs)
        if not elements:
            raise HpotkError(f"{args.experiment}: the study replays on "
                             f"{study.table_source} in simulated time and runs nothing for "
                             f"real; run `hpotk study {args.experiment}` where you are "
                             f"instead of submitting it")
    else:
        run_ns = build_parser().parse_args(["run", args.experiment, *run_args])
        exp = _load(run_ns)
        planning.make_plan(exp)
    if args.elastic is not None and elements is not None:
        raise HpotkError("--elastic runs one experiment; a study file is submitted as a job "
                         "array of runs instead (drop --elastic)")
    return slurm.submit(args.experiment, nodes=args.nodes, gpus_per_node=args.gpus_per_node,
                        time=args.time, partition=args.partition, account=args.account,
                        extra_args=run_args, dry_run=args.dry_run,
                        cpus_per_task=args.cpus_per_task, constraint=args.constraint,
                        qos=args.qos, mem=args.mem, exclusive=args.exclusive,
                        sbatch_options=args.sbatch, array=elements, elastic=args.elastic,
                        worker_time=args.worker_time,
                        name=None if elements is not None else exp.name,
                        experiment_dir=None if elements is not None else exp.results_dir.absolute())


def cmd_cancel(args: argparse.Namespace) -> int:
    from hpotk import slurm

    return slurm.cancel(args.results_dir)


def _plan_study(args: argparse.Namespace) -> int:
    from hpotk import plan as planning
    from hpotk.errors import HpotkError
    from hpotk.study import load_study

    for option in ("trials", "parallel", "data"):
        if getattr(args, option, None) is not None:
            raise HpotkError(f"--{option} is for experiments; for a study set the key with "
                             f"--set (e.g. --set budget.concurrent=2)")
    study = load_study(args.experiment, args.overrides)
    plans = [planning.make_plan(run.experiment) for run in study.runs]  # every run is valid
    if args.json:
        print(json.dumps({"study": study.name, "results_dir": str(study.results_dir),
                          "total_time_s": sum(r.experiment.budget.time_s for r in study.runs),
                          "runs": [{"index": r.index, "label": r.label, "seed": r.seed,
                                    "strategy": r.experiment.strategy.label,
                                    "path": str(r.path), "plan": p.describe()}
                                   for r, p in zip(study.runs, plans, strict=True)]},
                         indent=2, default=str))
        return 0
    print(study.text())
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from hpotk import plan as planning
    from hpotk.study import load_study, run_study, summarise

    study = load_study(args.study, args.overrides)
    table = args.replay or study.table_source
    if table and table != "auto":
        from hpotk.errors import HpotkError
        from hpotk.replay import replay_study

        if args.report_only or args.element is not None:
            raise HpotkError("--replay replays the whole study in simulated time; it does not "
                             "combine with --report-only or --element")
        replay_study(study, table)
        return 0
    if args.report_only:
        if study.hybrid:
            from hpotk.replay import summarise_hybrid

            summarise_hybrid(study)
        else:
            summarise(study)
        return 0
    for run in study.runs:  # every run is valid before the first one starts
        planning.make_plan(run.experiment)
    verbose = 0 if args.quiet else 1 + args.verbose
    outcome = run_study(study, address=args.address, verbose=verbose, only=args.element)
    if outcome.hybrid_ready:
        from hpotk.replay import summarise_hybrid

        summarise_hybrid(study)
    if outcome.interrupted:
        print(f"[hpotk] study {study.name}: interrupted in run {outcome.interrupted}; the state "
              f"is saved. Run the same command again to resume.")
        return 1
    if args.element is not None:
        print(f"[hpotk] study {study.name}: run {args.element} done; when all are, aggregate "
              f"with: hpotk study {args.study} --report-only")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from hpotk.replay.table import load_table, pack

    if args.replay_command == "check":
        from hpotk.replay.surrogate import fit_surrogate

        surrogate = fit_surrogate(load_table(args.table), args.metric)
        print(surrogate.check().text())
        return 0
    if args.replay_command == "pack":
        path = pack(args.results_dir, args.archive, note=args.note)
        print(f"[hpotk] table archive {path} ({path.stat().st_size / 1e6:.2f} MB)")
        return 0
    print("usage: hpotk replay {check,pack} ...  (hpotk replay check TABLE: the surrogate's "
          "held-out errors; hpotk replay pack RESULTS_DIR OUT.tar.gz)")
    return EXIT_USAGE


def cmd_schedule(args: argparse.Namespace) -> int:
    from hpotk.pbt import command

    return command.main(args)


def cmd_data(args: argparse.Namespace) -> int:
    import yaml

    from hpotk.data import prepare
    from hpotk.errors import ConfigError

    params: dict[str, Any] = {}
    for item in args.params:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError("data", f"expected KEY=VALUE, got {item!r}")
        if key == "name":
            raise ConfigError("data.name", f"the dataset is the first argument "
                                           f"({args.name!r}); drop {item!r}")
        try:
            params[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            params[key] = value  # not YAML (e.g. "*x"): the text itself, as --set takes it
    if args.size is not None:
        params["size"] = args.size
    if args.seed is not None:
        params["seed"] = args.seed
    print(prepare(args.name, **params))
    return 0


if __name__ == "__main__":
    sys.exit(main())
