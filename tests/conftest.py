"""Shared fixtures: the offline data and encoder are built once (idempotent, cached under data/)."""
import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
# Tests never touch the network: hub names must fail fast.
os.environ.setdefault("COURSE_OFFLINE", "1")

import tasks  # noqa: E402,F401  (CPU settings before paddle)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def offline_data(repo_root):
    from tasks import build_data

    return build_data.build_all(repo_root)


@pytest.fixture(scope="session")
def encoder_dir(repo_root):
    from tasks import offline_encoder

    return offline_encoder.ensure_built(repo_root)
