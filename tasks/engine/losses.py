"""Training losses as Layers, built with the model they train (as sentence-transformers' losses are):
``loss(outputs, batch)``, where ``outputs = model(*[batch[k] for k in model.train_inputs])``.
``WithLoss`` joins a model and its loss into the one Layer a training step calls."""
from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddlenlp.layers import LinearChainCrfLoss

IGNORE_INDEX = -100


class WithLoss(nn.Layer):
    """model + loss: ``forward(batch)`` is the training loss of a batch (what DataParallel wraps)."""

    def __init__(self, model, loss: nn.Layer):
        super().__init__()
        self.model, self.loss = model, loss

    def forward(self, batch: dict):
        return self.loss(self.model(*[batch[k] for k in self.model.train_inputs]), batch)


class CrossEntropy(nn.Layer):
    """Class logits against ``batch["label"]`` (classification, single tower)."""

    def forward(self, logits, batch):
        return F.cross_entropy(logits, batch["label"])


class TokenCrossEntropy(nn.Layer):
    """Per-word tag logits against ``batch["tags"]``, averaged over real words only (paddle's "mean"
    would also count the ignored padding)."""

    def forward(self, emissions, batch):
        tags = batch["tags"]
        per_word = F.cross_entropy(emissions, tags.unsqueeze(-1), ignore_index=IGNORE_INDEX,
                                   reduction="none").squeeze(-1)
        real = (tags != IGNORE_INDEX).astype(per_word.dtype)
        return (per_word * real).sum() / real.sum().clip(min=1.0)


class CrfLoss(nn.Layer):
    """Negative log-likelihood of the gold tag path under the model's CRF (its transitions learn)."""

    def __init__(self, crf):
        super().__init__()
        self._crf = (crf,)  # the model owns the transitions

    def forward(self, emissions, batch):
        tags = batch["tags"]
        lengths = (batch["word_pieces"] > 0).astype("int64").sum(-1)  # padding points at piece 0
        gold = paddle.where(tags == IGNORE_INDEX, paddle.zeros_like(tags), tags)
        return LinearChainCrfLoss(self._crf[0])(emissions, lengths, gold).mean()


class DualTowerLoss(nn.Layer):
    """``sbert``: softmax classifier on [u, v, |u - v|]; ``contrastive``: each matching pair's first
    text picks its own second text among the batch's (in-batch negatives, cosine / temperature);
    ``both``: the sum."""

    def __init__(self, objective: str, temperature: float, positive: int):
        super().__init__()
        self.objective, self.temperature, self.positive = objective, temperature, positive

    def forward(self, outputs, batch):
        u, v, pair_logits = outputs
        total = 0.0
        if self.objective in ("sbert", "both"):
            total = total + F.cross_entropy(pair_logits, batch["label"])
        if self.objective in ("contrastive", "both"):
            pos = paddle.nonzero(batch["label"] == self.positive).flatten()
            if pos.shape[0] >= 2:  # needs at least one in-batch negative
                a, b = F.normalize(u[pos], axis=-1), F.normalize(v[pos], axis=-1)
                sims = a @ b.T / self.temperature
                total = total + F.cross_entropy(sims, paddle.arange(pos.shape[0], dtype="int64"))
        return total


class LateJoinRankingLoss(nn.Layer):
    """Pairwise cross-entropy, plus a listwise term for the late-join cross-encoder: each matching
    pair's first text is also scored against ``negatives`` other second texts of the batch (through
    the joint layers only, from the states below the join the model returned) and must rank its own
    partner first. A second text equal to the pair's own is no negative."""

    def __init__(self, model, negatives: int, positive: int, num_labels: int):
        super().__init__()
        self._model = (model,)  # for its joint layers; its weights are the model's
        self.negatives, self.positive = negatives, positive
        self.not_positive = [0.0 if i != positive else -1e4 for i in range(num_labels)]

    def match_score(self, pair_logits):  # log-odds of a match
        return pair_logits[:, self.positive] - paddle.logsumexp(pair_logits + paddle.to_tensor(self.not_positive),
                                                                 axis=-1)

    def forward(self, outputs, batch):
        logits, a_hidden, b_hidden = outputs
        total = F.cross_entropy(logits, batch["label"])
        rows = paddle.nonzero(batch["label"] == self.positive).flatten()
        count, shifts = rows.shape[0], min(self.negatives, rows.shape[0] - 1)
        if shifts < 1:
            return total
        a_ids, b_ids = batch["a_ids"][rows], batch["b_ids"][rows]
        own = paddle.arange(count, dtype="int64")
        others = paddle.concat([(own + s) % count for s in range(1, shifts + 1)])   # b of the rows after
        repeat = paddle.concat([own] * shifts)
        extra = self._model[0].join(a_hidden[rows][repeat], a_ids[repeat], b_hidden[rows][others], b_ids[others])
        scores = paddle.concat([self.match_score(logits[rows]).unsqueeze(1),
                                self.match_score(extra).reshape([shifts, count]).T], axis=1)
        same = (b_ids[others] == b_ids[repeat]).all(-1).reshape([shifts, count]).T
        same = paddle.concat([paddle.zeros([count, 1], dtype="bool"), same], axis=1)
        scores = paddle.where(same, paddle.full_like(scores, -1e4), scores)
        return total + F.cross_entropy(scores, paddle.zeros([count], dtype="int64"))
