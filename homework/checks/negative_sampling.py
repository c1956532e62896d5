"""Checks for assignment `negative_sampling`: why k negatives are cheaper than a full softmax."""

from __future__ import annotations

import numpy as np

from .. import truth as T
from ..compare import EXACT, Tolerance
from ..spec import Assignment, FunctionQuestion, np_rng, rounded


class OutputCost(FunctionQuestion):
    qid = "q1_update_cost"
    title = "一次训练更新的输出层参数个数：全 softmax 与负采样"
    points = 3
    func = "output_params_updated"
    tolerance = EXACT

    def public_cases(self):
        return [self.case(public=True, vocab_size=10000, embed_dim=100, num_negatives=None),
                self.case(public=True, vocab_size=10000, embed_dim=100, num_negatives=5)]

    def random_cases(self, rng):
        return [self.case(vocab_size=rng.randint(500, 5000), embed_dim=rng.randint(8, 32),
                          num_negatives=k) for k in (None, rng.randint(2, 20), None, rng.randint(2, 20))]

    def truth(self, vocab_size, embed_dim, num_negatives):
        """Train one step in paddle and count the output-embedding entries with a nonzero gradient."""
        paddle = T.paddle()
        F = paddle.nn.functional
        g = np.random.default_rng([vocab_size, embed_dim, num_negatives or 0])
        weight = paddle.create_parameter([vocab_size, embed_dim], "float32",
                                         default_initializer=paddle.nn.initializer.Constant(0.01))
        center = paddle.to_tensor(g.standard_normal(embed_dim).astype("float32"))
        target = int(g.integers(vocab_size))
        if num_negatives is None:
            logits = paddle.matmul(weight, center)
            loss = F.cross_entropy(logits.unsqueeze(0), paddle.to_tensor([target]))
        else:
            negatives = g.choice(np.setdiff1d(np.arange(vocab_size), [target]), size=num_negatives, replace=False)
            rows = paddle.gather(weight, paddle.to_tensor(np.r_[target, negatives]))
            scores = paddle.matmul(rows, center)
            loss = -F.log_sigmoid(scores[0]) - F.log_sigmoid(-scores[1:]).sum()
        loss.backward()
        return int((weight.grad.abs().sum(axis=1) > 0).sum()) * embed_dim

    def variants(self, vocab_size, embed_dim, num_negatives):
        V, d, k = vocab_size, embed_dim, num_negatives
        if k is None:
            return [("每个输出向量有 embed_dim 个参数：全 softmax 要更新 V 个输出向量，共 V×d 个。", V),
                    ("全 softmax 的归一化项涉及词表中所有词（包括目标词本身），共 V 个输出向量。", (V - 1) * d)]
        return [("除了 k 个负样本，正样本（上下文词）的输出向量也要更新：共 (k+1) 个。", k * d),
                ("每个输出向量有 embed_dim 个参数，要乘以 d。", (k + 1)),
                ("负采样不再对整个词表做 softmax，只更新正样本和 k 个负样本的输出向量。", V * d)]


class NegativeSamplingLoss(FunctionQuestion):
    qid = "q2_loss"
    title = "负采样损失的数值"
    points = 3
    func = "negative_sampling_loss"
    arrays = {"center": "float64", "context": "float64", "negatives": "float64"}
    tolerance = Tolerance(rtol=1e-5, atol=1e-6)

    def _make(self, g, d, k, public=False):
        return self.case(public=public, center=rounded(0.5 * g.standard_normal(d), 4),
                         context=rounded(0.5 * g.standard_normal(d), 4),
                         negatives=rounded(0.5 * g.standard_normal((k, d)), 4))

    def public_cases(self):
        return [self._make(np.random.default_rng(3), 4, 2, public=True)]

    def random_cases(self, rng):
        g = np_rng(rng)
        return [self._make(g, int(g.integers(4, 65)), int(g.integers(2, 16))) for _ in range(4)]

    def describe(self, kw):
        return "center/context 维度 %d，%d 个负样本" % (len(kw["center"]), len(kw["negatives"]))

    def truth(self, center, context, negatives):
        paddle = T.paddle()
        F = paddle.nn.functional
        v = paddle.to_tensor(np.asarray(center, dtype="float64"))
        u_o = paddle.to_tensor(np.asarray(context, dtype="float64"))
        u_k = paddle.to_tensor(np.asarray(negatives, dtype="float64"))
        loss = -F.log_sigmoid((u_o * v).sum()) - F.log_sigmoid(-paddle.matmul(u_k, v)).sum()
        return float(loss.numpy())

    def variants(self, center, context, negatives):
        v, u_o, u_k = (np.asarray(a, dtype=float) for a in (center, context, negatives))
        ls = lambda x: -np.logaddexp(0, -x)  # noqa: E731  log sigmoid
        pos, neg = u_o @ v, u_k @ v
        scores = np.r_[pos, neg]
        return [
            ("负样本项是 log σ(−u_k·v_c)：负样本的分数要取负号。", float(-ls(pos) - ls(neg).sum())),
            ("损失是负的对数似然：−log σ(u_o·v_c) − Σ log σ(−u_k·v_c)，你少了最外面的负号。",
             float(ls(pos) + ls(-neg).sum())),
            ("k 个负样本的项是相加，不是取平均。", float(-ls(pos) - ls(-neg).mean())),
            ("负采样用的是 k+1 个独立的二分类（sigmoid），不是在 k+1 个词上做 softmax。",
             float(-(pos - np.log(np.exp(scores).sum())))),
            ("别忘了负样本项。", float(-ls(pos))),
        ]


class NoiseDistribution(FunctionQuestion):
    qid = "q3_noise_distribution"
    title = "负样本的采样分布 P(w) ∝ count(w)^0.75"
    points = 2
    func = "noise_distribution"
    tolerance = Tolerance(rtol=1e-6, atol=1e-9)

    def public_cases(self):
        return [self.case(public=True, counts=[100, 10, 1], power=0.75)]

    def random_cases(self, rng):
        return [self.case(counts=[rng.randint(1, 1000) for _ in range(rng.randint(4, 30))], power=p)
                for p in (0.75, 0.75, 0.5)]

    def truth(self, counts, power):
        paddle = T.paddle()
        weights = paddle.pow(paddle.to_tensor(np.asarray(counts, dtype="float64")), power)
        return (weights / weights.sum()).numpy().tolist()

    def variants(self, counts, power):
        c = np.asarray(counts, dtype=float)
        return [
            ("要先取 count 的 power 次方再归一化（power=0.75 会提高低频词被采到的概率）。", (c / c.sum()).tolist()),
            ("概率要归一化：除以所有词的 count^power 之和。", (c ** power).tolist()),
            ("先归一化再取幂之后，还要再归一化一次。", ((c / c.sum()) ** power).tolist()),
        ]


ASSIGNMENT = Assignment(
    name="negative_sampling",
    title="练习 1 · 负采样：为什么比全 softmax 便宜",
    questions=[OutputCost(), NegativeSamplingLoss(), NoiseDistribution()],
)
