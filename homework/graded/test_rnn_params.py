"""Graded tests for assignment `rnn_params` (one test per question; points in the test id)."""

import pytest

from homework.graded.support import check_question, question_params

ASSIGNMENT = "rnn_params"


@pytest.mark.parametrize("qid", question_params(ASSIGNMENT))
def test_question(qid, homework_result):
    check_question(homework_result(ASSIGNMENT), qid)
