"""Metrics on hand-made cases; the chunk F1 must agree with seqeval exactly."""
import numpy as np
import pytest
from seqeval.metrics import f1_score, precision_score, recall_score
from seqeval.metrics.sequence_labeling import get_entities

from tasks.engine.metrics import best_threshold, chunk_scores, entities, macro_f1, retrieval_scores

# (gold, pred) pairs chosen to hit the edge cases of chunking.
CASES = [
    # exact match
    (["B-PER", "I-PER", "O", "B-LOC"], ["B-PER", "I-PER", "O", "B-LOC"]),
    # type mismatch on the same span: no credit
    (["B-PER", "I-PER", "O"], ["B-ORG", "I-ORG", "O"]),
    # right start, wrong end (prediction too short / too long)
    (["B-ORG", "I-ORG", "I-ORG", "O"], ["B-ORG", "I-ORG", "O", "O"]),
    (["B-LOC", "O", "O"], ["B-LOC", "I-LOC", "I-LOC"]),
    # I- without B- starts a chunk
    (["O", "I-PER", "I-PER", "O"], ["O", "B-PER", "I-PER", "O"]),
    (["I-LOC", "O"], ["I-LOC", "O"]),
    # I- of another type inside a chunk splits it
    (["B-PER", "I-PER", "I-PER"], ["B-PER", "I-LOC", "I-PER"]),
    # nested / overlapping boundaries: a long gold chunk vs two short predicted ones
    (["B-ORG", "I-ORG", "I-ORG", "I-ORG"], ["B-ORG", "I-ORG", "B-ORG", "I-ORG"]),
    # adjacent chunks of the same type separated only by B-
    (["B-PER", "B-PER", "I-PER"], ["B-PER", "I-PER", "I-PER"]),
    # chunk at the very end, nothing predicted
    (["O", "O", "B-LOC", "I-LOC"], ["O", "O", "O", "O"]),
    # spurious prediction where gold has none
    (["O", "O", "O"], ["B-ORG", "O", "I-ORG"]),
    # several sentences' worth in one list item each below
    (["B-PER", "O", "B-LOC", "I-LOC", "O", "B-ORG"], ["B-PER", "O", "B-LOC", "O", "O", "B-ORG"]),
]


@pytest.mark.parametrize("gold,pred", CASES)
def test_entities_match_seqeval(gold, pred):
    for tags in (gold, pred):
        ours = sorted(entities(tags))
        theirs = sorted((t, s, e + 1) for t, s, e in get_entities(tags))  # seqeval's end is inclusive
        assert ours == theirs


@pytest.mark.parametrize("gold,pred", CASES)
def test_chunk_f1_matches_seqeval_per_case(gold, pred):
    ours = chunk_scores([gold], [pred])
    assert ours["precision"] == pytest.approx(precision_score([gold], [pred], zero_division=0))
    assert ours["recall"] == pytest.approx(recall_score([gold], [pred], zero_division=0))
    assert ours["f1"] == pytest.approx(f1_score([gold], [pred], zero_division=0))


def test_chunk_f1_matches_seqeval_on_the_whole_set_and_per_type():
    from seqeval.metrics import classification_report

    gold = [g for g, _ in CASES]
    pred = [p for _, p in CASES]
    ours = chunk_scores(gold, pred)
    assert ours["f1"] == pytest.approx(f1_score(gold, pred))
    report = classification_report(gold, pred, output_dict=True, zero_division=0)
    for kind, scores in ours["per_type"].items():
        assert scores["f1"] == pytest.approx(report[kind]["f1-score"])
        assert scores["support"] == report[kind]["support"]


def test_hand_computed_chunk_scores():
    # gold: PER(0,2) LOC(3,4); pred: PER(0,2) LOC(3,5) ORG(5,6): 1 hit of 3 predicted, 2 gold
    result = chunk_scores([["B-PER", "I-PER", "O", "B-LOC", "O", "O"]],
                          [["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "B-ORG"]])
    assert result["precision"] == pytest.approx(1 / 3)
    assert result["recall"] == pytest.approx(1 / 2)
    assert result["f1"] == pytest.approx(0.4)
    assert result["per_type"]["LOC"]["f1"] == 0
    assert result["invalid_sequences"] == 0


def test_invalid_bio_sequences_are_counted():
    result = chunk_scores([["B-PER", "I-PER", "O"]] * 3,
                          [["I-PER", "I-PER", "O"],      # starts inside an entity
                           ["B-PER", "I-LOC", "I-LOC"],  # changes type inside an entity
                           ["B-PER", "I-PER", "O"]])
    assert result["invalid_sequences"] == 2 and result["invalid_transitions"] == 2


def test_macro_f1_counts_each_class_equally():
    gold = [0, 0, 0, 0, 1]
    pred = [0, 0, 0, 0, 0]
    # class 0: p=0.8 r=1 f=0.888..; class 1: f=0 -> macro 0.444..
    assert macro_f1(gold, pred, 2) == pytest.approx((2 * 0.8 / 1.8) / 2)


def test_best_threshold_separates_and_is_between_scores():
    scores = [0.9, 0.8, 0.7, 0.4, 0.3, 0.75]
    labels = [1, 1, 1, 0, 0, 0]
    threshold, acc = best_threshold(scores, labels)
    assert acc == pytest.approx(5 / 6)
    # two cuts reach 5/6: between 0.8 and 0.75, or between 0.7 and 0.4
    assert 0.75 < threshold < 0.8 or 0.4 < threshold < 0.7
    assert np.mean((np.array(scores) >= threshold) == np.array(labels)) == pytest.approx(acc)
    perfect, acc2 = best_threshold([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0])
    assert acc2 == 1.0 and 0.2 < perfect < 0.8


def test_retrieval_recall_and_mrr():
    queries = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    candidates = np.array([[1.0, 0.05], [0.05, 1.0], [-1.0, 0.0]])
    # query 0 -> candidate 0 (rank 1); query 1 -> candidate 1 (rank 1); query 2's partner is 2 (rank 3)
    result = retrieval_scores(queries, candidates, [0, 1, 2], ks=(1, 2))
    assert result["recall@1"] == pytest.approx(2 / 3)
    assert result["recall@2"] == pytest.approx(2 / 3)
    assert result["mrr"] == pytest.approx((1 + 1 + 1 / 3) / 3)
