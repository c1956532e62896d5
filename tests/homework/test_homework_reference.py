"""Reference solutions score 100%, blank templates 0% (without crashing), CSV layout."""

import csv
import json

import pytest

from homework.checks import ASSIGNMENTS
from homework.reports import question_columns


def _student(batch, sid):
    return next(s for s in batch.students if s.student_id == sid)


@pytest.mark.parametrize("name", list(ASSIGNMENTS))
def test_reference_solution_scores_full_marks(basic_batch, name):
    batch, _, _ = basic_batch
    result = next(a for a in _student(batch, "ref001").assignments if a.name == name)
    failures = {q.qid: q.feedback() for q in result.questions if q.score < q.max_points}
    assert not failures, failures
    assert result.score == result.max_points == ASSIGNMENTS[name].max_points


@pytest.mark.parametrize("name", list(ASSIGNMENTS))
def test_blank_template_scores_zero_without_crashing(basic_batch, name):
    batch, _, _ = basic_batch
    student = _student(batch, "blank001")
    assert student.run_status == "ok"
    result = next(a for a in student.assignments if a.name == name)
    assert result.status == "ok"
    assert result.score == 0
    for q in result.questions:
        assert q.checks, q.qid
        assert all(not c.passed for c in q.checks)
        messages = " ".join(c.message for c in q.checks)
        assert "尚未实现" in messages or "尚未作答" in messages, (q.qid, messages)


def test_grades_csv_layout(basic_batch):
    batch, out, paths = basic_batch
    with open(paths["grades"], encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    columns = question_columns(batch)
    assert header == ["student_id"] + columns + ["total", "max_total", "status"]
    assert len(columns) == sum(len(a.questions) for a in ASSIGNMENTS.values())
    assert all("/" in c and c.split("/")[0] in ASSIGNMENTS for c in columns)
    body = {r[0]: r for r in rows[1:]}
    assert set(body) == {"ref001", "blank001"}  # one row per student
    full = sum(a.max_points for a in ASSIGNMENTS.values())
    assert float(body["ref001"][-3]) == full and float(body["ref001"][-2]) == full
    assert float(body["blank001"][-3]) == 0
    ref = dict(zip(header, body["ref001"]))
    assert sum(float(ref[c]) for c in columns) == pytest.approx(float(ref["total"]))


def test_feedback_and_summary_written(basic_batch):
    batch, out, paths = basic_batch
    text = (out / "feedback" / "blank001.txt").read_text(encoding="utf-8")
    assert "总分: 0 /" in text and "尚未实现" in text
    summary = json.loads(paths["summary"].read_text(encoding="utf-8"))
    assert summary["students"] == 2 and summary["isolation"] == batch.isolation_name
    assert summary["isolation_details"]


def test_choice_questions_without_the_instructor_key(monkeypatch, tmp_path):
    """Students' machines need not have the multiple-choice key: those questions are format-checked only."""
    from homework.grading import check_file

    monkeypatch.setenv("HOMEWORK_KEYS", str(tmp_path / "no-keys.json"))
    result, _ = check_file("concepts", ASSIGNMENTS["concepts"].solution, seed=1)
    concepts = result.assignments[0]
    skipped = [q for q in concepts.questions if q.skipped]
    assert len(skipped) == 5 and all("教师" in q.skipped for q in skipped)
    assert concepts.score == concepts.max_points == 4  # the three computational questions
