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


def render_script(experiment: str, *, nodes: int, gpus_per_node: int, time: str,
                  partition: str | None = None, account: str | None = None,
                  extra_args: Sequence[str] = (), cpus_per_task: int | str | None = "all",
                  constraint: str | None = None, qos: str | None = None,
                  mem: str | None = None, exclusive: bool = False,
                  sbatch_options: Sequence[str] = (), array: int | None = None) -> str:
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
    """
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
    if array is not None and (isinstance(array, bool) or not isinstance(array, int) or array < 1):
        raise HpotkError(f"array: expected a number of runs >= 1, got {array!r}")
    directory = slurm_dir()
    template = (directory / "submit.sbatch").read_text()

    job_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(experiment).stem) or "experiment"
    grace = min(300, max(60, seconds // 10)) if seconds >= 120 else max(1, seconds // 4)
    settings = [
        "# --- sbatch settings (rendered by hpotk submit) ---",
        f"#SBATCH --job-name=hpotk-{job_name}",
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
        settings.append(f"#SBATCH --array=0-{array - 1}")
    settings += _sbatch_lines(sbatch_options)
    settings += [
        f"#SBATCH --signal=B:USR1@{grace}",
        "#SBATCH --requeue",
        "#SBATCH --open-mode=append",
        f"#SBATCH --output=hpotk-{'%A_%a' if array is not None else '%j'}.out",
        "# --- end sbatch settings ---",
    ]
    argv = [str(Path(experiment).expanduser().absolute()), *map(str, extra_args)]
    arguments = [
        "# --- arguments (rendered by hpotk submit) ---",
        f"export HPOTK_SLURM_DIR={shlex.quote(str(directory))}",
        *(["export HPOTK_STUDY=1  # a study: element i runs hpotk study FILE --element i"]
          if array is not None else []),
        "set -- " + " ".join(shlex.quote(a) for a in argv),
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
           sbatch_options: Sequence[str] = (), array: int | None = None) -> int:
    """Render the batch script and submit it with ``sbatch`` (``dry_run``: print it instead);
    the settings are `render_script`'s.

    Prints ``Submitted batch job <id>`` and returns 0 (an exit status for the CLI); raises
    `HpotkError` when the experiment file is missing or sbatch refuses the job.
    """
    if not Path(experiment).is_file():
        raise HpotkError(f"experiment file {experiment!r} not found")
    script = render_script(experiment, nodes=nodes, gpus_per_node=gpus_per_node, time=time,
                           partition=partition, account=account, extra_args=extra_args,
                           cpus_per_task=cpus_per_task, constraint=constraint, qos=qos, mem=mem,
                           exclusive=exclusive, sbatch_options=sbatch_options, array=array)
    if dry_run:
        print(script, end="")
        return 0
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise HpotkError("sbatch not found: run `hpotk submit` where Slurm's commands are "
                         "installed, or use --dry-run to see the script")
    proc = subprocess.run([sbatch, "--parsable"], input=script, text=True, capture_output=True)
    if proc.returncode != 0:
        raise HpotkError(f"sbatch refused the job: {proc.stderr.strip() or proc.stdout.strip()}")
    job_id = proc.stdout.strip().split(";")[0]
    print(f"Submitted batch job {job_id}" + (f" (an array of {array} runs)" if array else ""))
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
                                     description="helpers of slurm/submit.sbatch")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("results-dir", help="print the results directory of an hpotk run")
    p.add_argument("experiment")
    p.add_argument("run_args", nargs=argparse.REMAINDER)
    p = sub.add_parser("wait-nodes", help="wait until every node joined the Ray cluster")
    p.add_argument("--address", required=True)
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--job-dir")
    p.add_argument("nodes", nargs="+", metavar="NAME=IP")
    args = parser.parse_args(argv)
    try:
        if args.command == "results-dir":
            print(results_root(args.experiment, args.run_args))
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
