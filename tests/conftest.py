"""Shared fixtures. One local Ray per test session (ray.init costs seconds on 2 cores).

Nothing here depends on the user's home: Ray's auth token comes from the environment and Ray's
own files go under a session temp directory.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# One intra-op thread per process: tests and Ray trials share 2 cores, and torch's default of a
# thread per core makes small models several times slower when processes compete for them.
# (Set before any test module imports torch; Ray's workers inherit it.)
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory):
    """Point HOME and the data cache at a temp dir, so no test reads or writes ~/.ray etc."""
    home = tmp_path_factory.mktemp("home")
    saved = {k: os.environ.get(k) for k in ("HOME", "RAY_AUTH_TOKEN", "HPOTK_DATA_DIR")}
    os.environ["HOME"] = str(home)
    os.environ.setdefault("HPOTK_DATA_DIR", str(tmp_path_factory.mktemp("hpotk-data")))
    if not os.environ.get("RAY_AUTH_TOKEN_PATH"):
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def ray_local(_isolated_home):
    """One local Ray (2 CPUs, no dashboard) shared by every end-to-end test of the session."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR", _temp_dir=_short_temp_dir())
    yield ray
    ray.shutdown()


def _short_temp_dir() -> str:
    # Ray's unix socket paths must stay under 108 characters: keep its temp dir short.
    path = Path("/tmp") / f"hpotk-ray-{os.getpid()}"
    path.mkdir(exist_ok=True)
    return str(path)


@pytest.fixture
def hpotk_cli(ray_local, monkeypatch, tmp_path):
    """Run the `hpotk` CLI in-process (sharing the session's Ray), results under tmp_path.

    Returns a function ``run(*argv) -> (exit_code, stdout, stderr)``.
    """
    import contextlib
    import io

    from hpotk.cli import main

    monkeypatch.chdir(tmp_path)

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in argv])
        return code, out.getvalue(), err.getvalue()

    return run
