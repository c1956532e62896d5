"""Checks for assignment `attention`: scaled dot-product attention and why sqrt(d_k)."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .. import truth as T
from ..compare import EXACT, Tolerance
from ..spec import Assignment, Check, FunctionQuestion, np_rng, rounded

ARRAY_TOL = Tolerance(rtol=1e-4, atol=1e-5)


def _softmax(x, axis=-1):
    x = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def _np_attention(q, k, v, mask, scale, axis=-1, mask_mode="fill"):
    """numpy variant used only to recognise mistakes (never as the truth)."""
    q, k, v = (np.asarray(a, dtype=float) for a in (q, k, v))
    scores = q @ np.swapaxes(k, -1, -2) * scale
    m = None if mask is None else np.asarray(mask, dtype=bool)
    if m is not None and mask_mode == "fill":
        scores = np.where(m, scores, -1e30)
    if m is not None and mask_mode == "inverted":
        scores = np.where(m, -1e30, scores)
    weights = _softmax(scores, axis=axis)
    if m is not None and mask_mode == "after":
        weights = weights * m
    return {"output": (weights @ v).tolist(), "weights": weights.tolist()}


class ScaledDotProductAttention(FunctionQuestion):
    qid = "q1_sdpa"
    title = "缩放点积注意力（含可选 mask）"
    points = 3
    func = "scaled_dot_product_attention"
    arrays = {"q": "float64", "k": "float64", "v": "float64", "mask": "bool"}
    tolerance = ARRAY_TOL

    def _make(self, g, batch, lq, lk, dk, dv, mask_kind, public=False):
        q = g.standard_normal(batch + (lq, dk))
        k = g.standard_normal(batch + (lk, dk))
        v = g.standard_normal(batch + (lk, dv))
        mask = None
        if mask_kind == "causal":
            mask = np.broadcast_to(np.tril(np.ones((lq, lk), dtype=bool)), batch + (lq, lk)).tolist()
        elif mask_kind == "random":
            m = g.random(batch + (lq, lk)) < 0.6
            m[..., 0] = True  # every query keeps at least one key ...
            m[..., -1] = False  # ... and masks at least one
            mask = m.tolist()
        return self.case(public=public, q=rounded(q, 4), k=rounded(k, 4), v=rounded(v, 4), mask=mask)

    def public_cases(self):
        g = np.random.default_rng(0)
        return [self._make(g, (), 2, 3, 4, 2, None, public=True),
                self._make(g, (2,), 3, 3, 8, 4, "causal", public=True)]

    def random_cases(self, rng):
        g = np_rng(rng)
        r = lambda a, b: int(g.integers(a, b + 1))  # noqa: E731
        lq = r(2, 6)
        return [
            self._make(g, (), r(1, 5), r(2, 7), r(4, 16), r(2, 8), None),
            self._make(g, (r(2, 3),), r(2, 6), r(2, 7), r(4, 16), r(2, 8), None),
            self._make(g, (r(2, 3), r(2, 4)), r(2, 5), r(3, 7), r(4, 16), r(2, 8), "random"),
            self._make(g, (r(2, 3),), lq, lq, r(4, 16), r(2, 8), "causal"),
        ]

    def describe(self, kw):
        shape = lambda a: tuple(np.shape(a))  # noqa: E731
        text = "q%s, k%s, v%s" % (shape(kw["q"]), shape(kw["k"]), shape(kw["v"]))
        return text + (", mask%s" % (shape(kw["mask"]),) if kw["mask"] is not None else ", mask=None")

    def truth(self, q, k, v, mask):
        paddle = T.paddle()
        F = paddle.nn.functional
        q, k, v = (paddle.to_tensor(np.asarray(a, dtype="float64")) for a in (q, k, v))
        scores = paddle.matmul(q, k, transpose_y=True) / math.sqrt(q.shape[-1])
        if mask is not None:
            m = paddle.to_tensor(np.asarray(mask, dtype=bool))
            scores = paddle.where(m, scores, paddle.full_like(scores, float("-inf")))
        weights = F.softmax(scores, axis=-1)
        return {"output": paddle.matmul(weights, v).numpy().tolist(), "weights": weights.numpy().tolist()}

    def normalize(self, value, kw):
        if not isinstance(value, list) or len(value) != 2:
            raise ValueError("应返回 (output, weights) 两个数组组成的元组")
        return {"output": value[0], "weights": value[1]}

    def variants(self, q, k, v, mask):
        dk = np.shape(q)[-1]
        s = 1 / math.sqrt(dk)
        out = [
            ("没有除以 √d_k：分数应为 q·kᵀ/√d_k。", _np_attention(q, k, v, mask, 1.0)),
            ("缩放因子应为 1/√d_k，不是 1/d_k。", _np_attention(q, k, v, mask, 1.0 / dk)),
            ("softmax 的方向不对：应对最后一维（每个 query 对所有 key）做 softmax。",
             _np_attention(q, k, v, mask, s, axis=-2)),
        ]
        if mask is not None:
            out += [
                ("mask 中 True 表示“可以注意”，False 的位置才要屏蔽（设为 -inf），你把方向弄反了。",
                 _np_attention(q, k, v, mask, s, mask_mode="inverted")),
                ("mask 要在 softmax 之前作用在分数上（填 -inf），而不是 softmax 之后把权重乘 0（那样权重之和不再为 1）。",
                 _np_attention(q, k, v, mask, s, mask_mode="after")),
                ("没有使用 mask。", _np_attention(q, k, v, None, s)),
            ]
        return out


@lru_cache(maxsize=None)
def _unit_products(d_k: int, samples: int):
    g = np.random.default_rng([d_k, samples])
    q = g.standard_normal((samples, d_k), dtype=np.float32)
    k = g.standard_normal((samples, d_k), dtype=np.float32)
    return np.einsum("ij,ij->i", q, k, dtype=np.float64)


class ScoreVariance(FunctionQuestion):
    qid = "q2_score_variance"
    title = "点积分数的方差：缩放前与缩放后"
    points = 2
    func = "score_variance"
    samples = 4000
    # Monte-Carlo truth: relative s.e. <= 3%, so 0.15 is >= 5 s.e.
    tolerance = Tolerance(rtol=0.15, note="期望值是 4000 次蒙特卡洛模拟的估计")

    def public_cases(self):
        return [self.case(public=True, d_k=64, sigma=1.0, scaled=False),
                self.case(public=True, d_k=64, sigma=1.0, scaled=True)]

    def random_cases(self, rng):
        def sigma():
            return round(rng.choice([rng.uniform(0.5, 0.75), rng.uniform(1.35, 2.0)]), 3)

        return [self.case(d_k=rng.randint(4, 64), sigma=sigma(), scaled=flag)
                for flag in (False, True, False, True)]

    def truth(self, d_k, sigma, scaled):
        """Direct simulation: draw q, k with i.i.d. N(0, sigma^2) components.

        The draws are z·sigma with z ~ N(0, 1) from a generator seeded by d_k, so
        the unit-variance products are simulated once per d_k and reused."""
        unit = _unit_products(d_k, self.samples)
        s = unit * sigma ** 2
        if scaled:
            s = s / math.sqrt(d_k)
        return float(s.var(ddof=1))

    def variants(self, d_k, sigma, scaled):
        s4, s2 = sigma ** 4, sigma ** 2
        if scaled:
            return [
                ("你给出的是缩放之前的方差 d_k·σ⁴：除以 √d_k 后方差要除以 d_k。", d_k * s4),
                ("除以 √d_k 使方差缩小 d_k 倍（不是 d_k² 倍）。", s4 / d_k),
                ("每一项 q_i·k_i 的方差是 Var(q_i)·Var(k_i) = σ²·σ² = σ⁴，不是 σ²。", s2),
                ("方差与 σ 有关：缩放后是 σ⁴，只有 σ=1 时才等于 1。", 1.0),
            ]
        return [
            ("d_k 个独立项相加，方差也要相加：Var(q·k) = d_k·σ⁴。", s4),
            ("每一项 q_i·k_i 的方差是 σ⁴，不是 σ²。", d_k * s2),
            ("题目问的是方差，不是标准差。", math.sqrt(d_k) * s2),
        ]


class SoftmaxSaturation(FunctionQuestion):
    qid = "q3_softmax_saturation"
    title = "softmax 饱和：最大概率、熵与梯度大小"
    points = 2
    func = "softmax_saturation"
    arrays = {"q": "float64", "keys": "float64"}
    tolerance = Tolerance(rtol=1e-4, atol=1e-6)

    def _make(self, g, d, n, scaled, public=False):
        return self.case(public=public, q=rounded(g.standard_normal(d), 4),
                         keys=rounded(g.standard_normal((n, d)), 4), scaled=scaled)

    def public_cases(self):
        g = np.random.default_rng(1)
        return [self._make(g, 256, 6, False, public=True), self._make(g, 256, 6, True, public=True)]

    def random_cases(self, rng):
        g = np_rng(rng)
        out = []
        for scaled in (False, True, False, True):
            out.append(self._make(g, int(g.integers(64, 513)), int(g.integers(4, 11)), scaled))
        return out

    def describe(self, kw):
        return "q 维度 %d, keys 形状 (%d, %d), scaled=%s" % (len(kw["q"]), len(kw["keys"]), len(kw["q"]), kw["scaled"])

    def truth(self, q, keys, scaled):
        paddle = T.paddle()
        qv = np.asarray(q, dtype=float)
        scores = np.asarray(keys, dtype=float) @ qv
        if scaled:
            scores = scores / math.sqrt(len(qv))
        s = paddle.to_tensor(scores, stop_gradient=False)
        p = paddle.nn.functional.softmax(s)
        rows = [paddle.grad(p[i], s, retain_graph=True)[0].numpy() for i in range(len(scores))]
        jac = np.stack(rows)
        pn = p.numpy()
        entropy = float(-(pn[pn > 0] * np.log(pn[pn > 0])).sum())
        return {"max_prob": float(pn.max()), "entropy": entropy, "grad_norm": float(np.linalg.norm(jac))}

    @staticmethod
    def _stats(scores, log=np.log, diag_only=False):
        p = _softmax(np.asarray(scores, dtype=float))
        jac = np.diag(p) - np.outer(p, p)
        if diag_only:
            jac = np.diag(np.diag(jac))
        nz = p[p > 0]
        return {"max_prob": float(p.max()), "entropy": float(-(nz * log(nz)).sum()),
                "grad_norm": float(np.linalg.norm(jac))}

    def variants(self, q, keys, scaled):
        qv = np.asarray(q, dtype=float)
        raw = np.asarray(keys, dtype=float) @ qv
        scaled_scores = raw / math.sqrt(len(qv))
        right = scaled_scores if scaled else raw
        return [
            ("scaled=True 时要先把分数除以 √d_k 再做 softmax。" if scaled
             else "scaled=False 时不要缩放分数。", self._stats(raw if scaled else scaled_scores)),
            ("熵请用自然对数（ln），不是 log2。", self._stats(right, log=np.log2)),
            ("softmax 的雅可比矩阵是 diag(p) − p·pᵀ，非对角元素 −p_i·p_j 也要算进范数。",
             self._stats(right, diag_only=True)),
        ]


class MultiHeadShapes(FunctionQuestion):
    qid = "q4_multihead_shapes"
    title = "多头注意力中各张量的形状"
    points = 2
    func = "multihead_shapes"
    structure = True

    def public_cases(self):
        return [self.case(public=True, batch_size=2, seq_len=10, d_model=512, num_heads=8),
                self.case(public=True, batch_size=1, seq_len=4, d_model=10, num_heads=3)]

    def random_cases(self, rng):
        out = []
        for _ in range(3):
            h = rng.choice([2, 3, 4, 6, 8])
            out.append(self.case(batch_size=rng.randint(1, 4), seq_len=rng.randint(2, 9),
                                 d_model=h * rng.randint(2, 12), num_heads=h))
        h = rng.choice([3, 4, 8])
        out.append(self.case(batch_size=rng.randint(1, 4), seq_len=rng.randint(2, 9),
                             d_model=h * rng.randint(2, 12) + rng.randint(1, h - 1), num_heads=h))
        return out

    def truth(self, batch_size, seq_len, d_model, num_heads):
        paddle = T.paddle()
        try:
            mha = paddle.nn.MultiHeadAttention(d_model, num_heads, need_weights=True)
        except (AssertionError, ValueError):
            return "error"
        x = paddle.zeros([batch_size, seq_len, d_model])
        out, weights = mha(x, x, x)
        q, _, _ = mha._prepare_qkv(x, x, x)
        return {"head_dim": int(mha.head_dim), "q_heads": list(q.shape), "scores": list(weights.shape),
                "output": list(out.shape)}

    def judge(self, case, outcomes):
        expected = self.expected(case.data)
        if expected != "error":
            return super().judge(case, outcomes)
        o = outcomes[0]
        if not o.ok and o.kind == "error" and o.error.startswith("ValueError"):
            return [Check(True, case.label)]
        if not o.ok and o.kind != "error":
            return [Check(False, case.label, message=o.describe())]
        got = "抛出了 " + o.error if not o.ok else "返回了结果"
        return [Check(False, case.label, message="d_model 不能被 num_heads 整除，应抛出 ValueError（%s）" % got,
                      hint="先检查 d_model % num_heads == 0，否则 raise ValueError(...)")]

    def variants(self, batch_size, seq_len, d_model, num_heads):
        dh = d_model // num_heads
        right = {"head_dim": dh, "q_heads": [batch_size, num_heads, seq_len, dh],
                 "scores": [batch_size, num_heads, seq_len, seq_len], "output": [batch_size, seq_len, d_model]}
        return [
            ("每个头的维度是 head_dim = d_model / num_heads：多头是把 d_model 维切成 num_heads 份"
             "（每个头用 W_q、W_k、W_v 中属于自己的 head_dim 列），不是每个头各用 d_model 维。",
             dict(right, head_dim=d_model, q_heads=[batch_size, num_heads, seq_len, d_model])),
            ("每个头的维度是 head_dim = d_model / num_heads，不是 d_model。", dict(right, head_dim=d_model)),
            ("拆分多头后要把 head 维换到序列维前面：[batch, num_heads, seq_len, head_dim]。",
             dict(right, q_heads=[batch_size, seq_len, num_heads, dh])),
            ("注意力分数是每个 query 对每个 key 的打分：[batch, num_heads, seq_len, seq_len]，"
             "最后一维是 key 的个数，不是 head_dim。",
             dict(right, scores=[batch_size, num_heads, seq_len, dh])),
            ("每个头都有自己的注意力分数：[batch, num_heads, seq_len, seq_len]。",
             dict(right, scores=[batch_size, seq_len, seq_len])),
            ("多头输出拼接后再经过输出投影，回到 [batch, seq_len, d_model]。",
             dict(right, output=[batch_size, seq_len, num_heads, dh])),
        ]


class MultiHeadParams(FunctionQuestion):
    qid = "q5_mha_param_count"
    title = "多头注意力层（paddle.nn.MultiHeadAttention）的参数量"
    points = 2
    func = "mha_param_count"
    structure = True
    tolerance = EXACT

    def public_cases(self):
        return [self.case(public=True, embed_dim=512, num_heads=8, kdim=None, vdim=None)]

    def random_cases(self, rng):
        out = []
        for cross in (False, False, True, True):
            h = rng.choice([2, 4, 8])
            d = h * rng.randint(4, 32)
            kdim = rng.randint(8, 300) if cross else None
            vdim = rng.randint(8, 300) if cross else None
            out.append(self.case(embed_dim=d, num_heads=h, kdim=kdim, vdim=vdim))
        return out

    def truth(self, embed_dim, num_heads, kdim, vdim):
        paddle = T.paddle()
        with T.structure_only():
            return T.numel(paddle.nn.MultiHeadAttention(embed_dim, num_heads, kdim=kdim, vdim=vdim))

    def variants(self, embed_dim, num_heads, kdim, vdim):
        d = embed_dim
        kd, vd = kdim or d, vdim or d
        full = d * d + kd * d + vd * d + d * d + 4 * d
        return [
            ("q/k/v/输出 四个线性层都有偏置（各 embed_dim 个）。", full - 4 * d),
            ("别忘了把多头拼接结果映射回 embed_dim 的输出投影 out_proj。", full - d * d - d),
            ("k_proj、v_proj 的输入维度分别是 kdim、vdim（交叉注意力时不等于 embed_dim）。", 4 * d * d + 4 * d),
            ("k_proj 的输入维度是 kdim（交叉注意力时不等于 embed_dim）。", full - kd * d + d * d),
            ("v_proj 的输入维度是 vdim（交叉注意力时不等于 embed_dim）。", full - vd * d + d * d),
            ("线性层的偏置长度等于输出维度 embed_dim，与输入维度 kdim / vdim 无关。", full - 2 * d + kd + vd),
            ("k_proj、v_proj 把 kdim / vdim 维的输入投影到 embed_dim 维：权重是 kdim×embed_dim、vdim×embed_dim。",
             full - kd * d - vd * d + kd * kd + vd * vd),
            ("每个头并没有自己的 embed_dim×embed_dim 投影：W_q、W_k、W_v 各只有一个，第 h 个头用其中属于自己的"
             " head_dim = embed_dim/num_heads 列；各头的列块拼起来正好是整个矩阵，所以参数量与头数无关。",
             full * num_heads),
            ("每个头并没有自己的一套投影：W_q、W_k、W_v 和输出投影各只有一个，第 h 个头用 W_q、W_k、W_v 中属于自己的"
             " head_dim 列；你把投影（或偏置）乘了 num_heads。", full + (num_heads - 1) * 3 * d * d),
        ]


ASSIGNMENT = Assignment(
    name="attention",
    title="练习 4 · 注意力：缩放点积、为什么除以 √d_k（方差）、多头",
    questions=[ScaledDotProductAttention(), ScoreVariance(), SoftmaxSaturation(), MultiHeadShapes(),
               MultiHeadParams()],
)
