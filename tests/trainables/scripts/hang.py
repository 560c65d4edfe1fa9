"""Prints one metric line, starts a child that sleeps, writes both pids, then hangs.

Usage: hang.py PIDFILE [--ignore-term]  (--ignore-term: survive SIGTERM, as a stuck script may)
"""

import signal
import subprocess
import sys
import time

if "--ignore-term" in sys.argv:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
with open(sys.argv[1], "w") as handle:
    handle.write(f"{child.pid}\n")
print("loss: 0.7", flush=True)
while True:
    time.sleep(1)
