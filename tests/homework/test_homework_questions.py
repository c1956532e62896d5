"""Questions judged in this process (no sandbox): per-part hints, the new statistical checks, hint texts.

The functions are called directly and their values go through the same JSON conversion as in
the child, so these tests exercise the judging code quickly; the sandboxed path is covered by
test_homework_reference / _mistakes / _structure.
"""

from __future__ import annotations

import importlib.util
import json
import pytest

from homework._runner import _to_jsonable
from homework.checks import ASSIGNMENTS
from homework.instructor.mutants import get as get_mutant
from homework.spec import Outcome, seeded_rng


def _module(source: str, name: str = "submission"):
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, name + ".py", "exec"), module.__dict__)
    return module


def _judge(assignment: str, qid: str, source: str, seed: int, public: bool = False):
    """(score, failing checks) of one question, the student's functions called in this process."""
    question = ASSIGNMENTS[assignment].question(qid)
    module = _module(source)
    cases = (question.public_cases() if public else []) + question.random_cases(seeded_rng("t", seed, qid))
    checks = []
    for case in cases:
        outcomes = []
        for call in case.calls:
            try:
                value = getattr(module, call.func)(**call.kwargs)
                outcomes.append(Outcome(True, value=json.loads(json.dumps(_to_jsonable(value)))))
            except NotImplementedError:
                outcomes.append(Outcome(False, kind="not_implemented"))
            except Exception as exc:  # noqa: BLE001 - reported like the child runner does
                outcomes.append(Outcome(False, kind="error", error="%s: %s" % (type(exc).__name__, exc)))
        question.prepare(case)
        checks += question.judge(case, outcomes)
    score = question.points * sum(c.weight for c in checks if c.passed) / sum(c.weight for c in checks)
    return score, [c for c in checks if not c.passed]


def _solution(name):
    return ASSIGNMENTS[name].solution.read_text(encoding="utf-8")


@pytest.mark.parametrize("qid", ["q3_whole_word_mask", "q4_sentence_pairs"])
def test_new_statistical_questions_pass_the_reference_on_many_seeds(qid):
    for seed in range(8):
        score, failing = _judge("mlm_masking", qid, _solution("mlm_masking"), seed, public=seed == 0)
        assert score == 3, [(c.label, c.message) for c in failing]


@pytest.mark.parametrize("mutant,qid,failing_checks", [
    ("wwm_characters_then_whole_span", "q3_whole_word_mask", {"被遮盖的 token 比例", "多字片段（词、实体）被选中的比例"}),
    ("wwm_first_character_only", "q3_whole_word_mask", {"一个片段的所有字一起遮盖", "被遮盖的 token 比例"}),
    ("sop_negatives_from_other_document", "q4_sentence_pairs", {"SOP 负例：同一文档相邻两句交换顺序"}),
    ("nsp_negatives_from_same_document", "q4_sentence_pairs", {"NSP 负例：第二句随机取自另一篇文档"}),
])
def test_new_statistical_questions_name_the_mistake(mutant, qid, failing_checks):
    m = get_mutant(mutant)
    for seed in range(3):
        _, failing = _judge("mlm_masking", qid, m.source(), seed)
        assert {c.label for c in failing} == failing_checks
        assert all(c.hint for c in failing), [(c.label, c.message) for c in failing]
        assert any(m.hints[qid] in c.hint for c in failing)


def test_sentence_pairs_labels_inverted():
    source = _solution("mlm_masking").replace("pairs.append([first, second, 1])", "pairs.append([first, second, 0])")
    _, failing = _judge("mlm_masking", "q4_sentence_pairs", source, 1)
    hints = " ".join(c.hint for c in failing)
    assert "label 1 表示 B 确实是紧接在 A 后面的下一句" in hints


RNN_EDITS = {  # (old, new) in the reference rnn_param_shapes -> a phrase of the expected hint
    "two biases": (('            shapes["bias_hh_l%d%s" % (layer, suffix)] = [rows]\n', ""), "两个偏置"),
    "upper input": (("        layer_input = input_size if layer == 0 else hidden_size * len(suffixes)",
                     "        layer_input = input_size"), "上一层的输出"),
    "gates": (("    rows = GATES[cell] * hidden_size", "    rows = hidden_size"), "按行堆叠"),
    "reverse": (('    suffixes = ["", "_reverse"] if bidirectional else [""]', '    suffixes = [""]'), "_reverse"),
    "transposed": (('= [rows, layer_input]', '= [layer_input, rows]'), "输出维在前"),
}


@pytest.mark.parametrize("edit", list(RNN_EDITS))
def test_rnn_parts_give_the_hint_of_the_wrong_part(edit):
    (old, new), phrase = RNN_EDITS[edit]
    source = _solution("rnn_params")
    assert old in source
    score, failing = _judge("rnn_params", "q6_rnn_param_shapes", source.replace(old, new, 1), 1, public=True)
    assert score < 2 and failing
    for c in failing:
        assert phrase in c.hint, (c.message, c.hint)
        assert c.expected and c.got and "不对" in c.message


EMBEDDING_EDITS = {
    "layer norm": (('        "layer_norm.weight": [hidden_size],\n        "layer_norm.bias": [hidden_size],\n', ""),
                   "LayerNorm"),
    "position": (('        "position_embeddings.weight": [max_position_embeddings, hidden_size],\n', ""), "可学习"),
    "segment rows": (("[type_vocab_size, hidden_size]", "[2, hidden_size]"), "type_vocab_size"),
    "transposed": (("[vocab_size, hidden_size]", "[hidden_size, vocab_size]"), "[行数, hidden_size]"),
}


@pytest.mark.parametrize("edit", list(EMBEDDING_EDITS))
def test_embedding_parts_give_the_hint_of_the_wrong_part(edit):
    (old, new), phrase = EMBEDDING_EDITS[edit]
    source = _solution("transformer_bert")
    assert old in source
    _, failing = _judge("transformer_bert", "q8_embedding_shapes", source.replace(old, new, 1), 2, public=True)
    assert failing
    for c in failing:
        assert phrase in c.hint, (c.message, c.hint)


def test_parts_question_rejects_a_number():
    source = _solution("rnn_params") + "\n\ndef rnn_param_shapes(*args, **kwargs):\n    return 12\n"
    score, failing = _judge("rnn_params", "q6_rnn_param_shapes", source, 1)
    assert score == 0 and all("应返回 dict" in c.message for c in failing)


def test_multi_head_hints_say_each_head_uses_its_own_columns():
    """The old hints said the heads share one projection; each head uses its own block of columns."""
    for name in ("attention", "transformer_bert"):
        question = "q5_mha_param_count" if name == "attention" else "q2_encoder_layer"
        q = ASSIGNMENTS[name].question(question)
        kwargs = q.random_cases(seeded_rng("t", 1, question))[0].data
        hints = [text for text, _ in q.variants(**kwargs)]
        assert not any("共享" in h for h in hints)
        assert any("属于自己的" in h and "head_dim" in h for h in hints)


def test_multi_head_mistake_found_by_mutation_gets_its_hint():
    m = get_mutant("mha_head_dim_not_split")
    _, failing = _judge("attention", "q4_multihead_shapes", m.source(), 1, public=True)
    assert failing and all("d_model / num_heads" in c.hint for c in failing)
    per_head = _solution("attention") + ("\n\ndef mha_param_count(embed_dim, num_heads, kdim=None, vdim=None):\n"
                                         "    d, kd, vd = embed_dim, kdim or embed_dim, vdim or embed_dim\n"
                                         "    return num_heads * (2 * d * d + kd * d + vd * d + 4 * d)\n")
    _, failing = _judge("attention", "q5_mha_param_count", per_head, 1, public=True)
    assert failing and all("属于自己的" in c.hint and "共享" not in c.hint for c in failing)
