"""Reference solution: concepts (instructor only)."""

import numpy as np

ASSIGNMENT = "concepts"

RECURRENT = {"SimpleRNN", "LSTM", "GRU", "BiRNN", "RNN"}


def not_an_rnn(candidates):
    others = [name for name in candidates if name not in RECURRENT]
    return others[0]


def sublayer_counts(kind):
    if kind == "encoder":
        return {"attention": 1, "layer_norm": 2, "linear": 2}
    return {"attention": 2, "layer_norm": 3, "linear": 2}


def causal_mask(n):
    return np.tril(np.ones((n, n), dtype=bool))


ANSWER_Q4 = "B"
ANSWER_Q5 = "C"
ANSWER_Q6 = "A"
ANSWER_Q7 = "C"
ANSWER_Q8 = "B"
