"""kill -9 of the driver at random moments, N times: what is lost, what is redone.

Runs one small experiment (mlp-digits, FIFO + random search) with ``hpotk run`` in a
subprocess, kills that driver with SIGKILL at a random moment of its training (after 1 to
``--max-results`` new results), runs the same command again, and repeats until N kills have
been made and a last run completes it. ``--moment trial-end`` kills instead within milliseconds
of a trial's end (a new line in ``finished.jsonl``): before Tune saved its state after it, and
before it copied the trial's last results from its staging directory. Then it reads the
results directory (hpotk's live logs) and prints:

- completed trials lost: trials ``finished.jsonl`` recorded that the final trials.csv does not
  hold as COMPLETED;
- completed trials run again: trials ``finished.jsonl`` recorded more than once;
- redone work: results (trial, iteration) reported more than once, and their training seconds
  (``time_this_iter_s``), in all and for the worst kill. A trial that was running at the kill
  restarts from its last checkpoint (``--checkpoint-every``; 0: from its start).

    .venv/bin/python benchmarks/kill_driver.py                 # 5 kills, checkpoints every 2
    .venv/bin/python benchmarks/kill_driver.py --kills 10 --checkpoint-every 0
    .venv/bin/python benchmarks/kill_driver.py --moment trial-end

The drivers share one local Ray (started here, 2 CPUs), as jobs on a cluster do.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--max-t", type=int, default=6)
    parser.add_argument("--checkpoint-every", type=int, default=2)
    parser.add_argument("--max-results", type=int, default=8,
                        help="each kill comes after 1..N new results (a moment mid-training)")
    parser.add_argument("--moment", choices=("mid-training", "trial-end"), default="mid-training",
                        help="when to kill: after random new results, or right after a trial ends")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import ray

    tmp = Path(tempfile.mkdtemp(prefix="hpotk-kill-"))
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
             _temp_dir=f"/tmp/hpotk-kb-{os.getpid()}")
    address = ray.get_runtime_context().gcs_address
    exp = tmp / "killed.yaml"
    exp.write_text(textwrap.dedent(f"""\
        name: killed
        trainable: mlp-digits
        space:
          lr: {{type: continuous, min_value: 0.001, max_value: 0.03, scaling: log}}
          hidden_size: {{type: categorical, values: [16, 32, 64]}}
        metric: {{name: val_acc, mode: max}}
        strategy: fifo/random
        budget: {{trials: {args.trials}, concurrent: 2, max_t: {args.max_t}}}
        checkpoint: {{every: {args.checkpoint_every}}}
        reuse_actors: false
        results: {tmp / "out"}
        """))
    argv = [sys.executable, "-m", "hpotk.cli", "run", str(exp), "--address", address, "--quiet"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    kills: list[float] = []
    history = tmp / "out" / "killed" / "history.jsonl"
    finished = tmp / "out" / "killed" / "finished.jsonl"
    started = time.time()
    failed_runs = 0
    while True:
        log = open(tmp / f"driver-{len(kills) + failed_runs + 1}.log", "w")  # noqa: SIM115
        driver = subprocess.Popen(argv, env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        if len(kills) < args.kills and args.moment == "trial-end":
            target = lines_in(finished) + 1  # the next trial's end, within a few milliseconds
            while driver.poll() is None and lines_in(finished) < target:
                time.sleep(0.002)
        elif len(kills) < args.kills:
            # a random moment in the training: after 1..--max-results new results of this run
            target = results_so_far(history) + rng.randint(1, args.max_results)
            while driver.poll() is None and results_so_far(history) < target:
                time.sleep(rng.uniform(0.05, 0.5))
        if len(kills) < args.kills:
            if driver.poll() is None:
                driver.send_signal(signal.SIGKILL)
                driver.wait()
                kills.append(time.time())
                print(f"kill {len(kills)} at {kills[-1] - started:.0f} s, after "
                      f"{results_so_far(history)} results", flush=True)
                continue
        code = driver.wait()
        if code == 0:
            break
        failed_runs += 1
        print(f"the driver exited with {code}; running it again", flush=True)
        if failed_runs == 3:
            print("FAIL: 3 runs after the last kill did not complete the experiment", flush=True)
            report(tmp / "out" / "killed", kills, args)
            return 1
    report(tmp / "out" / "killed", kills, args)
    print(f"  results and each driver's output (driver-N.log): {tmp}")
    ray.shutdown()
    return 0


def lines_in(path: Path) -> int:
    try:
        return path.read_text().count("\n")
    except OSError:
        return 0


def results_so_far(history: Path) -> int:
    """Results in hpotk's live log so far (every driver appends to it)."""
    try:
        return history.read_text().count('"event": "result"')
    except OSError:
        return 0


def report(exp_dir: Path, kills: list[float], args: argparse.Namespace) -> None:
    import pandas as pd

    finished = [json.loads(line) for line in (exp_dir / "finished.jsonl").read_text().splitlines()
                if line.endswith("}")]
    counts = collections.Counter(e["trial_id"] for e in finished if e["status"] == "TERMINATED")
    trials = pd.read_csv(exp_dir / "trials.csv")
    completed = set(trials.loc[trials["status"] == "COMPLETED", "trial_id"])
    lost = [t for t in counts if t not in completed]
    rerun = [t for t, n in counts.items() if n > 1]
    seen: dict[tuple[str, int], int] = collections.Counter()
    redone_s = collections.defaultdict(float)
    redone_n = 0
    for line in (exp_dir / "history.jsonl").read_text().splitlines():
        if not line.endswith("}"):
            continue
        event = json.loads(line)
        if event.get("event") != "result":
            continue
        key = (event["trial_id"], int(event.get("training_iteration", 0)))
        seen[key] += 1
        if seen[key] > 1:
            redone_n += 1
            kill = sum(1 for k in kills if k < event["time"])  # the kill it follows
            redone_s[kill] += float(event.get("time_this_iter_s") or 0.0)
    moment = ("right after a trial's end" if args.moment == "trial-end" else
              f"at random moments (after 1 to {args.max_results} new results each)")
    print(f"kill -9 of the driver {len(kills)} times {moment}, {args.trials} trials x "
          f"{args.max_t} iterations, checkpoint every {args.checkpoint_every}:")
    unfinished = int((trials["status"] == "UNFINISHED").sum())
    print(f"  trials completed: {len(completed)} of {len(trials)} ({unfinished} unfinished); "
          f"completed trials lost: {len(lost)}; completed trials run again: {len(rerun)}")
    print(f"  redone: {redone_n} iterations, {sum(redone_s.values()):.1f} s of training in all; "
          f"at most {max(redone_s.values(), default=0.0):.1f} s after one kill")


if __name__ == "__main__":
    sys.exit(main())
