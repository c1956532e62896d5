"""Checks for assignment `mlm_masking`: building pretraining data.

BERT's masked-language-model corruption (15%, 80/10/10), ERNIE-style whole-word / entity
masking over given spans, and NSP / SOP sentence pairs.  The statistical questions call the
student's function on many inputs and seeds and compare counts with the exact expectations of
the stated rule (binomial z-tests); PaddleNLP's DataCollatorForLanguageModeling provides the
truth for the expected MLM counts.
"""

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


def seed_check(outcomes, n: int, parsed, name: str) -> Check:
    """Calls n and n+1 repeat call 0 with the same seed and with another seed: the same seed must give
    the same result, another seed a different one."""
    reproducible = bool(parsed) and outcomes[n].value == outcomes[0].value
    varies = bool(parsed) and outcomes[n + 1].value != outcomes[0].value
    ok = reproducible and varies
    return Check(ok, name, is_input=False,
                 message="" if ok else ("同一个 seed 两次调用结果不同" if not reproducible else "换一个 seed 结果完全一样"),
                 hint="" if ok else "用参数 seed 创建随机数生成器，例如 rng = np.random.default_rng(seed)，所有随机数都从 rng 取。")


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
        checks.append(seed_check(outcomes, n_seq, parsed, names[1]))
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


def _z_sum(observed: float, mean: float, var: float) -> float:
    """z of a sum of independent terms with the given mean and variance."""
    if var <= 0:
        return 0.0 if abs(observed - mean) < 1e-9 else float("inf")
    return (observed - mean) / math.sqrt(var)


def _z_check(name, observed, total, mean, var, what, mistakes=()):
    """One statistical Check: observed/total against mean/total (z from mean and variance).

    mistakes: [(hint, mean, variance)] of known wrong rules; the first one the data fit gets its hint."""
    z = _z_sum(observed, mean, var)
    if abs(z) <= Z_LIMIT:
        return Check(True, name, is_input=False)
    hint = next((text for text, m, v in mistakes if abs(_z_sum(observed, m, v)) <= Z_LIMIT), "")
    return Check(False, name, message="%s比例为 %.4f（%d/%d），期望 %.4f，相差 %.1f 个标准误（|z| ≤ %.1f 才通过）"
                 % (what, observed / total, observed, total, mean / total, abs(z), Z_LIMIT),
                 expected="%.4f" % (mean / total), got="%.4f" % (observed / total), hint=hint, is_input=False)


# span lengths of the generated "sentences": single characters, words, and entity names (up to 6)
SPAN_LENGTHS = (1, 2, 3, 4, 5, 6)
SPAN_WEIGHTS = (0.3, 0.4, 0.12, 0.12, 0.03, 0.03)


class WholeWordMask(Question):
    qid = "q3_whole_word_mask"
    title = "ERNIE 式整词 / 实体遮盖：一个片段的字一起遮（统计检验）"
    points = 3
    kind = "statistical"
    func = "whole_word_mask"
    sequences = 120
    NAMES = ["输出格式与不变量", "同一 seed 可复现、不同 seed 结果不同", "一个片段的所有字一起遮盖",
             "被遮盖的 token 比例", "单字片段被选中的比例", "多字片段（词、实体）被选中的比例"]

    def _make(self, g, public=False):
        vocab = int(g.integers(1000, 21129))
        pad, cls, sep, mask = (int(x) for x in g.choice(np.arange(0, 200), size=4, replace=False))
        specials = {pad, cls, sep, mask}
        normal = np.setdiff1d(np.arange(vocab), sorted(specials))
        p = 0.15
        base_seed = int(g.integers(1, 2 ** 31))
        calls, seqs = [], []
        for i in range(self.sequences):
            body = int(g.integers(80, 127))
            spans, start = [], 1
            while start < 1 + body:
                length = min(int(g.choice(SPAN_LENGTHS, p=SPAN_WEIGHTS)), 1 + body - start)
                spans.append([start, start + length])
                start += length
            ids = [cls] + g.choice(normal, size=body).tolist() + [sep] + [pad] * (128 - body - 2)
            seqs.append((ids, spans))
            calls.append(Call(self.func, {"input_ids": ids, "spans": spans, "mask_token_id": mask,
                                          "seed": base_seed + i, "mask_prob": p}))
        calls.append(Call(self.func, dict(calls[0].kwargs)))
        calls.append(Call(self.func, dict(calls[0].kwargs, seed=base_seed - 1)))
        label = "%d 个长度 128 的序列，每个序列切成单字、词和实体片段（[MASK]=%d）" % (self.sequences, mask)
        return Case(calls=calls, label=label, data={"seqs": seqs, "mask": mask, "specials": sorted(specials),
                                                      "p": p}, public=public)

    def public_cases(self):
        return [self._make(np.random.default_rng(2025), public=True)]

    def random_cases(self, rng):
        return [self._make(np_rng(rng))]

    def judge(self, case, outcomes):
        d = case.data
        names = self.NAMES
        n_seq = len(d["seqs"])
        first_error = next((o for o in outcomes if not o.ok), None)
        if first_error is not None:
            return [Check(False, name, message=first_error.describe(), is_input=False) for name in names]
        mask_id, p = d["mask"], d["p"]
        problems: dict = {}
        partial = 0  # spans with some but not all of their tokens masked
        tokens = masked_tokens = 0
        single = [0, 0]  # [spans, selected]
        multi = [0, 0]
        lengths = []  # of every span, for the expected values
        parsed = 0
        for (ids, spans), outcome in zip(d["seqs"], outcomes[:n_seq]):
            value = outcome.value
            if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, list) for v in value)):
                problems.setdefault("应返回 (masked_ids, labels) 两个列表")
                break
            out, labels = value
            if len(out) != len(ids) or len(labels) != len(ids) or not all(
                    isinstance(x, int) and not isinstance(x, bool) for x in out + labels):
                problems.setdefault("masked_ids 和 labels 应是与输入等长的整数序列")
                break
            parsed += 1
            inside = set()
            for start, end in spans:
                inside.update(range(start, end))
                flags = []
                for i in range(start, end):
                    hit = labels[i] != -100
                    flags.append(hit)
                    if hit and (out[i] != mask_id or labels[i] != ids[i]):
                        problems.setdefault("被选中的位置 masked_ids 应为 [MASK]，labels 应为原来的 token id")
                    if not hit and out[i] != ids[i]:
                        problems.setdefault("未被选中的位置 masked_ids 必须保持原样（labels 为 -100）")
                length = end - start
                lengths.append(length)
                tokens += length
                masked_tokens += sum(flags)
                chosen = any(flags)
                if chosen and not all(flags):
                    partial += 1
                bucket = single if length == 1 else multi
                bucket[0] += 1
                bucket[1] += chosen
            for i in range(len(ids)):
                if i not in inside and (out[i] != ids[i] or labels[i] != -100):
                    problems.setdefault("特殊 token（[CLS]/[SEP]/[PAD]）不属于任何片段，不能被遮盖或修改")
        checks = [Check(not problems, names[0], message="；".join(list(problems)[:3]), is_input=False)]
        checks.append(seed_check(outcomes, n_seq, parsed, names[1]))
        if parsed < n_seq:
            return checks + [Check(False, name, message="输出格式不对，无法统计", is_input=False) for name in names[2:]]
        n_spans = len(lengths)
        checks.append(Check(partial == 0, names[2], is_input=False,
                            message="" if partial == 0 else "%d/%d 个片段只遮了一部分字" % (partial, n_spans),
                            expected="0 个片段只遮一部分", got="%d 个" % partial,
                            hint="" if partial == 0 else "整词 / 实体遮盖以片段为单位：一个片段被选中，它的所有字都换成 "
                            "[MASK]；没被选中，所有字都不动。不要逐字决定。"))
        L = np.asarray(lengths, dtype=float)
        expand = 1 - (1 - p) ** L  # "pick characters with p, then mask their whole spans"
        checks.append(_z_check(names[3], masked_tokens, tokens, p * L.sum(), p * (1 - p) * (L ** 2).sum(),
                               "被遮盖的 token ", [
            ("你是先按 mask_prob 逐字抽选、再把抽中的字所在的整个片段遮住：长片段被选中的概率变成 1−(1−p)^长度，"
             "遮盖比例超过 mask_prob。应以片段为单位抽选：每个片段以概率 mask_prob 被选中。",
             (L * expand).sum(), (L ** 2 * expand * (1 - expand)).sum()),
            ("被选中的片段要整段遮盖：你只遮了其中一部分字（例如第一个字），遮盖比例远低于 mask_prob。",
             p * n_spans, p * (1 - p) * n_spans)]))
        multi_expand = expand[L > 1]
        for name, (count, chosen), wrong in ((names[4], single, None), (names[5], multi, multi_expand)):
            if count == 0:
                checks.append(Check(True, name, is_input=False))
                continue
            mistakes = [] if wrong is None else [
                ("多字片段被选中的概率应与单字一样是 mask_prob：先逐字抽选再扩展到整个片段，"
                 "长片段就更容易被选中（1−(1−p)^长度）。", wrong.sum(), (wrong * (1 - wrong)).sum())]
            checks.append(_z_check(name, chosen, count, p * count, p * (1 - p) * count, "被选中的片段", mistakes))
        return checks


def _sentence(doc: int, i: int, word: str) -> str:
    return "第%d篇第%d句%s。" % (doc + 1, i + 1, word)


WORDS = ["天气", "晴朗", "学校", "图书馆", "老师", "同学", "火车", "北京", "长江", "音乐", "电影", "公园", "早饭",
         "实验", "数据", "模型", "训练", "花园", "小猫", "足球"]


class SentencePairs(Question):
    qid = "q4_sentence_pairs"
    title = "从文档构造 NSP 与 SOP 句子对：50% 正例，各自的负例（统计检验）"
    points = 3
    kind = "statistical"
    func = "sentence_pairs"
    corpora = 40
    NAMES = ["输出格式", "同一 seed 可复现、不同 seed 结果不同", "正例：相邻两句、原顺序、label 1",
             "NSP 负例：第二句随机取自另一篇文档", "SOP 负例：同一文档相邻两句交换顺序", "正例比例（期望 50%）"]

    def _make(self, g, public=False):
        base_seed = int(g.integers(1, 2 ** 31))
        calls, corpora = [], []
        for c in range(self.corpora):
            docs = []
            for d in range(int(g.integers(5, 10))):
                docs.append([_sentence(d, i, str(g.choice(WORDS))) for i in range(int(g.integers(2, 9)))])
            task = "nsp" if c % 2 == 0 else "sop"
            corpora.append((docs, task))
            calls.append(Call(self.func, {"documents": docs, "task": task, "seed": base_seed + c}))
        calls.append(Call(self.func, dict(calls[0].kwargs)))
        calls.append(Call(self.func, dict(calls[0].kwargs, seed=base_seed - 1)))
        label = "%d 组文档（每组 5–9 篇，每篇 2–8 句），NSP、SOP 各一半" % self.corpora
        return Case(calls=calls, label=label, data={"corpora": corpora}, public=public)

    def public_cases(self):
        return [self._make(np.random.default_rng(2026), public=True)]

    def random_cases(self, rng):
        return [self._make(np_rng(rng))]

    def judge(self, case, outcomes):
        names = self.NAMES
        corpora = case.data["corpora"]
        n = len(corpora)
        first_error = next((o for o in outcomes if not o.ok), None)
        if first_error is not None:
            return [Check(False, name, message=first_error.describe(), is_input=False) for name in names]
        fmt_problems: dict = {}
        pos_problems: dict = {}
        neg = {"nsp": {}, "sop": {}}  # task -> ordered set of problems
        neg_hint = {"nsp": "", "sop": ""}
        positives = total = 0
        nsp_next_doc = nsp_negatives = 0
        parsed = 0
        for (docs, task), outcome in zip(corpora, outcomes[:n]):
            value = outcome.value
            pairs = [(d, i) for d, doc in enumerate(docs) for i in range(len(doc) - 1)]
            if not isinstance(value, list) or len(value) != len(pairs):
                fmt_problems.setdefault("应返回一个列表，每对相邻句子（第 d 篇第 i、i+1 句）按顺序对应一项；"
                                        "这组文档有 %d 对，你返回了 %s 项"
                                        % (len(pairs), len(value) if isinstance(value, list) else "不是列表的"))
                break
            if not all(isinstance(x, list) and len(x) == 3 and isinstance(x[0], str) and isinstance(x[1], str)
                       and x[2] in (0, 1) and not isinstance(x[2], float) for x in value):
                fmt_problems.setdefault("每一项应是 [句子 A, 句子 B, label]，label 为整数 0 或 1")
                break
            parsed += 1
            where = {s: d for d, doc in enumerate(docs) for s in doc}
            for (d, i), (a, b, label) in zip(pairs, value):
                s_i, s_next = docs[d][i], docs[d][i + 1]
                total += 1
                if label == 1:
                    positives += 1
                    if (a, b) != (s_i, s_next):
                        pos_problems.setdefault("label 为 1 的项应是 [第 i 句, 第 i+1 句]（同一篇、原顺序）")
                    continue
                if (a, b) == (s_i, s_next):
                    pos_problems.setdefault("相邻两句按原顺序出现时是正例，label 应为 1")
                    continue
                problems = neg[task]
                if task == "nsp":
                    nsp_negatives += 1
                    if a != s_i or b not in where:
                        problems.setdefault("NSP 负例应是 [第 i 句, 另一篇文档中的一句]")
                        if (a, b) == (s_next, s_i):
                            neg_hint["nsp"] = neg_hint["nsp"] or "交换顺序是 SOP 的负例；NSP 的负例保留第一句，" \
                                "第二句从另一篇文档里随机取（所以 NSP 靠话题就能区分，任务偏容易）。"
                    elif where[b] == d:
                        problems.setdefault("NSP 负例的第二句来自同一篇文档")
                        neg_hint["nsp"] = neg_hint["nsp"] or "NSP 负例的第二句要从另一篇文档里随机取，" \
                            "不能取自同一篇（同一篇里的句子可能确实相关）。"
                    elif where[b] == (d + 1) % len(docs):
                        nsp_next_doc += 1
                else:
                    if (a, b) != (s_next, s_i):
                        problems.setdefault("SOP 负例应是 [第 i+1 句, 第 i 句]（同一篇相邻两句，顺序交换）")
                        if a == s_i and b in where and where[b] != d:
                            neg_hint["sop"] = neg_hint["sop"] or "这是 NSP 的负例（第二句来自另一篇文档）；" \
                                "ALBERT 的 SOP 负例是同一篇文档中相邻的两句交换顺序，只能靠句子的先后关系来区分。"
        checks = [Check(not fmt_problems, names[0], message="；".join(fmt_problems), is_input=False)]
        checks.append(seed_check(outcomes, n, parsed, names[1]))
        if parsed < n:
            return checks + [Check(False, name, message="输出格式不对，无法检查", is_input=False) for name in names[2:]]
        checks.append(Check(not pos_problems, names[2], message="；".join(pos_problems), is_input=False,
                            hint="label 1 表示 B 确实是紧接在 A 后面的下一句（正例），0 表示负例。" if pos_problems else ""))
        if nsp_negatives >= 20 and nsp_next_doc > 0.5 * nsp_negatives:
            neg["nsp"].setdefault("%d/%d 个 NSP 负例的第二句都取自下一篇文档" % (nsp_next_doc, nsp_negatives))
            neg_hint["nsp"] = neg_hint["nsp"] or "NSP 负例的第二句要从其他文档中 *随机* 抽取，不要总取下一篇。"
        for task, name in (("nsp", names[3]), ("sop", names[4])):
            checks.append(Check(not neg[task], name, message="；".join(neg[task]), is_input=False,
                                hint=neg_hint[task] if neg[task] else ""))
        checks.append(_z_check(names[5], positives, total, 0.5 * total, 0.25 * total, "正例", [
            ("每一对相邻句子以 50% 的概率作正例、50% 的概率作负例；你几乎全是正例。", 0.99 * total, 0.0099 * total),
            ("每一对相邻句子以 50% 的概率作正例、50% 的概率作负例；你几乎全是负例。", 0.01 * total, 0.0099 * total)]))
        return checks


ASSIGNMENT = Assignment(
    name="mlm_masking",
    title="练习 6（及讲义的 BERT 细节）· 预训练数据：MLM 遮盖、整词 / 实体遮盖、NSP 与 SOP 句子对",
    questions=[ExpectedCounts(), MaskTokens(), WholeWordMask(), SentencePairs()],
)
