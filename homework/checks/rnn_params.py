"""Checks for assignment `rnn_params`: parameter counts and shapes of recurrent networks."""

from __future__ import annotations

from .. import truth as T
from ..compare import EXACT
from ..spec import Assignment, FunctionQuestion, PartsQuestion

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
CELL_NAMES = {"rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


def _module(cell, input_size, hidden_size, num_layers, bidirectional, cheap=False):
    """The real paddle layer; cheap=True builds it without initialising weights (for counting only)."""
    paddle = T.paddle()
    cls = getattr(paddle.nn, CELL_NAMES[cell])
    args = dict(num_layers=num_layers, direction="bidirect" if bidirectional else "forward")
    if cheap:
        with T.rnn_structure_only():
            return cls(input_size, hidden_size, **args)
    return cls(input_size, hidden_size, **args)


def rnn_formula(cell, input_size, hidden_size, num_layers, bidirectional, *, gates=None, n_bias=2,
                dirs=None, upper_input=None, layers=None):
    """Closed form with knobs for known mistakes (used only to recognise them)."""
    g = GATES[cell] if gates is None else gates
    d = (2 if bidirectional else 1) if dirs is None else dirs
    h = hidden_size
    total = 0
    for layer in range(num_layers if layers is None else layers):
        if layer == 0:
            i = input_size
        else:
            i = (h * (2 if bidirectional else 1)) if upper_input is None else upper_input
        total += d * g * (h * i + h * h + n_bias * h)
    return total


def rnn_mistakes(cell, input_size, hidden_size, num_layers, bidirectional):
    """(hint, value) of the usual mistakes for an RNN layer stack."""
    args = (cell, input_size, hidden_size, num_layers, bidirectional)
    out = [
        ("Paddle 的循环层每个方向、每层都有两个偏置向量 b_ih 和 b_hh，你只算了一个。", rnn_formula(*args, n_bias=1)),
        ("别忘了偏置（Paddle 每层每个方向有 b_ih、b_hh 两个偏置向量）。", rnn_formula(*args, n_bias=0)),
        ("双向（bidirectional）每层有正、反两个方向各一套参数，要 ×2。",
         rnn_formula(cell, input_size, hidden_size, num_layers, False)),
        ("双向（bidirectional）每层有正、反两个方向各一套参数，要 ×2。", rnn_formula(*args, dirs=1)),
        ("第 2 层及以上的输入是上一层的输出（大小 hidden_size，双向时 2×hidden_size），不是 input_size。",
         rnn_formula(*args, upper_input=input_size)),
        ("双向网络第 2 层及以上的输入是正反两个方向输出的拼接，大小 2×hidden_size。",
         rnn_formula(*args, upper_input=hidden_size)),
        ("num_layers 层的参数要逐层相加，你只算了一层。", rnn_formula(*args, layers=1)),
    ]
    for wrong_gates, name in ((4, "LSTM 有 4 组（输入门、遗忘门、候选记忆、输出门）"), (3, "GRU 有 3 组（重置门、更新门、候选状态）"),
                              (1, "SimpleRNN 只有 1 组")):
        if wrong_gates != GATES[cell]:
            out.append(("门的组数不对：%s权重。" % name, rnn_formula(*args, gates=wrong_gates)))
    if cell != "rnn":
        out.append(("%s 每组门都有一套 W_ih、W_hh、b_ih、b_hh，%s。" % (CELL_NAMES[cell],
                    "LSTM 共 4 组" if cell == "lstm" else "GRU 共 3 组"), rnn_formula(*args, gates=1)))
    return out


class RNNCount(FunctionQuestion):
    func = "rnn_param_count"
    structure = True
    tolerance = EXACT
    cell = "rnn"

    def public_cases(self):
        return [self.case(public=True, cell=self.cell, input_size=128, hidden_size=256, num_layers=1,
                          bidirectional=False),
                self.case(public=True, cell=self.cell, input_size=100, hidden_size=64, num_layers=2,
                          bidirectional=True)]

    def random_cases(self, rng):
        out = []
        for layers, bi in ((1, False), (1, True), (rng.randint(2, 4), False), (rng.randint(2, 4), True)):
            out.append(self.case(cell=self.cell, input_size=rng.randint(3, 200), hidden_size=rng.randint(2, 128),
                                 num_layers=layers, bidirectional=bi))
        return out

    def truth(self, **kw):
        return T.numel(_module(**kw, cheap=True))

    def variants(self, **kw):
        return rnn_mistakes(**kw)


class SimpleRNNCount(RNNCount):
    qid = "q1_simple_rnn"
    title = "SimpleRNN 的参数量"
    points = 2
    cell = "rnn"


class LSTMCount(RNNCount):
    qid = "q2_lstm"
    title = "LSTM 的参数量"
    points = 2
    cell = "lstm"


class GRUCount(RNNCount):
    qid = "q3_gru"
    title = "GRU 的参数量"
    points = 2
    cell = "gru"


class ClassifierCount(FunctionQuestion):
    qid = "q4_rnn_classifier"
    title = "词嵌入 + RNN + 输出层 的文本分类模型参数量"
    points = 2
    func = "rnn_classifier_param_count"
    structure = True
    tolerance = EXACT

    def public_cases(self):
        return [self.case(public=True, cell="lstm", vocab_size=10000, embed_dim=128, hidden_size=256, num_layers=1,
                          bidirectional=True, num_classes=2)]

    def random_cases(self, rng):
        out = []
        for cell, bi in ((rng.choice(["rnn", "gru"]), False), ("lstm", True), (rng.choice(["gru", "lstm"]), True)):
            out.append(self.case(cell=cell, vocab_size=rng.randint(50, 5000), embed_dim=rng.randint(4, 128),
                                 hidden_size=rng.randint(4, 128), num_layers=rng.randint(1, 3), bidirectional=bi,
                                 num_classes=rng.randint(2, 20)))
        return out

    def truth(self, cell, vocab_size, embed_dim, hidden_size, num_layers, bidirectional, num_classes):
        paddle = T.paddle()
        dirs = 2 if bidirectional else 1
        with T.structure_only():
            head = [paddle.nn.Embedding(vocab_size, embed_dim), paddle.nn.Linear(hidden_size * dirs, num_classes)]
        rnn = _module(cell, embed_dim, hidden_size, num_layers, bidirectional, cheap=True)
        return sum(T.numel(m) for m in head + [rnn])

    def variants(self, cell, vocab_size, embed_dim, hidden_size, num_layers, bidirectional, num_classes):
        dirs = 2 if bidirectional else 1
        emb = vocab_size * embed_dim
        rnn = rnn_formula(cell, embed_dim, hidden_size, num_layers, bidirectional)
        head = hidden_size * dirs * num_classes + num_classes
        return [
            ("别忘了词嵌入层 Embedding(vocab_size, embed_dim) 的参数。", rnn + head),
            ("双向时输出层的输入是正反两个方向隐状态的拼接，大小 2×hidden_size。",
             emb + rnn + hidden_size * num_classes + num_classes),
            ("输出层 Linear 也有偏置（num_classes 个）。", emb + rnn + head - num_classes),
            ("Paddle 的循环层每层每个方向有两个偏置向量 b_ih、b_hh。",
             emb + rnn_formula(cell, embed_dim, hidden_size, num_layers, bidirectional, n_bias=1) + head),
            ("双向循环层每层有两个方向的参数。",
             emb + rnn_formula(cell, embed_dim, hidden_size, num_layers, bidirectional, dirs=1) + head),
            ("双向循环层每层有两个方向的参数。",
             emb + rnn_formula(cell, embed_dim, hidden_size, num_layers, False) + head),
        ]


class OutputShapes(FunctionQuestion):
    qid = "q5_rnn_shapes"
    title = "循环层输出与最终状态的形状"
    points = 2
    func = "rnn_output_shapes"
    structure = True
    tolerance = EXACT

    def public_cases(self):
        return [self.case(public=True, cell="lstm", batch_size=4, seq_len=7, input_size=16, hidden_size=32,
                          num_layers=2, bidirectional=True)]

    def random_cases(self, rng):
        out = []
        for cell, bi in ((rng.choice(["rnn", "gru"]), True), ("lstm", False), ("lstm", True)):
            out.append(self.case(cell=cell, batch_size=rng.randint(1, 5), seq_len=rng.randint(2, 9),
                                 input_size=rng.randint(2, 20), hidden_size=rng.randint(2, 20),
                                 num_layers=rng.randint(1, 3), bidirectional=bi))
        return out

    def truth(self, cell, batch_size, seq_len, input_size, hidden_size, num_layers, bidirectional):
        paddle = T.paddle()
        module = _module(cell, input_size, hidden_size, num_layers, bidirectional)
        outputs, states = module(paddle.zeros([batch_size, seq_len, input_size]))
        if cell == "lstm":
            h, c = states
            return {"outputs": list(outputs.shape), "h": list(h.shape), "c": list(c.shape)}
        return {"outputs": list(outputs.shape), "h": list(states.shape), "c": None}

    def variants(self, cell, batch_size, seq_len, input_size, hidden_size, num_layers, bidirectional):
        d = 2 if bidirectional else 1
        c = [num_layers * d, batch_size, hidden_size] if cell == "lstm" else None
        right = {"outputs": [batch_size, seq_len, hidden_size * d], "h": [num_layers * d, batch_size, hidden_size],
                 "c": c}
        return [
            ("双向时 outputs 的最后一维是两个方向的拼接：2×hidden_size。",
             dict(right, outputs=[batch_size, seq_len, hidden_size])),
            ("最终状态 h 的形状是 [num_layers×方向数, batch_size, hidden_size]（方向不拼在最后一维）。",
             dict(right, h=[num_layers, batch_size, hidden_size * d],
                  c=[num_layers, batch_size, hidden_size * d] if c else None)),
            ("Paddle 的最终状态不是 batch 优先：形状是 [num_layers×方向数, batch_size, hidden_size]。",
             dict(right, h=[batch_size, num_layers * d, hidden_size],
                  c=[batch_size, num_layers * d, hidden_size] if c else None)),
            ("只有 LSTM 有记忆单元 c；SimpleRNN、GRU 的 \"c\" 应为 None。" if cell != "lstm"
             else "LSTM 的最终状态包括 h 和 c，形状相同。", dict(right, c=None if c else right["h"])),
        ]


class ParamShapes(PartsQuestion):
    qid = "q6_rnn_param_shapes"
    title = "循环层每个参数的形状（W_ih、W_hh、b_ih、b_hh，逐层逐方向）"
    points = 2
    func = "rnn_param_shapes"

    def public_cases(self):
        return [self.case(public=True, cell="lstm", input_size=10, hidden_size=4, num_layers=2, bidirectional=True)]

    def random_cases(self, rng):
        out = []
        for cell, layers, bi in (("rnn", rng.randint(2, 3), False), ("gru", rng.randint(2, 3), True),
                                 ("lstm", rng.randint(1, 3), True)):
            out.append(self.case(cell=cell, input_size=rng.randint(3, 40), hidden_size=rng.randint(2, 16),
                                 num_layers=layers, bidirectional=bi))
        return out

    def truth(self, **kw):
        return {name: list(p.shape) for name, p in _module(**kw, cheap=True).named_parameters()}

    def part_hint(self, name, expected, got, kw):
        cell, h, inp, bi = kw["cell"], kw["hidden_size"], kw["input_size"], kw["bidirectional"]
        g = GATES[cell]
        if got is None:
            if name.startswith("bias_hh"):
                return "Paddle 的循环层每层、每个方向有两个偏置：b_ih（bias_ih_lk）和 b_hh（bias_hh_lk）。"
            if name.startswith("bias"):
                return "每层、每个方向都有偏置 b_ih、b_hh。"
            if name.endswith("_reverse"):
                return "双向（bidirectional）每层还有反方向的一整套参数，名字带 _reverse 后缀。"
            if not name.endswith(("_l0", "_l0_reverse")):
                return "num_layers 层每层都有自己的一套参数：_l0、_l1、……"
            return "参数名请照 Paddle 的命名：weight_ih_lk、weight_hh_lk、bias_ih_lk、bias_hh_lk（反方向加 _reverse）。"
        if expected is None:
            return "参数名请照 Paddle 的命名：weight_ih_lk、weight_hh_lk、bias_ih_lk、bias_hh_lk（反方向加 _reverse），" \
                   "单向时没有 _reverse，层号 k 从 0 开始。"
        if isinstance(got, list) and len(got) == 2 and list(got) == expected[::-1]:
            return "Paddle 循环层的权重形状是 [门数×hidden_size, 输入大小]（输出维在前），与 Linear 的 [输入, 输出] 相反。"
        if name.startswith("bias"):
            return "偏置是长度为 门数×hidden_size 的向量（%s：%d×hidden_size）。" % (CELL_NAMES[cell], g)
        rows = expected[0]
        got_rows = got[0] if isinstance(got, list) and got else None
        if g > 1 and got_rows == h:
            return "%s 的 %d 组门的权重按行堆叠在一个矩阵里：行数是 %d×hidden_size。" % (
                CELL_NAMES[cell], g, g)
        if got_rows is not None and got_rows != rows:
            return "行数是 门数×hidden_size（SimpleRNN 1 组、LSTM 4 组、GRU 3 组）。"
        if name.startswith("weight_ih") and not name.startswith("weight_ih_l0"):
            if got[1] == inp:
                return "第 2 层及以上的输入是上一层的输出，不是 input_size。"
            if bi and got[1] == h:
                return "双向网络第 2 层及以上的输入是正反两个方向输出的拼接：2×hidden_size。"
        if name.startswith("weight_hh"):
            return "W_hh 作用在本方向上一时刻的隐状态上：形状 [门数×hidden_size, hidden_size]。"
        return ""


ASSIGNMENT = Assignment(
    name="rnn_params",
    title="练习 2 · 循环神经网络的计算：参数量与形状",
    questions=[SimpleRNNCount(), LSTMCount(), GRUCount(), ClassifierCount(), OutputShapes(), ParamShapes()],
)
