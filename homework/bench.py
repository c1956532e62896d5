"""`python -m homework bench`: time the grading of N simulated students.

Each simulated student submits all assignments (a folder per student): most
hand in the reference solutions, some a realistic mistake (instructor/mutants.py),
some the blank templates, and a few misbehave cheaply (fake printed results,
sys.exit at import).  The timing covers the whole `grade` run: sandboxes,
framework truth and all output files.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from .checks import ASSIGNMENTS
from .instructor.mutants import MUTANTS

FAKE_PRINT = 'print(\'{"score": 100, "tests": [{"score": 1, "max_score": 1}]}\')\n'


def make_submissions(root: Path, students: int) -> dict:
    """Create `students` folders under root; returns {kind: count}."""
    kinds = {"reference": 0, "mutant": 0, "blank": 0, "misbehaving": 0}
    for i in range(students):
        folder = root / ("s%04d" % i)
        folder.mkdir(parents=True)
        slot = i % 10
        for name, a in ASSIGNMENTS.items():
            text = a.solution.read_text(encoding="utf-8")
            if slot == 7:
                text = a.template.read_text(encoding="utf-8")
            elif slot in (8, 9):
                mutants = [m for m in MUTANTS if m.assignment == name]
                if mutants:
                    text = mutants[i % len(mutants)].source()
            (folder / (name + ".py")).write_text(text, encoding="utf-8")
        if slot == 6 and i % 20 == 6:
            (folder / "attention.py").write_text(FAKE_PRINT + "import sys\nsys.exit(0)\n", encoding="utf-8")
        kind = {7: "blank", 8: "mutant", 9: "mutant"}.get(slot, "reference")
        if slot == 6 and i % 20 == 6:
            kind = "misbehaving"
        kinds[kind] += 1
    return kinds


def run_bench(students: int = 100, jobs: int | None = None, out: str | None = None, keep: str | None = None,
              mode: str | None = None) -> dict:
    from .grading import grade_batch
    from .reports import write_outputs

    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="homework-bench-"))
    if keep and work.exists():
        shutil.rmtree(work)
    subs, results = work / "submissions", work / "results"
    subs.mkdir(parents=True)
    os.chmod(work, 0o700)
    load_before = os.getloadavg()[0]
    try:
        kinds = make_submissions(subs, students)
        start, cpu0 = time.monotonic(), os.times()
        batch = grade_batch(subs, jobs=jobs, mode=mode)
        write_outputs(batch, results)
        seconds, cpu1 = time.monotonic() - start, os.times()
        full = sum(1 for r in batch.students if r.score >= r.max_points - 1e-9)
        report = {
            "students": students,
            "assignments_per_student": len(ASSIGNMENTS),
            "questions_per_student": sum(len(a.questions) for a in ASSIGNMENTS.values()),
            "seconds_total": round(seconds, 2),
            "seconds_per_student": round(seconds / max(students, 1), 3),
            "cpu_seconds_grader": round(cpu1.user - cpu0.user + cpu1.system - cpu0.system, 2),
            "cpu_seconds_sandboxes": round(cpu1.children_user - cpu0.children_user
                                           + cpu1.children_system - cpu0.children_system, 2),
            "load_average_before": round(load_before, 2),
            "jobs": jobs or os.cpu_count(),
            "cpu_count": os.cpu_count(),
            "isolation": batch.isolation_name,
            "submission_kinds": kinds,
            "full_marks": full,
            "target_seconds": 60,
            "machine": platform.platform(),
        }
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    if out:
        Path(out).write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    return report
