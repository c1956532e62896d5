"""Helpers shared by the graded test modules."""

from __future__ import annotations

import pytest

from homework.checks import get_assignment


def question_params(name: str):
    """pytest.param per question; the id shows the points, e.g. `q1_sdpa-3pts`."""
    assignment = get_assignment(name)
    return [pytest.param(q.qid, id="%s-%gpts" % (q.qid, q.points)) for q in assignment.questions]


def check_question(result, qid: str) -> None:
    q = next(x for x in result.questions if x.qid == qid)
    if q.skipped:
        pytest.skip(q.skipped)
    header = "%s：%g / %g 分" % (q.title, q.score, q.max_points)
    if result.message:
        header += "\n" + result.message
    if q.score < q.max_points - 1e-9:
        pytest.fail(header + "\n" + q.feedback(), pytrace=False)
    print(header)
