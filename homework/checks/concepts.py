"""Checks for assignment `concepts`: general knowledge, checked against the framework where possible."""

from __future__ import annotations

from .. import truth as T
from ..compare import EXACT, Tolerance
from ..spec import Assignment, ChoiceQuestion, FunctionQuestion

RNN_POOL = ["SimpleRNN", "LSTM", "GRU", "BiRNN"]
OTHER_POOL = ["LeNet", "AlexNet", "VGG", "ResNet", "MobileNetV2", "GoogLeNet"]


def _paddle_class(name):
    paddle = T.paddle()
    import paddle.vision.models as models

    return getattr(paddle.nn, name, None) or getattr(models, name)


class NotAnRNN(FunctionQuestion):
    qid = "q1_not_an_rnn"
    title = "下列模型中哪一个不是循环神经网络？"
    points = 1
    func = "not_an_rnn"
    structure = True
    tolerance = Tolerance()

    def public_cases(self):
        return [self.case(public=True, candidates=["LSTM", "GRU", "LeNet", "SimpleRNN"])]

    def random_cases(self, rng):
        out = []
        for _ in range(3):
            names = rng.sample(RNN_POOL, 3) + [rng.choice(OTHER_POOL)]
            rng.shuffle(names)
            out.append(self.case(candidates=names))
        return out

    def truth(self, candidates):
        """The one whose paddle class is not defined in paddle.nn.layer.rnn."""
        odd = [n for n in candidates if _paddle_class(n).__module__ != "paddle.nn.layer.rnn"]
        assert len(odd) == 1, candidates
        return odd[0]

    def variants(self, candidates):
        odd = self.expected({"candidates": candidates})
        return [("%s 是循环神经网络（paddle.nn.%s）；%s 是卷积神经网络（CNN，见 paddle.vision.models）。"
                 % (n, n, odd), n) for n in candidates if n != odd]


class SublayerCounts(FunctionQuestion):
    qid = "q2_sublayers"
    title = "编码器层与解码器层由哪些子层组成"
    points = 2
    func = "sublayer_counts"
    structure = True
    tolerance = EXACT

    def random_cases(self, rng):
        return [self.case(kind="encoder"), self.case(kind="decoder")]

    def truth(self, kind):
        paddle = T.paddle()
        nn = paddle.nn
        layer = (nn.TransformerEncoderLayer if kind == "encoder" else nn.TransformerDecoderLayer)(16, 2, 32)
        children = list(layer.children())
        return {"attention": sum(isinstance(c, nn.MultiHeadAttention) for c in children),
                "layer_norm": sum(isinstance(c, nn.LayerNorm) for c in children),
                "linear": sum(isinstance(c, nn.Linear) for c in children)}

    def variants(self, kind):
        if kind == "encoder":
            return [("编码器层的两个子层（自注意力、前馈）后面各有一个 残差 + LayerNorm。",
                     {"attention": 1, "layer_norm": 1, "linear": 2}),
                    ("前馈网络由两个线性层组成（d_model→dim_feedforward→d_model）。",
                     {"attention": 1, "layer_norm": 2, "linear": 1})]
        return [("解码器层有两个注意力：掩码自注意力和编码器-解码器（交叉）注意力。",
                 {"attention": 1, "layer_norm": 3, "linear": 2}),
                ("解码器层有三个子层，每个子层后都有 残差 + LayerNorm，共 3 个。",
                 {"attention": 2, "layer_norm": 2, "linear": 2}),
                ("解码器层 = 掩码自注意力 + 交叉注意力 + 前馈，各带 LayerNorm；你给出的是编码器层。",
                 {"attention": 1, "layer_norm": 2, "linear": 2})]


class CausalMask(FunctionQuestion):
    qid = "q3_causal_mask"
    title = "解码器自注意力的因果 mask"
    points = 1
    func = "causal_mask"
    structure = True
    tolerance = EXACT

    def public_cases(self):
        return [self.case(public=True, n=4)]

    def random_cases(self, rng):
        return [self.case(n=rng.randint(2, 12)) for _ in range(3)]

    def truth(self, n):
        paddle = T.paddle()
        additive = paddle.nn.Transformer.generate_square_subsequent_mask(None, n)  # 0 allowed, -inf blocked
        return (additive.numpy() == 0).tolist()

    def variants(self, n):
        import numpy as np

        lower = np.tril(np.ones((n, n), dtype=bool))
        return [("第 i 个位置只能注意第 0..i 个位置（下三角）；你给出的是上三角。", lower.T.tolist()),
                ("每个位置可以注意它自己：对角线应为 True。", np.tril(lower, -1).tolist()),
                ("True 表示“可以注意”，你把方向弄反了。", (~lower).tolist())]


def _choice(qid, attr, title, options, explanations):
    cls = type("Choice_" + qid, (ChoiceQuestion,), {
        "qid": qid, "title": title, "points": 1, "attr": attr, "options": options,
        "explanations": explanations, "assignment": "concepts"})
    return cls()


CHOICES = [
    _choice("q4_why_scale", "ANSWER_Q4", "为什么注意力分数要除以 √d_k（选择题）",
            {"A": "", "B": "", "C": "", "D": ""},
            {"A": "权重之和为 1 是 softmax 保证的，与缩放无关。",
             "C": "缩放并不减少计算量。", "D": "缩放不是正则化手段；想想 q·k 的方差随 d_k 怎样变化。"}),
    _choice("q5_sop", "ANSWER_Q5", "ALBERT 的 SOP 任务如何构造负例（选择题）",
            {"A": "", "B": "", "C": "", "D": ""},
            {"A": "这是 BERT 的 NSP 负例：两句来自不同文档，靠话题就能区分，任务太容易；SOP 用同一文档的相邻两句交换顺序。",
             "B": "那是 MLM 的做法。", "D": "SOP 改变的是句子的顺序，不是嵌入。"}),
    _choice("q6_ngram", "ANSWER_Q6", "n-gram / 片段遮盖的特点（选择题）",
            {"A": "", "B": "", "C": "", "D": ""},
            {"B": "n-gram 指连续的 n 个 token，与词频无关。", "C": "被遮住的 n 个连续 token 各用一个 [MASK]。",
             "D": "n-gram 遮盖仍然沿用 80/10/10 之类的替换策略。"}),
    _choice("q7_position", "ANSWER_Q7", "BERT 为什么需要位置嵌入（选择题）",
            {"A": "", "B": "", "C": "", "D": ""},
            {"A": "区分句子 A 和 B 是 segment（句子）嵌入的作用。", "B": "[CLS] 聚合整句信息靠的是自注意力。",
             "D": "可学习的位置嵌入反而把最大长度限制在 max_position_embeddings。"}),
    _choice("q8_segment", "ANSWER_Q8", "句子（segment）嵌入的作用（选择题）",
            {"A": "", "B": "", "C": "", "D": ""},
            {"A": "位置由位置嵌入表示。", "C": "是否被遮盖不通过嵌入告诉模型。", "D": "segment 嵌入与词表大小无关。"}),
]

ASSIGNMENT = Assignment(
    name="concepts",
    title="练习 6、8 · 综合：哪个不是 RNN、编码器/解码器的子层、SOP、n-gram 遮盖、BERT 的输入",
    questions=[NotAnRNN(), SublayerCounts(), CausalMask()] + CHOICES,
)
