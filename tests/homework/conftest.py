"""Fixtures for the homework subsystem's own tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
for _key, _value in {"MKL_DEBUG_CPU_TYPE": "5", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}.items():
    os.environ.setdefault(_key, _value)

from homework.checks import ASSIGNMENTS  # noqa: E402
from homework.sandbox import Limits  # noqa: E402

FAST_LIMITS = dict(wall_seconds=30.0, cpu_seconds=20, call_seconds=8.0, memory_mb=2048, max_processes=16)


def write_student(root: Path, student_id: str, files: dict) -> Path:
    """files: {assignment name: source text} -> root/<student_id>/<assignment>.py"""
    folder = root / student_id
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / (name + ".py")).write_text(text, encoding="utf-8")
    return folder


def reference_sources() -> dict:
    return {name: a.solution.read_text(encoding="utf-8") for name, a in ASSIGNMENTS.items()}


def template_sources() -> dict:
    return {name: a.template.read_text(encoding="utf-8") for name, a in ASSIGNMENTS.items()}


@pytest.fixture(scope="session")
def private_tmp(tmp_path_factory):
    """A temporary folder only its owner can enter (as a real submissions folder should be)."""
    path = tmp_path_factory.mktemp("homework")
    os.chmod(path, 0o700)
    return path


@pytest.fixture(scope="session")
def basic_batch(private_tmp):
    """One reference student and one blank-template student, all assignments, graded and written out."""
    from homework.grading import grade_batch
    from homework.reports import write_outputs

    subs = private_tmp / "basic" / "submissions"
    write_student(subs, "ref001", reference_sources())
    write_student(subs, "blank001", template_sources())
    batch = grade_batch(subs, limits=Limits(**FAST_LIMITS), jobs=2)
    out = private_tmp / "basic" / "out"
    paths = write_outputs(batch, out)
    return batch, out, paths
