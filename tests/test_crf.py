"""The CRF head's loss is a true negative log-likelihood (tasks/engine/crf.py)."""
import itertools

import numpy as np
import paddle
from paddlenlp.layers import LinearChainCrfLoss
from paddlenlp.layers import LinearChainCrf as PaddleNLPLinearChainCrf

from tasks.engine.crf import LinearChainCrf

TAGS, WORDS = 3, 4


def path_score(emissions, transitions, path):
    return sum(emissions[t, tag] for t, tag in enumerate(path)) + sum(
        transitions[a, b] for a, b in zip(path, path[1:]))


def brute_log_z(emissions, transitions, length):
    scores = [path_score(emissions[:length], transitions, p) for p in itertools.product(range(TAGS), repeat=length)]
    return float(np.logaddexp.reduce(scores))


def random_crf(cls, seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    crf = cls(TAGS, **kwargs)
    crf.transitions.set_value(rng.normal(size=(TAGS, TAGS)).astype("float32") * 2)  # asymmetric
    emissions = rng.normal(size=(2, WORDS, TAGS)).astype("float32")
    return crf, emissions


def test_log_z_sums_every_path_with_transitions_from_row_to_column():
    crf, emissions = random_crf(LinearChainCrf)
    lengths = np.array([WORDS, 2])  # the second sentence is padded after 2 words
    got = crf(paddle.to_tensor(emissions), paddle.to_tensor(lengths)).numpy()
    transitions = crf.transitions.numpy()
    want = [brute_log_z(emissions[b], transitions, lengths[b]) for b in range(2)]
    assert np.allclose(got, want, atol=1e-4)


def test_paddlenlp_normaliser_disagrees_with_its_own_gold_score():
    """Why crf.py exists: paddlenlp 2.8.1 sums paths with the transposed matrix. If a later
    release fixes it, this fails and the subclass can go."""
    crf, emissions = random_crf(PaddleNLPLinearChainCrf, with_start_stop_tag=False)
    transitions = crf.transitions.numpy()
    got = float(crf(paddle.to_tensor(emissions[:1]), paddle.to_tensor([WORDS])).numpy()[0])
    assert not np.isclose(got, brute_log_z(emissions[0], transitions, WORDS), atol=1e-3)
    assert np.isclose(got, brute_log_z(emissions[0], transitions.T, WORDS), atol=1e-4)


def test_loss_is_minus_log_probability_of_the_gold_path_and_never_negative():
    crf, emissions = random_crf(LinearChainCrf, seed=1)
    transitions = crf.transitions.numpy()
    lengths = paddle.to_tensor([WORDS, 3])
    for path in itertools.product(range(TAGS), repeat=WORDS):
        gold = paddle.to_tensor([path, path], dtype="int64")
        loss = LinearChainCrfLoss(crf)(paddle.to_tensor(emissions), lengths, gold).numpy()
        want = [brute_log_z(emissions[0], transitions, WORDS) - path_score(emissions[0], transitions, path),
                brute_log_z(emissions[1], transitions, 3) - path_score(emissions[1], transitions, path[:3])]
        assert np.allclose(loss, want, atol=1e-4) and (loss >= 0).all()
