"""Checks for assignment `mlm_masking`: BERT's masked-language-model corruption (15%, 80/10/10)."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .. import truth as T
from ..compare import Tolerance
from ..spec import Assignment, Call, Case, Check, FunctionQuestion, Question, np_rng

MASK_PROBS = (0.15, 0.2, 0.3)
Z_LIMIT = 4.5  # two-sided binomial z-test; a correct implementation fails one test with p < 1e-5


@lru_cache(maxsize=None)
def collator_fractions(mask_prob: float, tokens: int = 1_000_000, vocab: int = 30000, mask_id: int = 103) -> dict:
    """Per-token fractions measured by running PaddleNLP's DataCollatorForLanguageModeling."""
    paddle = T.paddle()
    from paddlenlp.data import DataCollatorForLanguageModeling

    class _Tokenizer:  # the collator only needs these three things
        mask_token = "[MASK]"

        def __len__(self):
            return vocab

        def convert_tokens_to_ids(self, token):
            return mask_id

    collator = DataCollatorForLanguageModeling(tokenizer=_Tokenizer(), mlm=True, mlm_probability=mask_prob)
    paddle.seed(int(mask_prob * 1000) + 12345)
    rows = 1000
    x = paddle.randint(1000, vocab, [rows, tokens // rows], dtype="int64")
    inputs, labels = collator.paddle_mask_tokens(x.clone(), special_tokens_mask=paddle.zeros(x.shape, dtype="bool"))
    x, inputs, labels = x.numpy(), inputs.numpy(), labels.numpy()
    selected = labels != -100
    n = float(x.size)
    return {
        "selected": selected.sum() / n,
        "mask": (selected & (inputs == mask_id)).sum() / n,
        "random": (selected & (inputs != mask_id) & (inputs != x)).sum() / n,
        "unchanged": (selected & (inputs == x)).sum() / n,
    }


class ExpectedCounts(FunctionQuestion):
    qid = "q1_expected_counts"
    title = "MLM 遮盖的期望个数（15% 中 80% [MASK] / 10% 随机 / 10% 不变）"
    points = 2
    func = "expected_mask_counts"
    # Truth is a 10^6-token simulation of PaddleNLP's collator: relative s.e. <= 0.8% for the
    # smallest category, so 5% is more than 6 standard errors.
    tolerance = Tolerance(rtol=0.05, note="期望值由 PaddleNLP 的 DataCollatorForLanguageModeling 模拟 10⁶ 个 token 估计")

    def public_cases(self):
        return [self.case(public=True, num_tokens=1000, mask_prob=0.15)]

    def random_cases(self, rng):
        return [self.case(num_tokens=rng.randint(100, 100_000), mask_prob=p) for p in (0.15, rng.choice(MASK_PROBS))]

    def truth(self, num_tokens, mask_prob):
        return {k: v * num_tokens for k, v in collator_fractions(mask_prob).items()}

    def variants(self, num_tokens, mask_prob):
        n, p = num_tokens, mask_prob
        return [
            ("先选出 mask_prob 比例的 token，80/10/10 是在被选中的 token 里再分配。",
             {"selected": n, "mask": 0.8 * n, "random": 0.1 * n, "unchanged": 0.1 * n}),
            ("被选中的 token 并不全部换成 [MASK]：80% [MASK]、10% 随机 token、10% 保持不变。",
             {"selected": p * n, "mask": p * n, "random": 0.0, "unchanged": 0.0}),
            ("\"unchanged\" 只统计被选中但保持原样的 10%，不包括未被选中的 token。",
             {"selected": p * n, "mask": 0.8 * p * n, "random": 0.1 * p * n, "unchanged": n - 0.9 * p * n}),
            ("80% 是被选中 token 的 80%，不是全部 token 的 80%。",
             {"selected": p * n, "mask": 0.8 * n, "random": 0.1 * n, "unchanged": 0.1 * n}),
        ]


def _z(successes: int, trials: int, p: float) -> float:
    if trials == 0:
        return float("inf")
    return (successes - trials * p) / math.sqrt(trials * p * (1 - p))


class MaskTokens(Question):
    qid = "q2_mask_tokens"
    title = "实现 MLM 遮盖函数（统计检验）"
    points = 4
    kind = "statistical"
    func = "mask_tokens"
    sequences = 120

    def _make(self, g, public=False):
        vocab = int(g.integers(1000, 30001))
        specials = [int(x) for x in g.choice(np.arange(0, 200), size=4, replace=False)]  # PAD CLS SEP MASK
        pad, cls, sep, mask = specials
        normal = np.setdiff1d(np.arange(vocab), specials)
        calls, seqs = [], []
        base_seed = int(g.integers(1, 2 ** 31))
        for i in range(self.sequences):
            length = int(g.integers(100, 129))
            body = g.choice(normal, size=length - 2).tolist()
            ids = [cls] + body + [sep] + [pad] * (128 - length)
            seqs.append(ids)
            calls.append(Call(self.func, {"input_ids": ids, "vocab_size": vocab, "mask_token_id": mask,
                                          "special_token_ids": sorted(specials), "seed": base_seed + i,
                                          "mask_prob": 0.15}))
        # determinism: same seed again, then a different seed
        calls.append(Call(self.func, dict(calls[0].kwargs)))
        calls.append(Call(self.func, dict(calls[0].kwargs, seed=base_seed - 1)))
        data = {"vocab": vocab, "specials": specials, "mask": mask, "seqs": seqs, "p": 0.15}
        label = "%d 个长度 128 的序列（词表 %d，[MASK]=%d，特殊 token %s）" % (self.sequences, vocab, mask,
                                                                       sorted(specials))
        return Case(calls=calls, label=label, data=data, public=public)

    def public_cases(self):
        return [self._make(np.random.default_rng(2024), public=True)]

    def random_cases(self, rng):
        return [self._make(np_rng(rng))]

    def judge(self, case, outcomes):
        d = case.data
        n_seq = len(d["seqs"])
        names = ["输出格式与不变量", "同一 seed 结果可复现、不同 seed 结果不同", "选中比例", "[MASK] 比例",
                 "随机替换比例", "保持不变比例"]
        first_error = next((o for o in outcomes if not o.ok), None)
        if first_error is not None:
            return [Check(False, name, message=first_error.describe(), is_input=False) for name in names]
        specials = set(d["specials"])
        vocab, mask_id = d["vocab"], d["mask"]
        problems: dict = {}  # ordered set of messages
        counts = {"eligible": 0, "selected": 0, "mask": 0, "random": 0, "unchanged": 0}
        random_tokens = []
        parsed = []
        for i, (seq, outcome) in enumerate(zip(d["seqs"], outcomes[:n_seq])):
            value = outcome.value
            if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, list) for v in value)):
                problems.setdefault("应返回 (masked_ids, labels) 两个列表")
                break
            out, labels = value
            if len(out) != len(seq) or len(labels) != len(seq) or not all(
                    isinstance(x, int) and not isinstance(x, bool) for x in out + labels):
                problems.setdefault("masked_ids 和 labels 应是与输入等长的整数序列")
                break
            parsed.append((out, labels))
            for orig, new, lab in zip(seq, out, labels):
                selected = lab != -100
                if orig in specials:
                    if selected or new != orig:
                        problems.setdefault("特殊 token（[CLS]/[SEP]/[PAD] 等）不能被选中或修改")
                    continue
                counts["eligible"] += 1
                if not selected:
                    if new != orig:
                        problems.setdefault("未被选中的位置 masked_ids 必须保持原样（labels 为 -100）")
                    continue
                if lab != orig:
                    problems.setdefault("被选中位置的 labels 应为原来的 token id")
                counts["selected"] += 1
                if new == mask_id:
                    counts["mask"] += 1
                elif new == orig:
                    counts["unchanged"] += 1
                else:
                    counts["random"] += 1
                    random_tokens.append(new)
                    if not 0 <= new < vocab or new in specials:
                        problems.setdefault("随机替换的 token 必须是词表中的普通 token（不能是特殊 token，不能越界）")
        if len(random_tokens) >= 20 and len(set(random_tokens)) < 0.5 * len(random_tokens):
            problems.setdefault("随机替换的 token 应从词表中均匀抽取（你的随机 token 只有 %d 种）" % len(set(random_tokens)))
        checks = []
        unique = list(problems)
        checks.append(Check(not unique, names[0], message="；".join(unique[:3]), is_input=False))
        same, other = outcomes[n_seq].value, outcomes[n_seq + 1].value
        reproducible = parsed and same == outcomes[0].value
        varies = parsed and other != outcomes[0].value
        checks.append(Check(bool(reproducible and varies), names[1], is_input=False,
                            message="" if reproducible and varies else
                            ("同一个 seed 两次调用结果不同" if not reproducible else "换一个 seed 结果完全一样"),
                            hint="" if reproducible and varies else
                            "用参数 seed 创建随机数生成器，例如 rng = np.random.default_rng(seed)，所有随机数都从 rng 取。"))
        if len(parsed) < n_seq:
            return checks + [Check(False, name, message="输出格式不对，无法统计", is_input=False) for name in names[2:]]
        v_normal = vocab - len(specials)
        p = d["p"]
        sel = counts["selected"]
        tests = [
            (names[2], counts["selected"], counts["eligible"], p, "选中的 token", {
                0.8 * p: "你只选中了约 15%×80% = 12% 的 token：应先选 15%，再在其中分 80/10/10。",
                1.0: "不要选中所有 token。"}),
            (names[3], counts["mask"], sel, 0.8, "被选中 token 中换成 [MASK] 的", {
                1.0: "被选中的 token 只有 80% 换成 [MASK]，另外 10% 换成随机 token，10% 保持不变。",
                0.9: "被选中的 token 中只有 80% 换成 [MASK]（你的约 90%）。"}),
            (names[4], counts["random"], sel, 0.1 * (1 - 1 / v_normal), "被选中 token 中随机替换的", {
                0.0: "被选中的 token 中应有 10% 换成随机 token。",
                0.2: "被选中的 token 中 10% 随机替换、10% 保持不变；你把保持不变的 10% 也随机替换了。"}),
            (names[5], counts["unchanged"], sel, 0.1 + 0.1 / v_normal, "被选中 token 中保持不变的", {
                0.0: "被选中的 token 中应有 10% 保持不变（labels 仍记录原 token）。",
                0.2: "被选中的 token 中只有 10% 保持不变，另有 10% 应随机替换。"}),
        ]
        for name, k, n, p0, what, mistakes in tests:
            if n == 0:
                checks.append(Check(False, name, message="没有可统计的 token（%s为 0）" % what, is_input=False))
                continue
            z = _z(k, n, p0)
            rate = k / n
            if abs(z) <= Z_LIMIT:
                checks.append(Check(True, name, is_input=False))
                continue
            hint = ""
            for wrong, text in mistakes.items():
                if abs(_z(k, n, wrong if 0 < wrong < 1 else min(max(wrong, 1e-9), 1 - 1e-9))) <= Z_LIMIT:
                    hint = text
                    break
            checks.append(Check(False, name, message="%s比例为 %.4f（%d/%d），与期望 %.4f 相差 %.1f 个标准误"
                                "（二项 z 检验，|z| ≤ %.1f 才通过）" % (what, rate, k, n, p0, abs(z), Z_LIMIT),
                                expected="%.4f" % p0, got="%.4f" % rate, hint=hint, is_input=False))
        return checks


ASSIGNMENT = Assignment(
    name="mlm_masking",
    title="BERT 的掩码语言模型（MLM）遮盖",
    questions=[ExpectedCounts(), MaskTokens()],
)
