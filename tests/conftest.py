"""Shared fixtures: the offline data and encoder are built once (idempotent, cached under data/).

`bash run.sh test` runs the suite on every core (pytest-xdist `-n auto`): each worker process uses one
thread, and the first worker to need the data or the encoder builds it while the others wait.
"""
import contextlib
import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
# Tests never touch the network: hub names must fail fast.
os.environ.setdefault("COURSE_OFFLINE", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):  # one thread per worker: the workers already fill the cores
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(key, "1")

import tasks  # noqa: E402,F401  (CPU settings before paddle)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@contextlib.contextmanager
def build_lock(repo_root: Path):
    """One builder at a time across the xdist workers (the builds are idempotent and atomic)."""
    import fcntl

    (repo_root / "data").mkdir(exist_ok=True)
    with open(repo_root / "data" / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def offline_data(repo_root):
    from tasks.data import build as build_data

    with build_lock(repo_root):
        return build_data.build_all(repo_root)


@pytest.fixture(scope="session")
def encoder_dir(repo_root):
    from tasks.models import offline_encoder

    with build_lock(repo_root):
        return offline_encoder.ensure_built(repo_root)
