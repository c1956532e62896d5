"""Structure questions cannot be answered by building the framework's layers and counting.

The child runner refuses paddle / PaddleNLP (and other frameworks) while a structure question's
call runs: an import is refused by a meta-path hook, code of a module imported earlier (at the
top of the file) is caught while it runs.  The rest of the file is graded as usual.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from homework.checks import ASSIGNMENTS
from homework.grading import check_file, grade_batch
from homework.sandbox import Limits

from conftest import FAST_LIMITS, REPO, write_student
from shortcuts import SHORTCUTS, issue_rnn_params, top_level

RUNNER = REPO / "homework" / "_runner.py"
STRUCTURE = {name: {q.qid for q in a.questions if q.structure} for name, a in ASSIGNMENTS.items()}


def test_every_structure_question_has_a_shortcut_submission():
    assert {name: qids for name, qids in STRUCTURE.items() if qids} == {n: q for n, (_, q) in SHORTCUTS.items()}


@pytest.fixture(scope="module")
def shortcut_batch(private_tmp):
    subs = private_tmp / "shortcuts"
    for name, (source, _) in SHORTCUTS.items():
        reference = ASSIGNMENTS[name].solution.read_text(encoding="utf-8")
        write_student(subs, "inside-" + name.replace("_", "-"), {name: reference + source})
    for name in ("rnn_params", "attention"):
        reference = ASSIGNMENTS[name].solution.read_text(encoding="utf-8")
        write_student(subs, "toplevel-" + name.replace("_", "-"), {name: reference + top_level(SHORTCUTS[name][0])})
    template = ASSIGNMENTS["rnn_params"].template.read_text(encoding="utf-8")
    write_student(subs, "issue-rnn", {"rnn_params": issue_rnn_params(template)})
    batch = grade_batch(subs, limits=Limits(**dict(FAST_LIMITS, wall_seconds=90.0)), jobs=2)
    return {s.student_id: s for s in batch.students}


def _assignment(student, name):
    return next(a for a in student.assignments if a.name == name)


@pytest.mark.parametrize("sid,name", [("inside-" + n.replace("_", "-"), n) for n in SHORTCUTS]
                         + [("toplevel-rnn-params", "rnn_params"), ("toplevel-attention", "attention")])
def test_shortcut_scores_zero_with_the_refusal_as_reason(shortcut_batch, sid, name):
    result = _assignment(shortcut_batch[sid], name)
    assert result.status == "ok"
    framework = "paddle"
    for q in result.questions:
        question = ASSIGNMENTS[name].question(q.qid)
        if q.qid in SHORTCUTS[name][1]:
            assert q.score == 0, (q.qid, q.feedback())
            for c in q.checks:
                assert question.label in c.message and framework in c.message and "不能导入或调用" in c.message, \
                    c.message
        else:  # the reference part of the file is graded as usual
            assert q.score == q.max_points, (q.qid, q.feedback())


def test_the_issue_submission_scores_zero_on_q1_to_q3(shortcut_batch):
    result = _assignment(shortcut_batch["issue-rnn"], "rnn_params")
    assert result.score == 0
    for qid in ("q1_simple_rnn", "q2_lstm", "q3_gru"):
        q = next(x for x in result.questions if x.qid == qid)
        feedback = q.feedback()
        assert "不能导入或调用 paddle" in feedback and ASSIGNMENTS["rnn_params"].question(qid).label in feedback


def test_check_and_graded_pytest_agree_with_grade(private_tmp):
    folder = private_tmp / "shortcut-check"
    folder.mkdir()
    path = folder / "rnn_params.py"
    path.write_text(ASSIGNMENTS["rnn_params"].solution.read_text(encoding="utf-8") + SHORTCUTS["rnn_params"][0])
    result, _ = check_file("rnn_params", path, seed=5, limits=Limits(**dict(FAST_LIMITS, wall_seconds=90.0)))
    assert result.assignments[0].score == 0
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "homework/graded/test_rnn_params.py", "--homework-file", str(path), "--homework-seed", "5"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "6 failed" in proc.stdout and "不能导入或调用 paddle" in proc.stdout, proc.stdout[-3000:]


# --------------------------------------------------------------------------
# The child runner on its own (no paddle needed): a stand-in "torch" package in the submission folder
# --------------------------------------------------------------------------

STUDENT = '''
import torch  # imported at import time: allowed

def uses_framework_inside(n):
    import paddle
    return n

def uses_framework_from_top(n):
    return torch.count(n)

def falls_back(n):
    try:
        import paddle
        return -1
    except ImportError:
        return n * 2

def swallows_refusal(n):
    try:
        return torch.count(n)
    except Exception:
        return n * 3

def plain(n):
    return n + 1

def huge(n):
    return [0] * 50_000_000

def huge_array(n):
    import numpy as np
    return np.zeros(20_000_000)
'''


def _run_child(tmp_path, calls):
    folder = tmp_path / "sub"
    (folder / "torch").mkdir(parents=True)
    (folder / "torch" / "__init__.py").write_text("def count(n):\n    return n * 10\n")
    (folder / "student.py").write_text(STUDENT)
    job = {"modules": [{"name": "student", "path": str(folder / "student.py")}], "call_timeout": 10,
           "calls": [dict({"id": i, "module": "student", "kwargs": {"n": 4}}, **c) for i, c in enumerate(calls)]}
    read_fd, write_fd = os.pipe()
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-I", str(RUNNER), str(write_fd)], input=json.dumps(job), text=True,
                          pass_fds=(write_fd,), capture_output=True, timeout=120, cwd=tmp_path)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        records = [json.loads(line) for line in f.read().splitlines() if line.strip()]
    assert proc.returncode == 0, proc.stderr
    return {r["id"]: r for r in records if r.get("event") == "call"}, time.monotonic() - start


def test_runner_refuses_frameworks_only_in_guarded_calls(tmp_path):
    guard = "Q9「测试题」"
    calls, _ = _run_child(tmp_path, [
        {"func": "uses_framework_inside", "guard": guard},
        {"func": "uses_framework_from_top", "guard": guard},
        {"func": "falls_back", "guard": guard},
        {"func": "swallows_refusal", "guard": guard},
        {"func": "plain", "guard": guard},
        {"func": "uses_framework_from_top"},  # not a structure question: allowed
    ])
    assert calls[0]["kind"] == "refused" and guard in calls[0]["error"] and "paddle" in calls[0]["error"]
    assert calls[1]["kind"] == "refused" and "torch" in calls[1]["error"]
    assert calls[2]["ok"] and calls[2]["value"] == 8  # a refused import it caught, then its own formula
    assert calls[3]["kind"] == "refused"  # ran framework code, whatever it did with the error
    assert calls[4]["ok"] and calls[4]["value"] == 5
    assert calls[5]["ok"] and calls[5]["value"] == 40


def test_huge_return_value_is_reported_as_too_large_not_as_a_timeout(tmp_path):
    """bad input 18: a 50-million-element list used to be reported as a call timeout."""
    calls, seconds = _run_child(tmp_path, [{"func": "huge"}, {"func": "huge_array"}, {"func": "plain"}])
    for record in (calls[0], calls[1]):
        assert record["kind"] == "too_large", record
        assert "返回值过大" in record["error"] and "4000000" in record["error"]
    assert calls[2]["ok"]
    assert seconds < 8


def test_huge_return_value_through_check(private_tmp):
    folder = private_tmp / "huge"
    folder.mkdir()
    path = folder / "attention.py"
    path.write_text(ASSIGNMENTS["attention"].solution.read_text(encoding="utf-8")
                    + "\n\ndef score_variance(d_k, sigma, scaled):\n    return [0] * 50_000_000\n")
    result, _ = check_file("attention", path, seed=1, limits=Limits(**FAST_LIMITS))
    q = next(x for x in result.assignments[0].questions if x.qid == "q2_score_variance")
    assert q.score == 0
    assert "返回值过大" in q.feedback() and "超时" not in q.feedback(), q.feedback()
    assert result.assignments[0].score == result.assignments[0].max_points - q.max_points
