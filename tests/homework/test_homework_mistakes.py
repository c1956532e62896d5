"""Realistic wrong submissions get the intended partial score and the intended hint."""

import pytest

from homework.checks import ASSIGNMENTS
from homework.grading import grade_batch
from homework.instructor.mutants import MUTANTS
from homework.sandbox import Limits

from conftest import FAST_LIMITS, reference_sources, write_student


@pytest.fixture(scope="module")
def mutant_batch(private_tmp):
    subs = private_tmp / "mutants"
    for m in MUTANTS:
        sources = reference_sources()
        sources[m.assignment] = m.source()
        write_student(subs, m.name.replace("_", "-"), sources)
    batch = grade_batch(subs, limits=Limits(**FAST_LIMITS), jobs=2)
    return {s.student_id: s for s in batch.students}


def test_at_least_five_realistic_mistakes():
    assert len(MUTANTS) >= 5
    assert len({m.assignment for m in MUTANTS}) >= 4


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_partial_score_and_hint(mutant_batch, mutant):
    student = mutant_batch[mutant.name.replace("_", "-")]
    by_name = {a.name: a for a in student.assignments}
    result = by_name[mutant.assignment]
    assert result.score == pytest.approx(mutant.score, abs=1e-3), [(q.qid, q.score) for q in result.questions]
    assert 0 < result.score < result.max_points
    # the other assignments are untouched reference solutions
    for name, other in by_name.items():
        if name != mutant.assignment:
            assert other.score == other.max_points, name
    for qid, expected_hint in mutant.hints.items():
        q = next(q for q in result.questions if q.qid == qid)
        assert q.score < q.max_points, qid
        hints = " ".join(q.hints)
        assert expected_hint in hints, (qid, q.feedback())
        failing = [c for c in q.checks if not c.passed]
        # the feedback names the input and (for numeric answers) the expected value
        assert all(c.label for c in failing)
        if ASSIGNMENTS[mutant.assignment].question(qid).kind != "statistical":
            assert all(c.expected and c.got for c in failing), q.feedback()


def test_hard_coded_public_examples_fail(private_tmp):
    """A function that returns the public example's answer is graded on other, per-student inputs."""
    subs = private_tmp / "hardcoded"
    source = ASSIGNMENTS["rnn_params"].template.read_text(encoding="utf-8").replace(
        '    """Q1–Q3（各 2 分）', '    return 395264\n    """Q1–Q3（各 2 分）', 1)
    write_student(subs, "hard-coder", {"rnn_params": source})
    batch = grade_batch(subs, limits=Limits(**FAST_LIMITS), jobs=1)
    result = batch.students[0].assignments[0]
    assert result.score == 0
