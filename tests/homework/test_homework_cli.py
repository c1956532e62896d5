"""End to end through the command line and the graded pytest suite (subprocesses)."""

import csv
import os
import subprocess
import sys

from homework.checks import ASSIGNMENTS

from conftest import REPO

ENV = dict(os.environ, MKL_DEBUG_CPU_TYPE="5", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def _run(*args, timeout=300, env=None):
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env=env or ENV)


def test_list():
    proc = _run("-m", "homework", "list")
    assert proc.returncode == 0
    for name in ASSIGNMENTS:
        assert name in proc.stdout


def test_check_reference_and_template():
    good = _run("-m", "homework", "check", "negative_sampling", "--file",
                str(ASSIGNMENTS["negative_sampling"].solution), "--seed", "3")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "总分: 8 / 8" in good.stdout and "Q1 [" in good.stdout
    blank = _run("-m", "homework", "check", "negative_sampling", "--seed", "3")
    assert blank.returncode == 1
    assert "总分: 0 / 8" in blank.stdout and "尚未实现" in blank.stdout


def test_grade_command_writes_csv_feedback_and_results(private_tmp):
    subs = private_tmp / "cli" / "subs"
    subs.mkdir(parents=True)
    # one file per student: the assignment is read from its ASSIGNMENT = "..." line
    (subs / "alice.py").write_text(ASSIGNMENTS["rnn_params"].solution.read_text(encoding="utf-8"))
    (subs / "bob.py").write_text(ASSIGNMENTS["rnn_params"].template.read_text(encoding="utf-8"))
    points = private_tmp / "cli" / "points.json"
    points.write_text('{"rnn_params": {"q1_simple_rnn": 5}}')
    out = private_tmp / "cli" / "out"
    proc = _run("-m", "homework", "grade", str(subs), "--out", str(out), "--points", str(points), "--jobs", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "隔离方式" in proc.stdout
    with open(out / "grades.csv", encoding="utf-8") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"alice", "bob"}
    assert float(rows["alice"]["rnn_params/q1_simple_rnn"]) == 5  # configured points
    full = ASSIGNMENTS["rnn_params"].max_points - ASSIGNMENTS["rnn_params"].question("q1_simple_rnn").points + 5
    assert float(rows["alice"]["total"]) == full and float(rows["alice"]["max_total"]) == full
    assert float(rows["bob"]["total"]) == 0
    assert (out / "feedback" / "bob.txt").exists()
    assert (out / "gradescope" / "alice" / "results.json").exists()


def test_graded_pytest_suite(private_tmp):
    ok = _run("-m", "pytest", "-q", "-p", "no:cacheprovider", "homework/graded/test_concepts.py",
              "--homework-dir", str(ASSIGNMENTS["concepts"].solution.parent))
    assert ok.returncode == 0, ok.stdout[-3000:]
    assert "8 passed" in ok.stdout and "作业得分" in ok.stdout
    bad = _run("-m", "pytest", "-q", "-p", "no:cacheprovider", "homework/graded/test_concepts.py")
    assert bad.returncode == 1
    assert "q1_not_an_rnn-1pts" in bad.stdout and "尚未实现" in bad.stdout
    # not collected by a plain run that does not name homework/graded
    plain = _run("-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only", "homework")
    assert "no tests collected" in plain.stdout or "0 tests" in plain.stdout, plain.stdout[-2000:]
