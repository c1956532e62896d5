"""`python -m homework grade` on bad input: one clear line, nothing damaged, every other student graded.

* bad input 3: a submission that kills its parent process (without bubblewrap) does not end the run;
* bad input 9: a submission with a syntax error is not `ok` in grades.csv;
* bad input 19: `--out` that is an existing file;
* `--require-isolation` refuses to grade without file-system isolation;
* the isolation line (naming the mode) is the first line of every grading run.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys

from homework.checks import ASSIGNMENTS

from conftest import REPO

SOLUTION = ASSIGNMENTS["concepts"].solution.read_text(encoding="utf-8")


def _grade(*args, env=None):
    return subprocess.run([sys.executable, "-m", "homework", "grade", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=600, env=dict(os.environ, **(env or {})))


def _submissions(root):
    subs = root / "subs"
    subs.mkdir(parents=True)
    (subs / "good.py").write_text(SOLUTION, encoding="utf-8")
    (subs / "syntax.py").write_text('ASSIGNMENT = "concepts"\ndef not_an_rnn(:\n    pass\n', encoding="utf-8")
    (subs / "killer.py").write_text('ASSIGNMENT = "concepts"\nimport os, signal\n'
                                    "os.kill(os.getppid(), signal.SIGKILL)\n" + SOLUTION, encoding="utf-8")
    (subs / "later.py").write_text(SOLUTION, encoding="utf-8")
    return subs


def test_grade_without_bubblewrap_survives_killers_and_marks_syntax_errors(private_tmp):
    subs = _submissions(private_tmp / "cli-bad")
    out = private_tmp / "cli-bad" / "out"
    proc = _grade(subs, "--out", out, "--sandbox", "nobwrap", "--jobs", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith("隔离方式: rlimits") and "没有文件系统隔离" in first, proc.stdout
    with open(out / "grades.csv", encoding="utf-8") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"good", "syntax", "killer", "later"}
    full = rows["good"]["max_total"]
    assert rows["good"]["total"] == full and rows["later"]["total"] == full
    assert rows["good"]["status"] == rows["later"]["status"] == "ok"
    assert rows["syntax"]["status"] == "syntax_error" and float(rows["syntax"]["total"]) == 0
    assert "语法错误" in (out / "feedback" / "syntax.txt").read_text(encoding="utf-8")
    # the killer either could not reach the grader (throwaway uid: EPERM at import) or ended only its own run
    killer = rows["killer"]
    feedback = (out / "feedback" / "killer.txt").read_text(encoding="utf-8")
    if killer["status"] == "crashed":
        assert "父进程" in feedback and float(killer["total"]) == 0
    else:
        assert killer["status"] == "import_error" and "PermissionError" in feedback
    assert "syntax_error × 1" in proc.stdout


def test_out_that_is_a_file(private_tmp):
    root = private_tmp / "cli-outfile"
    subs = _submissions(root)
    target = root / "results.txt"
    target.write_text("keep me\n")
    proc = _grade(subs, "--out", target)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "--out" in proc.stderr and "不是目录" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert target.read_text() == "keep me\n"


def test_require_isolation_refuses_without_bubblewrap(private_tmp):
    root = private_tmp / "cli-require"
    subs = _submissions(root)
    out = root / "out"
    proc = _grade(subs, "--out", out, "--require-isolation", env={"HOMEWORK_BWRAP": "none"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout.startswith("隔离方式: ")
    assert "--require-isolation" in proc.stderr and "bubblewrap" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()  # nothing graded, nothing written
    both = _grade(subs, "--out", out, "--require-isolation", "--sandbox", "nobwrap")
    assert both.returncode == 2 and "矛盾" in both.stderr
