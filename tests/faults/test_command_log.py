"""A command trainable that prints gigabytes: command.log stops at its cap, the metrics past the
cap are still read, and the log says what it left out."""

from __future__ import annotations

import os
import sys

from hpotk.trainables.command import make_command_trainable
from hpotk.trainables.command import process as _process
from hpotk.trainables.command.process import END, CommandProcess

FLOOD = ("import sys\n"
         "line = 'x' * 999 + '\\n'\n"
         "for i in range({n}):\n"
         "    sys.stdout.write(line)\n"
         "print('loss: 0.25', flush=True)\n")


def test_the_log_stops_at_its_cap_and_keeps_the_last_lines(tmp_path):
    log = tmp_path / "command.log"
    cap = 1_000_000
    process = CommandProcess.start([sys.executable, "-c", FLOOD.format(n=30_000)], str(tmp_path),
                                   dict(os.environ), log, grace_s=1)
    process.log_max_bytes = cap
    lines = 0
    last = None
    while (line := process.read(timeout=30)) not in (None, END):
        lines += 1
        last = line.text
    process.stop()
    assert lines == 30_001 and last == "loss: 0.25"  # every line still reaches the scanner
    text = log.read_text()
    size = log.stat().st_size
    assert size < cap + _process.LOG_TAIL_LINES * 1000 + 1000, size  # 30 MB printed
    assert "command.log reached its cap of 1 MB" in text
    assert f"the last {_process.LOG_TAIL_LINES} of them follow" in text
    assert text.rstrip("\n").endswith("loss: 0.25")
    assert process.dropped_lines > 28_000


def test_a_flooding_trial_still_reports_its_metric(tmp_path, monkeypatch):
    import ray.tune.trainable.trainable as trainable_module

    monkeypatch.setattr(trainable_module, "DEFAULT_STORAGE_PATH", str(tmp_path / "trials"))
    monkeypatch.setattr(_process, "LOG_MAX_BYTES", 500_000)
    script = tmp_path / "flood.py"
    script.write_text(FLOOD.format(n=20_000))
    cls = make_command_trainable({"command": [sys.executable, str(script)], "grace_s": 2,
                                  "metrics": [{"name": "loss", "regex": r"loss: ([0-9.]+)"}]})
    trainable = cls(config={})
    try:
        result = trainable.train()
        log = trainable.log_path
    finally:
        trainable.stop()  # the note on what the cap left out is written when the command ends
    assert result["loss"] == 0.25
    assert log.stat().st_size < 500_000 + _process.LOG_TAIL_LINES * 1000 + 2000
    assert "reached its cap of 0.5 MB" in log.read_text()
