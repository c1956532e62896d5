"""Registry of assignments (grader side: inputs, truth, hints)."""

from __future__ import annotations

from ..spec import Assignment
from . import attention, concepts, mlm_masking, negative_sampling, rnn_params, transformer_bert

ASSIGNMENTS: dict = {
    m.ASSIGNMENT.name: m.ASSIGNMENT
    for m in (attention, rnn_params, transformer_bert, mlm_masking, negative_sampling, concepts)
}


def get_assignment(name: str) -> Assignment:
    try:
        return ASSIGNMENTS[name]
    except KeyError:
        raise KeyError("没有名为 %r 的作业；可选: %s" % (name, ", ".join(ASSIGNMENTS))) from None
