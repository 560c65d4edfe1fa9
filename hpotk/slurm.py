"""`hpotk submit`: render slurm/submit.sbatch with a job's settings and submit it, plus the two
helpers that script calls on the cluster (``python -m hpotk.slurm results-dir | wait-nodes``).

The batch script itself (slurm/submit.sbatch, start-head.sh, start-worker.sh, lib.sh) starts one
Ray cluster per job; see docs/slurm.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from time import time as _now
from typing import Any

from hpotk import layout
from hpotk.errors import HpotkError

DEFAULTS_BEGIN = "# --- sbatch defaults (hpotk submit replaces this block) ---"
DEFAULTS_END = "# --- end sbatch defaults ---"
ARGS_BEGIN = "# --- arguments (hpotk submit fills this in) ---"
ARGS_END = "# --- end arguments ---"

_TIME = re.compile(r"^(?:(\d+)-)?(\d+):(\d{2}):(\d{2})$")  # [D-]HH:MM:SS
_SLURM_NAME = re.compile(r"^[A-Za-z0-9_.,+-]+$")


def slurm_dir() -> Path:
    """The directory holding submit.sbatch and the start scripts (``HPOTK_SLURM_DIR`` or the
    checkout's ``slurm/``)."""
    path = Path(os.environ.get("HPOTK_SLURM_DIR") or Path(__file__).resolve().parent.parent / "slurm")
    if not (path / "submit.sbatch").is_file():
        raise HpotkError(f"cannot find hpotk's Slurm scripts in {path}; install hpotk from its "
                         f"source checkout (pip install -e .) or set HPOTK_SLURM_DIR")
    return path.resolve()


def time_seconds(text: str) -> int:
    """Seconds in a Slurm time limit written ``HH:MM:SS`` or ``D-HH:MM:SS``."""
    match = _TIME.match(text)
    if not match or int(match.group(3)) > 59 or int(match.group(4)) > 59:
        raise HpotkError(f"--time: expected HH:MM:SS or D-HH:MM:SS, got {text!r}")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total <= 0:
        raise HpotkError(f"--time: must be longer than zero, got {text!r}")
    return total


def _checked_name(option: str, value: str | None) -> str | None:
    if value is not None and not _SLURM_NAME.match(value):
        raise HpotkError(f"--{option}: expected letters, digits and _.,+- only, got {value!r}")
    return value


def node_cpus(partition: str | None = None) -> int | None:
    """CPUs of the smallest node of ``partition`` (else the default partition), from ``sinfo``;
    None when sinfo is missing or says nothing."""
    sinfo = shutil.which("sinfo")
    if sinfo is None:
        return None
    command = [sinfo, "-h", "-N", "-o", "%P %c"] + (["-p", partition] if partition else [])
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    counts = []
    for line in out.splitlines():
        name, _, cpus = line.strip().partition(" ")
        if partition or name.endswith("*"):  # without -p: the default partition's nodes
            digits = re.match(r"\d+", cpus.strip())
            if digits:
                counts.append(int(digits.group()))
    return min(counts) if counts else None


def _cpu_lines(cpus_per_task: int | str | None, exclusive: bool,
               partition: str | None) -> list[str]:
    """``--cpus-per-task``: a number as given; "all" (the default) every CPU of a node, which
    Ray is then offered (start-head.sh reads SLURM_CPUS_ON_NODE). Without it many sites give a
    task one CPU, and the job runs one trial per node while the rest of each node idles."""
    if cpus_per_task in (None, "all"):
        if exclusive:
            return []  # whole nodes: SLURM_CPUS_ON_NODE is every CPU already
        cpus = node_cpus(partition)
        if cpus is None:
            return ["# every CPU of each node: sinfo could not tell how many, so whole nodes",
                    "#SBATCH --exclusive"]
        return [f"# every CPU of each node ({cpus}: the smallest node of the partition, "
                f"from sinfo)", f"#SBATCH --cpus-per-task={cpus}"]
    text = str(cpus_per_task)
    if not text.isdigit() or int(text) < 1:
        raise HpotkError(f"--cpus-per-task: expected an integer >= 1 or 'all', got "
                         f"{cpus_per_task!r}")
    return [f"#SBATCH --cpus-per-task={int(text)}"]


_MEM = re.compile(r"^\d+[KMGT]?$")
_SBATCH_OPTION = re.compile(r"^--?[A-Za-z][A-Za-z0-9-]*(=[^\n]*)?$")


def _sbatch_lines(options: Sequence[str]) -> list[str]:
    lines = []
    for option in options:
        if not _SBATCH_OPTION.match(option) or "\n" in option:
            raise HpotkError(f"--sbatch: expected one sbatch option such as "
                             f"--sbatch=--reservation=x, got {option!r}")
        lines.append(f"#SBATCH {option}")
    return lines


def _grace_s(seconds: int) -> int:
    """Seconds before the time limit that USR1 comes: a tenth of it, 60 s to 5 min."""
    return min(300, max(60, seconds // 10)) if seconds >= 120 else max(1, seconds // 4)


def _job_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text) or "experiment"


def _settings(*, job_name: str, nodes: int, gpus_per_node: int, time: str,
              partition: str | None, account: str | None, cpus_per_task: int | str | None,
              constraint: str | None, qos: str | None, mem: str | None, exclusive: bool,
              sbatch_options: Sequence[str], array: str | None, requeue: bool,
              output: str, dependency: str | None = None) -> list[str]:
    """The ``#SBATCH`` block of a rendered script, its settings checked."""
    if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1:
        raise HpotkError(f"--nodes: expected an integer >= 1, got {nodes!r}")
    if isinstance(gpus_per_node, bool) or not isinstance(gpus_per_node, int) or gpus_per_node < 0:
        raise HpotkError(f"--gpus-per-node: expected an integer >= 0, got {gpus_per_node!r}")
    seconds = time_seconds(time)
    _checked_name("partition", partition)
    _checked_name("account", account)
    _checked_name("constraint", constraint.replace("&", ",").replace("|", ",")
                  if constraint else None)
    _checked_name("qos", qos)
    if mem is not None and not _MEM.match(str(mem)):
        raise HpotkError(f"--mem: expected a size such as 64G or 0 (all), got {mem!r}")
    settings = [
        "# --- sbatch settings (rendered by hpotk submit) ---",
        f"#SBATCH --job-name={job_name}",
        f"#SBATCH --nodes={nodes}",
        "#SBATCH --ntasks-per-node=1",
    ]
    settings += _cpu_lines(cpus_per_task, exclusive, partition)
    if exclusive:
        settings.append("#SBATCH --exclusive")
    if mem is not None:
        settings.append(f"#SBATCH --mem={mem}")
    if gpus_per_node:
        settings.append(f"#SBATCH --gpus-per-node={gpus_per_node}")
    settings.append(f"#SBATCH --time={time}")
    if partition:
        settings.append(f"#SBATCH --partition={partition}")
    if account:
        settings.append(f"#SBATCH --account={account}")
    if constraint:
        settings.append(f"#SBATCH --constraint={constraint}")
    if qos:
        settings.append(f"#SBATCH --qos={qos}")
    if array is not None:
        settings.append(f"#SBATCH --array={array}")
    if dependency:
        settings.append(f"#SBATCH --dependency={dependency}")
    settings += _sbatch_lines(sbatch_options)
    settings.append(f"#SBATCH --signal=B:USR1@{_grace_s(seconds)}")
    if requeue:
        settings.append("#SBATCH --requeue")
    settings += ["#SBATCH --open-mode=append", f"#SBATCH --output={output}",
                 "# --- end sbatch settings ---"]
    return settings


def render_script(experiment: str, *, nodes: int, gpus_per_node: int, time: str,
                  partition: str | None = None, account: str | None = None,
                  extra_args: Sequence[str] = (), cpus_per_task: int | str | None = "all",
                  constraint: str | None = None, qos: str | None = None,
                  mem: str | None = None, exclusive: bool = False,
                  sbatch_options: Sequence[str] = (), array: int | None = None,
                  elastic: bool = False, name: str | None = None) -> str:
    """slurm/submit.sbatch with this job's ``#SBATCH`` settings and arguments filled in.

    The result runs on its own (``sbatch < script``): it names the scripts' directory and the
    experiment by absolute path, every argument shell-quoted.

    Args:
        experiment: experiment file; made absolute against the current directory.
        nodes: nodes of the Ray cluster (head + workers), >= 1.
        gpus_per_node: GPUs per node, >= 0 (0: no ``--gpus-per-node`` line).
        time: wall-time limit, ``HH:MM:SS`` or ``D-HH:MM:SS``; USR1 comes a tenth of it (60 s to
            5 min) before the end, for the run to stop cleanly and requeue.
        partition: Slurm partition, if not the cluster's default.
        account: Slurm account to charge, if not the user's default.
        extra_args: more ``hpotk run`` arguments, e.g. ``["--set", "budget.trials=64"]``
            (for a study: ``hpotk study`` arguments).
        cpus_per_task: CPUs per node (one task per node): a number, or "all" (see `_cpu_lines`).
        constraint: node features (``--constraint``, e.g. ``gpu`` at NERSC).
        qos: quality of service.
        mem: memory per node, e.g. ``64G`` (``0``: all of it).
        exclusive: whole nodes.
        sbatch_options: any other sbatch options, each as it is (``--reservation=x``).
        array: a study of this many runs: a job array, element i runs ``hpotk study FILE
            --element i``, each its own Ray cluster with these nodes, GPUs and time.
        elastic: the head job of an elastic run (one node; worker jobs from
            `render_worker_script` join its Ray cluster as Slurm starts them).
        name: what ``squeue`` shows, ``hpotk-<name>``: the experiment's name (default: the
            file's stem).
    """
    if array is not None and (isinstance(array, bool) or not isinstance(array, int) or array < 1):
        raise HpotkError(f"array: expected a number of runs >= 1, got {array!r}")
    if elastic and array is not None:
        raise HpotkError("--elastic runs one experiment; a study file is submitted as a job "
                         "array of runs instead (drop --elastic)")
    if elastic and nodes != 1:
        raise HpotkError(f"--elastic: the head job has one node and the worker jobs one each; "
                         f"drop --nodes {nodes} (it sizes a fixed allocation without --elastic)")
    directory = slurm_dir()
    template = (directory / "submit.sbatch").read_text()
    settings = _settings(
        job_name=f"hpotk-{_job_name(name or Path(experiment).stem)}", nodes=nodes,
        gpus_per_node=gpus_per_node, time=time, partition=partition, account=account,
        cpus_per_task=cpus_per_task, constraint=constraint, qos=qos, mem=mem,
        exclusive=exclusive, sbatch_options=sbatch_options,
        array=f"0-{array - 1}" if array is not None else None, requeue=True,
        output=f"hpotk-{'%A_%a' if array is not None else '%j'}.out")
    argv = [str(Path(experiment).expanduser().absolute()), *map(str, extra_args)]
    arguments = [
        "# --- arguments (rendered by hpotk submit) ---",
        f"export HPOTK_SLURM_DIR={shlex.quote(str(directory))}",
        *(["export HPOTK_STUDY=1  # a study: element i runs hpotk study FILE --element i"]
          if array is not None else []),
        *(["export HPOTK_ELASTIC=1  # an elastic head: worker jobs join its Ray cluster"]
          if elastic else []),
        "set -- " + " ".join(shlex.quote(a) for a in argv),
        "# --- end arguments ---",
    ]
    return _replace_block(_replace_block(template, DEFAULTS_BEGIN, DEFAULTS_END, settings),
                          ARGS_BEGIN, ARGS_END, arguments)


#: what a dry run's worker script names the head job by, before sbatch has given it an id
HEAD_JOB_PLACEHOLDER = "HEAD_JOB_ID"


def render_worker_script(head_job: str, *, count: int, time: str, gpus_per_node: int = 0,
                         name: str = "experiment", partition: str | None = None,
                         account: str | None = None, cpus_per_task: int | str | None = "all",
                         constraint: str | None = None, qos: str | None = None,
                         mem: str | None = None, exclusive: bool = False,
                         sbatch_options: Sequence[str] = ()) -> str:
    """slurm/worker.sbatch for ``count`` elastic workers of the head job ``head_job``: a job
    array (one ``squeue`` line and one ``scancel`` for all; Slurm still starts each element on
    its own, as soon as one node is free, which is the point), each element one node that joins
    the head's Ray cluster when it starts, and not before the head has started
    (``--dependency=after``). ``time`` is each worker's wall time; the other settings are
    `render_script`'s, per worker node."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise HpotkError(f"--elastic: expected a number of worker jobs >= 1, got {count!r}")
    if head_job != HEAD_JOB_PLACEHOLDER and not str(head_job).isdigit():
        raise HpotkError(f"head job: expected a Slurm job id, got {head_job!r}")
    directory = slurm_dir()
    template = (directory / "worker.sbatch").read_text()
    settings = _settings(
        job_name=f"hpotk-{_job_name(name)}-worker", nodes=1, gpus_per_node=gpus_per_node,
        time=time, partition=partition, account=account, cpus_per_task=cpus_per_task,
        constraint=constraint, qos=qos, mem=mem, exclusive=exclusive,
        sbatch_options=sbatch_options, array=f"0-{count - 1}", requeue=False,
        output="hpotk-%A_%a.out", dependency=f"after:{head_job}")
    arguments = [
        "# --- arguments (rendered by hpotk submit) ---",
        f"export HPOTK_SLURM_DIR={shlex.quote(str(directory))}",
        f"set -- {head_job}  # the head job",
        "# --- end arguments ---",
    ]
    return _replace_block(_replace_block(template, DEFAULTS_BEGIN, DEFAULTS_END, settings),
                          ARGS_BEGIN, ARGS_END, arguments)


def _replace_block(text: str, begin: str, end: str, lines: list[str]) -> str:
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise HpotkError(f"slurm/submit.sbatch lacks the lines {begin!r} ... {end!r}")
    return text[:start] + "\n".join(lines) + text[stop + len(end):]


def submit(experiment: str, *, nodes: int, gpus_per_node: int, time: str,
           partition: str | None = None, account: str | None = None,
           extra_args: Sequence[str] = (), dry_run: bool = False,
           cpus_per_task: int | str | None = "all", constraint: str | None = None,
           qos: str | None = None, mem: str | None = None, exclusive: bool = False,
           sbatch_options: Sequence[str] = (), array: int | None = None,
           elastic: int | None = None, worker_time: str | None = None,
           name: str | None = None, experiment_dir: str | Path | None = None) -> int:
    """Render the batch script and submit it with ``sbatch`` (``dry_run``: print it instead);
    the settings are `render_script`'s.

    ``elastic``: submit a one-node head job and a job array of ``elastic`` one-node worker jobs
    (`render_worker_script`, wall time ``worker_time``, default ``time``) that join it as Slurm
    starts them. Both jobs are recorded in ``experiment_dir``'s slurm_jobs.jsonl, for
    ``hpotk cancel``.

    Prints ``Submitted batch job <id>`` and returns 0 (an exit status for the CLI); raises
    `HpotkError` when the experiment file is missing or sbatch refuses the job.
    """
    if not Path(experiment).is_file():
        raise HpotkError(f"experiment file {experiment!r} not found")
    if elastic is not None and (isinstance(elastic, bool) or not isinstance(elastic, int)
                                or elastic < 1):
        raise HpotkError(f"--elastic: expected a number of worker jobs >= 1, got {elastic!r}")
    if worker_time is not None and not elastic:
        raise HpotkError("--worker-time is the wall time of elastic worker jobs; add --elastic N")
    script = render_script(experiment, nodes=nodes, gpus_per_node=gpus_per_node, time=time,
                           partition=partition, account=account, extra_args=extra_args,
                           cpus_per_task=cpus_per_task, constraint=constraint, qos=qos, mem=mem,
                           exclusive=exclusive, sbatch_options=sbatch_options, array=array,
                           elastic=bool(elastic), name=name)

    def workers(head_job: str) -> str:
        return render_worker_script(
            head_job, count=elastic, time=worker_time or time, gpus_per_node=gpus_per_node,
            name=name or Path(experiment).stem, partition=partition, account=account,
            cpus_per_task=cpus_per_task, constraint=constraint, qos=qos, mem=mem,
            exclusive=exclusive, sbatch_options=sbatch_options)

    if dry_run:
        if not elastic:
            print(script, end="")
            return 0
        print("# ===== the head job: sbatch <<'EOF' ... =====")
        print(script, end="")
        print(f"# ===== {elastic} worker job(s), an array submitted after the head with its job "
              f"id in place of {HEAD_JOB_PLACEHOLDER} =====")
        print(workers(HEAD_JOB_PLACEHOLDER), end="")
        return 0
    if elastic:
        workers(HEAD_JOB_PLACEHOLDER)  # its settings checked before anything is submitted
    job_id = _sbatch(script)
    if not elastic:
        print(f"Submitted batch job {job_id}" + (f" (an array of {array} runs)" if array else ""))
        return 0
    if experiment_dir is not None:
        record(experiment_dir, {"job": job_id, "role": "head", "submitted": _now()})
    try:
        worker_id = _sbatch(workers(job_id))
    except HpotkError as exc:
        raise HpotkError(f"the head job {job_id} is submitted, the worker jobs are not: {exc}; "
                         f"add workers with: sbatch slurm/worker.sbatch {job_id}") from None
    if experiment_dir is not None:
        record(experiment_dir, {"job": worker_id, "role": "workers", "count": elastic,
                                "head": job_id, "submitted": _now()})
    print(f"Submitted batch job {job_id} (the head: one node, Ray's head and the driver)")
    print(f"Submitted batch job {worker_id} (an array of {elastic} worker jobs; each joins "
          f"when Slurm starts it)")
    if experiment_dir is not None:
        print(f"Follow it with `hpotk status {experiment_dir}`; end it with "
              f"`hpotk cancel {experiment_dir}`")
    return 0


def _sbatch(script: str) -> str:
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise HpotkError("sbatch not found: run `hpotk submit` where Slurm's commands are "
                         "installed, or use --dry-run to see the script")
    proc = subprocess.run([sbatch, "--parsable"], input=script, text=True, capture_output=True)
    if proc.returncode != 0:
        raise HpotkError(f"sbatch refused the job: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip().split(";")[0]


# ---------------------------------------------------------------------------------------------
# An experiment's Slurm jobs: recorded in its results directory, for `hpotk cancel`


def record(experiment_dir: str | Path, entry: dict[str, Any]) -> None:
    """Append ``entry`` (a job of the experiment) to ``experiment_dir``'s slurm_jobs.jsonl."""
    directory = Path(experiment_dir)
    directory.mkdir(parents=True, exist_ok=True)
    layout.append_jsonl(directory / layout.SLURM_JOBS, [entry], sync=True)


def recorded_jobs(experiment_dir: str | Path) -> list[dict[str, Any]]:
    return list(layout.iter_jsonl(Path(experiment_dir) / layout.SLURM_JOBS))


def queued(job_ids: Sequence[str]) -> dict[str, str]:
    """The jobs among ``job_ids`` that Slurm still has queued or running: id -> state (for an
    array, the states of its elements, joined)."""
    if not job_ids:
        return {}
    squeue = shutil.which("squeue")
    if squeue is None:
        raise HpotkError("squeue not found: run this where Slurm's commands are installed")
    proc = subprocess.run([squeue, "-h", "-o", "%i %T", "-j", ",".join(job_ids)],
                          capture_output=True, text=True)
    found: dict[str, set[str]] = {}
    for line in proc.stdout.splitlines():
        job, _, state = line.strip().partition(" ")
        base = job.split("_")[0]
        if state not in ("COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY",
                         "DEADLINE", "BOOT_FAIL", "NODE_FAIL", "PREEMPTED"):
            found.setdefault(base, set()).add(state)
    return {job: ",".join(sorted(states)) for job, states in found.items()}


def cancel(directory: str | Path) -> int:
    """``hpotk cancel DIR``: cancel every Slurm job of the experiment in ``DIR`` that is still
    queued or running (the head and every worker job), from its slurm_jobs.jsonl."""
    directory = Path(directory)
    if not (directory / layout.SLURM_JOBS).exists():
        if not directory.is_dir():
            raise HpotkError(f"{directory} is not a directory; give an experiment's results "
                             f"directory (results/<name>)")
        raise HpotkError(f"{directory} has no {layout.SLURM_JOBS}: no Slurm job of `hpotk submit` "
                         f"is recorded for it (jobs submitted with sbatch directly: scancel them)")
    jobs: dict[str, str] = {}
    for entry in recorded_jobs(directory):
        job = str(entry.get("array") or entry.get("job") or "")
        if job.isdigit():
            jobs.setdefault(job, "head" if entry.get("role") == "head" else "workers")
    alive = queued(list(jobs))
    if not alive:
        print(f"no Slurm job of {directory} is queued or running "
              f"({len(jobs)} recorded: {', '.join(jobs) or 'none'})")
        return 0
    proc = subprocess.run([shutil.which("scancel") or "scancel", *alive], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise HpotkError(f"scancel refused: {proc.stderr.strip() or proc.stdout.strip()}")
    for job, state in alive.items():
        print(f"cancelled job {job} ({jobs[job]}, {state})")
    return 0


# ---------------------------------------------------------------------------------------------
# Helpers submit.sbatch runs on the cluster


def results_root(experiment: str, run_args: Sequence[str] = ()) -> Path:
    """The results directory an ``hpotk run EXPERIMENT *run_args`` writes under (absolute); for a
    study file, the study's directory (``hpotk study FILE *run_args``)."""
    from hpotk import experiment as experiments
    from hpotk import study

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    known, _ = parser.parse_known_args(list(run_args))
    if study.is_study_file(experiment):
        return study.load_study(experiment, known.overrides).results_dir
    return experiments.load(experiment, known.overrides).results_dir.parent


def experiment_dir(experiment: str, run_args: Sequence[str] = ()) -> Path:
    """The results directory of the experiment ``hpotk run EXPERIMENT *run_args`` runs
    (absolute)."""
    from hpotk import experiment as experiments

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    known, _ = parser.parse_known_args(list(run_args))
    return experiments.load(experiment, known.overrides).results_dir.absolute()


#: in an elastic head's job directory: the experiment's results directory, for its workers
EXPERIMENT_DIR_FILE = "experiment_dir"


def record_job(role: str, job_dir: str | Path, experiment: str | None = None,
               run_args: Sequence[str] = (), node: str | None = None) -> Path:
    """Record this Slurm job (``SLURM_JOB_ID``) in its experiment's slurm_jobs.jsonl.

    The head (``role="head"``) names the experiment and writes its results directory into its
    job directory ``job_dir``; a worker (``role="worker"``) finds it there (``job_dir`` is then
    the head's). Returns the experiment's results directory."""
    job_dir = Path(job_dir)
    entry: dict[str, Any] = {"job": os.environ.get("SLURM_JOB_ID"), "role": role,
                             "time": _now()}
    if role == "head":
        if experiment is None:
            raise HpotkError("record-job --role head: give the experiment file")
        directory = experiment_dir(experiment, run_args)
        layout.atomic_write(job_dir / EXPERIMENT_DIR_FILE, str(directory))
        entry["start"] = int(os.environ.get("SLURM_RESTART_COUNT", 0)) + 1
    else:
        text = (job_dir / EXPERIMENT_DIR_FILE).read_text().strip()
        directory = Path(text)
        entry.update(array=os.environ.get("SLURM_ARRAY_JOB_ID"), node=node,
                     head=job_dir.name)
    record(directory, entry)
    return directory


def end_workers(job_dir: str | Path) -> list[str]:
    """Cancel the worker jobs of an elastic head's experiment that Slurm has not started yet
    (running ones see the head's ``ended`` file and leave by themselves, exit 0)."""
    path = Path(job_dir) / EXPERIMENT_DIR_FILE
    if not path.exists():
        return []
    workers = sorted({str(e.get("array") or e.get("job")) for e in
                      recorded_jobs(path.read_text().strip())
                      if e.get("role") in ("workers", "worker")} - {"None", ""})
    if not workers or shutil.which("scancel") is None:
        return []
    subprocess.run(["scancel", "--state=PENDING", *workers], capture_output=True, text=True)
    return workers


def drain(address: str, temp_dir: str, deadline_s: float, reason: str) -> str:
    """Ask Ray's GCS at ``address`` to drain the node whose temp dir is ``temp_dir`` (this job's
    Ray node), as a preemption with a deadline ``deadline_s`` from now: no new task or actor is
    placed there, and when the node then goes, Ray marks its actors preempted, which Tune retries
    without counting a failure (``Trial._handle_ray_actor_error``). Ray 2.60's drain API
    (``GcsClient.drain_node``, what ``ray drain-node`` calls; not a public API: see
    tests/canary). Returns the drained node's id."""
    from ray._raylet import GcsClient
    from ray.core.generated import autoscaler_pb2, gcs_pb2

    client = GcsClient(address=address)
    nodes = client.get_all_node_info(timeout=30)
    ids = [node_id.hex() for node_id, info in nodes.items()
           if info.temp_dir == temp_dir and info.state == gcs_pb2.GcsNodeInfo.ALIVE]
    if not ids:
        raise HpotkError(f"no live Ray node with temp dir {temp_dir} in the cluster at {address}")
    deadline_ms = int((_now() + max(0.0, deadline_s)) * 1000)
    accepted, why = client.drain_node(
        ids[0], autoscaler_pb2.DrainNodeReason.Value("DRAIN_NODE_REASON_PREEMPTION"), reason,
        deadline_ms)
    if not accepted:
        raise HpotkError(f"Ray refused to drain node {ids[0]}: {why}")
    return ids[0]


NODE_RESOURCE = layout.NODE_RESOURCE  # + the Slurm node name: a resource slurm/lib.sh gives each node


def missing_nodes(nodes: list[dict[str, Any]], expected: dict[str, str], *,
                  shared_host: bool = False) -> list[str]:
    """The expected nodes (name -> IP) that are not among Ray's alive ``nodes`` (`ray.nodes()`).

    A node counts as joined when an alive Ray node carries its ``hpotk_node:<name>`` resource.
    Where several Slurm nodes share a host (``shared_host``), that is the only test, since they
    share an IP address; elsewhere a node whose IP is among the alive nodes counts too (a Ray
    node started without the resource).
    """
    alive = [n for n in nodes if n.get("Alive")]
    names = {key[len(NODE_RESOURCE):] for n in alive for key in (n.get("Resources") or {})
             if key.startswith(NODE_RESOURCE)}
    ips = {n.get("NodeManagerAddress") for n in alive}
    return [f"{name} ({ip})" for name, ip in expected.items()
            if name not in names and (shared_host or ip not in ips)]


def wait_for_nodes(address: str, expected: dict[str, str], *, timeout: float,
                   job_dir: str | Path | None = None, poll_s: float = 0.5,
                   shared_host: bool | None = None) -> int:
    """Block until every expected node has joined the Ray cluster at ``address``.

    Args:
        address: ``host:port`` of the head's GCS.
        expected: node name -> IP address Ray reports it under.
        timeout: seconds before giving up.
        job_dir: where start-head.sh/start-worker.sh write ``failed-<node>`` when they fail;
            such a file ends the wait at once.
        shared_host: several Slurm nodes on one host (default: ``HPOTK_SHARED_HOST=1``): count
            nodes by their ``hpotk_node:<name>`` resource only (see `missing_nodes`).

    Returns the number of nodes. Raises `HpotkError` naming the nodes that did not join.
    """
    import ray  # heavy: only here

    if shared_host is None:
        shared_host = os.environ.get("HPOTK_SHARED_HOST", "0") == "1"
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout
    connected = False
    missing = [f"{name} ({ip})" for name, ip in expected.items()]
    try:
        while True:
            failures = sorted(Path(job_dir).glob("failed-*")) if job_dir else []
            if failures:
                raise HpotkError("Ray did not start: " + "; ".join(
                    f"{p.name[len('failed-'):]}: {p.read_text().strip()}" for p in failures))
            if not connected and _port_open(host, int(port)):
                ray.init(address=address, logging_level="ERROR", log_to_driver=False)
                connected = True
            if connected:
                missing = missing_nodes(ray.nodes(), expected, shared_host=shared_host)
                if not missing:
                    return len(expected)
            if time.monotonic() > deadline:
                logs = f"; see {job_dir}/ray-*.log" if job_dir else ""
                raise HpotkError(f"{len(missing)} of {len(expected)} node(s) did not join the Ray "
                                 f"cluster at {address} within {timeout:g} s: "
                                 f"{', '.join(missing)}{logs}")
            time.sleep(poll_s)
    finally:
        if connected:
            ray.shutdown()


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hpotk.slurm",
                                     description="helpers of slurm/submit.sbatch and worker.sbatch")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("results-dir", help="print the results directory of an hpotk run")
    p.add_argument("experiment")
    p.add_argument("run_args", nargs=argparse.REMAINDER)
    p = sub.add_parser("wait-nodes", help="wait until every node joined the Ray cluster")
    p.add_argument("--address", required=True)
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--job-dir")
    p.add_argument("nodes", nargs="+", metavar="NAME=IP")
    p = sub.add_parser("record-job", help="record this job in its experiment's slurm_jobs.jsonl")
    p.add_argument("--role", choices=("head", "worker"), required=True)
    p.add_argument("--job-dir", required=True, help="the head's job directory")
    p.add_argument("--node")
    p.add_argument("experiment", nargs="?")
    p.add_argument("run_args", nargs=argparse.REMAINDER)
    p = sub.add_parser("end-workers", help="cancel an ended experiment's queued worker jobs")
    p.add_argument("--job-dir", required=True, help="the head's job directory")
    p = sub.add_parser("drain", help="drain this job's Ray node (a preemption with a deadline)")
    p.add_argument("--address", required=True)
    p.add_argument("--temp-dir", required=True)
    p.add_argument("--deadline", type=float, required=True, metavar="SECONDS")
    p.add_argument("--reason", default="the Slurm job is ending")
    args = parser.parse_args(argv)
    try:
        if args.command == "results-dir":
            print(results_root(args.experiment, args.run_args))
        elif args.command == "record-job":
            record_job(args.role, args.job_dir, args.experiment, args.run_args, args.node)
        elif args.command == "end-workers":
            end_workers(args.job_dir)
        elif args.command == "drain":
            node = drain(args.address, args.temp_dir, args.deadline, args.reason)
            print(f"[hpotk] Ray node {node[:12]} is draining (deadline {args.deadline:g} s)",
                  file=sys.stderr, flush=True)
        else:
            expected = dict(item.split("=", 1) for item in args.nodes)
            started = time.monotonic()
            count = wait_for_nodes(args.address, expected, timeout=args.timeout,
                                   job_dir=args.job_dir)
            print(f"[hpotk] all {count} node(s) joined the Ray cluster in "
                  f"{time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    except HpotkError as exc:
        print(f"hpotk: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
