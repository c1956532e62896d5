"""Metrics for the four tasks. Pure numpy / python, so they are easy to test by hand."""
from __future__ import annotations

from collections import Counter

import numpy as np


def accuracy(gold, pred) -> float:
    gold, pred = np.asarray(gold), np.asarray(pred)
    return float((gold == pred).mean()) if len(gold) else 0.0


def macro_f1(gold, pred, num_labels: int) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(gold, pred, labels=list(range(num_labels)), average="macro", zero_division=0))


# --- chunks (NER) ---------------------------------------------------------
def entities(tags: list[str]) -> list[tuple[str, int, int]]:
    """BIO tags -> [(type, start, end_exclusive)], the way seqeval's default mode reads them:
    a chunk starts at B-X, or at I-X that does not continue a chunk of type X."""
    chunks, kind, start = [], None, 0
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, _, label = tag.partition("-")
        continues = prefix == "I" and label == kind
        if kind is not None and not continues:
            chunks.append((kind, start, i))
            kind = None
        if prefix == "B" or (prefix == "I" and not continues):
            kind, start = label, i
    return chunks


def is_legal_transition(previous: str, tag: str) -> bool:
    """BIO: I-X may only follow B-X or I-X (a sentence starts after an O)."""
    prefix, _, label = tag.partition("-")
    return prefix != "I" or previous in (f"B-{label}", f"I-{label}")


def invalid_transitions(tags: list[str]) -> int:
    return sum(not is_legal_transition(prev, tag) for prev, tag in zip(["O"] + list(tags), tags))


def chunk_scores(gold_seqs, pred_seqs) -> dict:
    """Precision / recall / F1 over exact chunks (type and both boundaries), micro and per type."""
    gold_by, pred_by, hit_by = Counter(), Counter(), Counter()
    for gold, pred in zip(gold_seqs, pred_seqs):
        g, p = set(entities(gold)), set(entities(pred))
        gold_by.update(c[0] for c in g)
        pred_by.update(c[0] for c in p)
        hit_by.update(c[0] for c in g & p)

    def prf(hit, n_pred, n_gold):
        precision = hit / n_pred if n_pred else 0.0
        recall = hit / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1, "support": n_gold}

    result = prf(sum(hit_by.values()), sum(pred_by.values()), sum(gold_by.values()))
    invalid = [invalid_transitions(p) for p in pred_seqs]
    result["invalid_sequences"] = sum(n > 0 for n in invalid)  # predicted tag sequences BIO does not allow
    result["invalid_transitions"] = sum(invalid)
    result["per_type"] = {t: prf(hit_by[t], pred_by[t], gold_by[t]) for t in sorted(set(gold_by) | set(pred_by))}
    return result


# --- matching -------------------------------------------------------------
def best_threshold(scores, labels) -> tuple[float, float]:
    """The cosine threshold with the highest accuracy (score >= t means a match)."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    order = np.argsort(-scores)
    s, y = scores[order], labels[order]
    # predicting "match" for the top k: correct = positives in top k + negatives below
    tp = np.concatenate([[0], np.cumsum(y == 1)])
    tn_below = np.concatenate([[0], np.cumsum((y == 0)[::-1])])[::-1]
    correct = tp + tn_below
    k = int(np.argmax(correct))
    if k == 0:
        threshold = s[0] + 1e-6
    elif k == len(s):
        threshold = s[-1] - 1e-6
    else:
        threshold = (s[k - 1] + s[k]) / 2
    return float(threshold), float(correct[k] / len(s))


def retrieval_scores(query_vecs, candidate_vecs, gold_index, ks=(1, 10)) -> dict:
    """Rank all candidates for each query by cosine; recall@k and MRR of the right one."""
    q = query_vecs / np.linalg.norm(query_vecs, axis=1, keepdims=True)
    c = candidate_vecs / np.linalg.norm(candidate_vecs, axis=1, keepdims=True)
    sims = q @ c.T
    gold = np.asarray(gold_index)
    gold_sims = sims[np.arange(len(gold)), gold]
    ranks = (sims > gold_sims[:, None]).sum(axis=1) + 1  # ties count in the query's favour
    out = {f"recall@{k}": float((ranks <= k).mean()) for k in ks}
    out["mrr"] = float((1.0 / ranks).mean())
    out["candidates"] = int(c.shape[0])
    return out
