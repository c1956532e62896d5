"""Checks for assignment `transformer_bert`: Transformer layers, BERT size, position encodings."""

from __future__ import annotations

import math

import numpy as np

from .. import truth as T
from ..compare import EXACT, Tolerance
from ..spec import Assignment, FunctionQuestion, PartsQuestion, np_rng, rounded


def _bert_config(**kw):
    BertConfig, _, _ = T.bert()
    return BertConfig(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **kw)


def encoder_layer_formula(d, ff, *, biases=True, norms=2, ffn_linears=2, attn_out=True):
    attn = 4 * d * d + (4 * d if biases else 0)
    if not attn_out:
        attn -= d * d + (d if biases else 0)
    ffn = d * ff + ff * d + ((ff + d) if biases else 0)
    if ffn_linears == 1:
        ffn = d * ff + (ff if biases else 0)
    return attn + ffn + norms * 2 * d


def embeddings_formula(vocab_size, hidden_size, max_position_embeddings, type_vocab_size, *, position=True,
                       segment=True, norm=2):
    return hidden_size * (vocab_size + (max_position_embeddings if position else 0)
                          + (type_vocab_size if segment else 0) + norm)


class EmbeddingParams(FunctionQuestion):
    qid = "q1_bert_embeddings"
    title = "BERT 输入嵌入层的参数量"
    points = 2
    func = "bert_embedding_param_count"
    structure = True
    tolerance = EXACT

    def public_cases(self):
        return [self.case(public=True, vocab_size=30522, hidden_size=768, max_position_embeddings=512,
                          type_vocab_size=2)]

    def random_cases(self, rng):
        return [self.case(vocab_size=rng.randint(100, 30000), hidden_size=rng.randint(4, 64) * 4,
                          max_position_embeddings=rng.choice([64, 128, 256, 512, 1024]),
                          type_vocab_size=rng.choice([2, 3, 4, 16])) for _ in range(3)]

    def truth(self, vocab_size, hidden_size, max_position_embeddings, type_vocab_size):
        _, _, BertEmbeddings = T.bert()
        cfg = _bert_config(vocab_size=vocab_size, hidden_size=hidden_size,
                           max_position_embeddings=max_position_embeddings, type_vocab_size=type_vocab_size)
        with T.structure_only(paddlenlp=True):
            return T.numel(BertEmbeddings(cfg))

    def variants(self, **kw):
        return [
            ("别忘了嵌入相加之后的 LayerNorm（γ 和 β，各 hidden_size 个参数）。", embeddings_formula(**kw, norm=0)),
            ("LayerNorm 有两组参数：缩放 γ 和偏移 β。", embeddings_formula(**kw, norm=1)),
            ("BERT 的位置嵌入是可学习的：max_position_embeddings × hidden_size 个参数。",
             embeddings_formula(**kw, position=False)),
            ("别忘了句子（segment / token type）嵌入：type_vocab_size × hidden_size。",
             embeddings_formula(**kw, segment=False)),
            ("BERT 的输入嵌入 = 词嵌入 + 句子嵌入 + 位置嵌入，再做 LayerNorm；你只算了词嵌入。",
             embeddings_formula(**kw, position=False, segment=False, norm=0)),
            ("位置嵌入和 LayerNorm 都有参数。", embeddings_formula(**kw, position=False, norm=0)),
        ]


class _LayerParamsQuestion(FunctionQuestion):
    """Parameter count of one paddle.nn.Transformer*Layer(d_model, nhead, dim_feedforward)."""
    points = 2
    tolerance = EXACT
    structure = True
    layer_class = ""  # name in paddle.nn

    def public_cases(self):
        return [self.case(public=True, d_model=512, nhead=8, dim_feedforward=2048)]

    def random_cases(self, rng):
        out = []
        for _ in range(3):
            h = rng.choice([2, 4, 8])
            out.append(self.case(d_model=h * rng.randint(2, 32), nhead=h, dim_feedforward=rng.randint(8, 1024)))
        return out

    def truth(self, d_model, nhead, dim_feedforward):
        with T.structure_only():
            return T.numel(getattr(T.paddle().nn, self.layer_class)(d_model, nhead, dim_feedforward))


class EncoderLayerParams(_LayerParamsQuestion):
    qid = "q2_encoder_layer"
    title = "Transformer 编码器层（paddle.nn.TransformerEncoderLayer）的参数量"
    func = "encoder_layer_param_count"
    layer_class = "TransformerEncoderLayer"

    def variants(self, d_model, nhead, dim_feedforward):
        d, ff = d_model, dim_feedforward
        return [
            ("线性层都有偏置：注意力的 4 个投影各 d_model 个，前馈层两层分别 dim_feedforward 和 d_model 个。",
             encoder_layer_formula(d, ff, biases=False)),
            ("编码器层有两个 LayerNorm（自注意力子层、前馈子层之后各一个，每个 2×d_model）。",
             encoder_layer_formula(d, ff, norms=0)),
            ("每个子层（自注意力、前馈）后面都有 残差 + LayerNorm，共两个 LayerNorm。",
             encoder_layer_formula(d, ff, norms=1)),
            ("前馈网络是两层线性变换：d_model→dim_feedforward→d_model。", encoder_layer_formula(d, ff, ffn_linears=1)),
            ("多头注意力还有一个输出投影 out_proj（d_model×d_model + d_model）。",
             encoder_layer_formula(d, ff, attn_out=False)),
            ("每个头并没有自己的 d_model×d_model 投影：W_q、W_k、W_v 各只有一个，第 h 个头用其中属于自己的"
             " head_dim = d_model/nhead 列；各头的列块拼起来正好是整个矩阵，所以参数量与头数无关。",
             encoder_layer_formula(d, ff) + (nhead - 1) * (4 * d * d + 4 * d)),
            ("每个头并没有自己的一套 q/k/v 投影：第 h 个头用 W_q、W_k、W_v 中属于自己的 head_dim 列，"
             "参数量与头数无关。", encoder_layer_formula(d, ff) + (nhead - 1) * 3 * d * d),
        ]


class DecoderLayerParams(_LayerParamsQuestion):
    qid = "q3_decoder_layer"
    title = "Transformer 解码器层（paddle.nn.TransformerDecoderLayer）的参数量"
    func = "decoder_layer_param_count"
    layer_class = "TransformerDecoderLayer"

    def variants(self, d_model, nhead, dim_feedforward):
        d, ff = d_model, dim_feedforward
        enc = encoder_layer_formula(d, ff)
        return [
            ("解码器层 = 掩码自注意力 + 编码器-解码器（交叉）注意力 + 前馈，你少算了交叉注意力。", enc + 2 * d),
            ("解码器层 = 掩码自注意力 + 编码器-解码器（交叉）注意力 + 前馈，少了交叉注意力（和它后面的 LayerNorm）。",
             enc),
            ("解码器层有三个子层，每个后面都有 LayerNorm，共 3 个。", enc + 4 * d * d + 4 * d),
            ("线性层都有偏置。", encoder_layer_formula(d, ff, biases=False) + 4 * d * d + 2 * d),
        ]


class BertParams(FunctionQuestion):
    qid = "q4_bert_model"
    title = "整个 BertModel 的参数量"
    points = 3
    func = "bert_param_count"
    structure = True
    tolerance = EXACT

    def public_cases(self):
        # BERT-mini (L=4, H=256); BERT-base (L=12, H=768) has 109,482,240 parameters.
        return [self.case(public=True, vocab_size=30522, hidden_size=256, num_hidden_layers=4,
                          num_attention_heads=4, intermediate_size=1024, max_position_embeddings=512,
                          type_vocab_size=2)]

    def random_cases(self, rng):
        out = []
        for _ in range(2):
            h = rng.choice([2, 4])
            hidden = h * rng.randint(4, 24)
            out.append(self.case(vocab_size=rng.randint(100, 5000), hidden_size=hidden,
                                 num_hidden_layers=rng.randint(1, 3), num_attention_heads=h,
                                 intermediate_size=hidden * rng.randint(2, 4),
                                 max_position_embeddings=rng.choice([32, 64, 128, 512]),
                                 type_vocab_size=rng.choice([2, 4])))
        return out

    def truth(self, **kw):
        _, BertModel, _ = T.bert()
        config = _bert_config(**kw)
        with T.structure_only(paddlenlp=True):
            return T.numel(BertModel(config))

    def variants(self, vocab_size, hidden_size, num_hidden_layers, num_attention_heads, intermediate_size,
                 max_position_embeddings, type_vocab_size):
        h = hidden_size
        emb = embeddings_formula(vocab_size, h, max_position_embeddings, type_vocab_size)
        layer = encoder_layer_formula(h, intermediate_size)
        pooler = h * h + h
        return [
            ("BertModel 还有一个池化层 pooler（[CLS] 向量上的 Linear(hidden, hidden)）。",
             emb + num_hidden_layers * layer),
            ("别忘了输入嵌入层（词、句子、位置嵌入和 LayerNorm）。", num_hidden_layers * layer + pooler),
            ("嵌入层的 LayerNorm 也有参数。",
             embeddings_formula(vocab_size, h, max_position_embeddings, type_vocab_size, norm=0)
             + num_hidden_layers * layer + pooler),
            ("BERT 的位置嵌入是可学习参数。",
             embeddings_formula(vocab_size, h, max_position_embeddings, type_vocab_size, position=False)
             + num_hidden_layers * layer + pooler),
            ("每个编码器层有两个 LayerNorm。",
             emb + num_hidden_layers * encoder_layer_formula(h, intermediate_size, norms=0) + pooler),
            ("编码器层数是 num_hidden_layers，每层参数相同，要乘以层数。", emb + layer + pooler),
        ]


def _sinusoid(max_len, d_model, *, layout="interleave", exponent=2, swap=False):
    pos = np.arange(max_len, dtype=float)[:, None]
    i = np.arange(d_model // 2, dtype=float)[None, :]
    angle = pos / np.power(10000.0, exponent * i / d_model)
    first, second = (np.cos(angle), np.sin(angle)) if swap else (np.sin(angle), np.cos(angle))
    pe = np.zeros((max_len, d_model))
    if layout == "interleave":
        pe[:, 0::2], pe[:, 1::2] = first, second
    else:
        pe[:, : d_model // 2], pe[:, d_model // 2:] = first, second
    return pe.tolist()


class SinusoidalEncoding(FunctionQuestion):
    qid = "q5_sinusoidal"
    title = "Transformer 的正弦位置编码（固定，按公式计算）"
    points = 2
    func = "sinusoidal_position_encoding"
    tolerance = Tolerance(atol=1e-4)

    def public_cases(self):
        return [self.case(public=True, max_len=4, d_model=6)]

    def random_cases(self, rng):
        return [self.case(max_len=rng.randint(3, 60), d_model=2 * rng.randint(2, 32)) for _ in range(3)]

    def truth(self, max_len, d_model):
        paddle = T.paddle()
        pos = paddle.arange(max_len, dtype="float64").unsqueeze(1)
        two_i = paddle.arange(0, d_model, 2, dtype="float64").unsqueeze(0)
        angle = pos / paddle.pow(paddle.to_tensor(10000.0, dtype="float64"), two_i / d_model)
        pe = paddle.stack([paddle.sin(angle), paddle.cos(angle)], axis=-1).reshape([max_len, d_model])
        return pe.numpy().tolist()

    def variants(self, max_len, d_model):
        from paddlenlp.transformers.transformer.modeling import position_encoding_init

        T.paddle()
        return [
            ("sin 和 cos 要交错排列：偶数维 2i 用 sin，奇数维 2i+1 用 cos（你把 sin 和 cos 各拼成了一半）。",
             _sinusoid(max_len, d_model, layout="concat")),
            ("偶数维用 sin、奇数维用 cos，你把它们对调了。", _sinusoid(max_len, d_model, swap=True)),
            ("指数是 2i/d_model（i 是维度对的编号），不是 i/d_model。", _sinusoid(max_len, d_model, exponent=1)),
            ("这是 PaddleNLP / tensor2tensor 的变体（sin、cos 各占一半，频率分母为 d/2−1），"
             "题目要求的是论文中的公式 PE(pos,2i)=sin(pos/10000^(2i/d))。",
             position_encoding_init(max_len, d_model, dtype="float64").tolist()),
        ]


class PositionParams(FunctionQuestion):
    qid = "q6_position_params"
    title = "可学习位置嵌入（BERT）与固定位置编码（Transformer）的可训练参数"
    points = 2
    func = "position_param_count"
    structure = True
    tolerance = EXACT

    def public_cases(self):
        return [self.case(public=True, kind="learned", max_len=512, d_model=768),
                self.case(public=True, kind="sinusoidal", max_len=512, d_model=512)]

    def random_cases(self, rng):
        return [self.case(kind=kind, max_len=rng.choice([16, 32, 64, 128]), d_model=2 * rng.randint(4, 48))
                for kind in ("learned", "sinusoidal", "learned")]

    def truth(self, kind, max_len, d_model):
        """Count the position parameters that actually receive a gradient."""
        paddle = T.paddle()
        length = min(max_len, 8)
        if kind == "learned":
            _, _, BertEmbeddings = T.bert()
            emb = BertEmbeddings(_bert_config(vocab_size=16, hidden_size=d_model, max_position_embeddings=max_len,
                                              type_vocab_size=2))
            out = emb(paddle.zeros([1, length], dtype="int64"))
            params = [emb.position_embeddings.weight]
        else:
            from paddlenlp.transformers.transformer.modeling import PositionalEmbedding

            pe = PositionalEmbedding(d_model, max_len)
            out = pe(paddle.arange(length, dtype="int64").unsqueeze(0))
            params = list(pe.parameters())
        if not out.stop_gradient:
            out.sum().backward()
        return int(sum(math.prod(p.shape) for p in params if p.grad is not None))

    def variants(self, kind, max_len, d_model):
        if kind == "learned":
            return [("BERT 的位置嵌入是一张可学习的表：max_len × d_model 个参数，随训练更新。", 0),
                    ("位置嵌入表的大小由 max_len 决定，与当前句子长度无关。", 8 * d_model)]
        return [("正弦位置编码按公式计算，不参与训练，没有可训练参数。", max_len * d_model)]


class InputEmbedding(FunctionQuestion):
    qid = "q7_bert_input"
    title = "BERT 的输入表示：词 + 句子 + 位置嵌入，再 LayerNorm"
    points = 3
    func = "bert_input_embedding"
    arrays = {"input_ids": "int64", "token_type_ids": "int64", "word_embeddings": "float64",
              "position_embeddings": "float64", "token_type_embeddings": "float64", "gamma": "float64",
              "beta": "float64"}
    tolerance = Tolerance(rtol=1e-4, atol=1e-4)

    def _make(self, g, vocab, hidden, max_pos, seq, public=False):
        ids = g.integers(0, vocab, seq)
        split = int(g.integers(1, seq))
        types = np.r_[np.zeros(split, dtype=int), np.ones(seq - split, dtype=int)]
        return self.case(public=public, input_ids=ids.tolist(), token_type_ids=types.tolist(),
                         word_embeddings=rounded(g.standard_normal((vocab, hidden)), 4),
                         position_embeddings=rounded(g.standard_normal((max_pos, hidden)), 4),
                         token_type_embeddings=rounded(g.standard_normal((2, hidden)), 4),
                         gamma=rounded(1 + 0.1 * g.standard_normal(hidden), 4),
                         beta=rounded(0.1 * g.standard_normal(hidden), 4), eps=1e-12)

    def public_cases(self):
        return [self._make(np.random.default_rng(7), 10, 4, 8, 5, public=True)]

    def random_cases(self, rng):
        g = np_rng(rng)
        return [self._make(g, int(g.integers(8, 40)), int(g.integers(4, 17)), int(g.integers(10, 24)),
                           int(g.integers(3, 10))) for _ in range(3)]

    def describe(self, kw):
        return "input_ids=%s, token_type_ids=%s, hidden=%d" % (kw["input_ids"], kw["token_type_ids"],
                                                               len(kw["gamma"]))

    def truth(self, input_ids, token_type_ids, word_embeddings, position_embeddings, token_type_embeddings,
              gamma, beta, eps):
        paddle = T.paddle()
        _, _, BertEmbeddings = T.bert()
        vocab, hidden = np.shape(word_embeddings)
        emb = BertEmbeddings(_bert_config(vocab_size=vocab, hidden_size=hidden,
                                          max_position_embeddings=len(position_embeddings), type_vocab_size=2))
        emb.eval()
        for param, value in ((emb.word_embeddings.weight, word_embeddings),
                             (emb.position_embeddings.weight, position_embeddings),
                             (emb.token_type_embeddings.weight, token_type_embeddings),
                             (emb.layer_norm.weight, gamma), (emb.layer_norm.bias, beta)):
            param.set_value(np.asarray(value, dtype="float32"))
        emb.layer_norm._epsilon = eps
        out = emb(paddle.to_tensor([input_ids], dtype="int64"), paddle.to_tensor([token_type_ids], dtype="int64"))
        return out[0].numpy().astype(float).tolist()

    def variants(self, input_ids, token_type_ids, word_embeddings, position_embeddings, token_type_embeddings,
                 gamma, beta, eps):
        w, p, t = (np.asarray(a, dtype=float) for a in (word_embeddings, position_embeddings, token_type_embeddings))
        g, b = np.asarray(gamma, dtype=float), np.asarray(beta, dtype=float)
        ids, types = np.asarray(input_ids), np.asarray(token_type_ids)
        pos = np.arange(len(ids))

        def ln(x, affine=True):
            y = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps)
            return (y * g + b) if affine else y

        full = w[ids] + t[types] + p[pos]
        return [
            ("相加之后要做 LayerNorm（减均值、除以标准差，再乘 γ 加 β）。", full.tolist()),
            ("LayerNorm 之后还要乘 γ（gamma）、加 β（beta）。", ln(full, affine=False).tolist()),
            ("别忘了位置嵌入：第 i 个 token 加上 position_embeddings[i]。", ln(w[ids] + t[types]).tolist()),
            ("别忘了句子（segment）嵌入：按 token_type_ids 取 token_type_embeddings 的行。",
             ln(w[ids] + p[pos]).tolist()),
            ("位置编号从 0 开始。", ln(w[ids] + t[types] + p[pos + 1]).tolist() if len(p) > len(ids) else None),
            ("LayerNorm 是在每个 token 的 hidden 维上归一化，不是在序列维上。",
             (((full - full.mean(0, keepdims=True)) / np.sqrt(full.var(0, keepdims=True) + eps)) * g + b).tolist()),
        ]


class EmbeddingShapes(PartsQuestion):
    qid = "q8_embedding_shapes"
    title = "BERT 输入嵌入层逐项的参数形状：词、句子、位置嵌入与 LayerNorm"
    points = 2
    func = "bert_embedding_shapes"
    PARTS = {"word_embeddings.weight": "词嵌入（token）", "token_type_embeddings.weight": "句子嵌入（segment）",
             "position_embeddings.weight": "位置嵌入（position）", "layer_norm.weight": "LayerNorm 的 γ",
             "layer_norm.bias": "LayerNorm 的 β"}

    def public_cases(self):
        return [self.case(public=True, vocab_size=21128, hidden_size=768, max_position_embeddings=512,
                          type_vocab_size=2)]

    def random_cases(self, rng):
        return [self.case(vocab_size=rng.randint(100, 30000), hidden_size=rng.randint(4, 64) * 4,
                          max_position_embeddings=rng.choice([64, 128, 256, 512, 1024]),
                          type_vocab_size=t) for t in (2, rng.choice([3, 4, 16]), rng.choice([3, 4, 16]))]

    def truth(self, vocab_size, hidden_size, max_position_embeddings, type_vocab_size):
        _, _, BertEmbeddings = T.bert()
        cfg = _bert_config(vocab_size=vocab_size, hidden_size=hidden_size,
                           max_position_embeddings=max_position_embeddings, type_vocab_size=type_vocab_size)
        with T.structure_only(paddlenlp=True):
            return {name: list(p.shape) for name, p in BertEmbeddings(cfg).named_parameters()}

    def part_hint(self, name, expected, got, kw):
        what = self.PARTS.get(name, name)
        if got is None:
            if name.startswith("position"):
                return "BERT 的位置嵌入是可学习的参数：一张 max_position_embeddings × hidden_size 的表。"
            if name.startswith("token_type"):
                return "别忘了句子（segment）嵌入：一张 type_vocab_size × hidden_size 的表，区分句子 A 和 B。"
            if name.startswith("layer_norm"):
                return "三种嵌入相加之后有一个 LayerNorm，它有 γ（layer_norm.weight）和 β（layer_norm.bias）两组参数，各 hidden_size 个。"
            return "参数名请照 PaddleNLP 的 BertEmbeddings：%s。" % "、".join(self.PARTS)
        if expected is None:
            return "BertEmbeddings 只有这 5 个参数：%s。" % "、".join(self.PARTS)
        if isinstance(got, list) and got == expected[::-1] and len(got) == 2:
            return "嵌入表的形状是 [行数, hidden_size]：每一行是一个词（位置、句子类型）的向量。"
        if name.startswith("layer_norm"):
            return "LayerNorm 的 γ、β 是长度为 hidden_size 的向量（在每个词元的 hidden 维上归一化）。"
        if name.startswith("position"):
            return "位置嵌入表的行数是 max_position_embeddings（最多能表示多少个位置），与句子长度无关。"
        if name.startswith("token_type"):
            return "句子嵌入表的行数是 type_vocab_size（不一定是 2）。"
        if name.startswith("word"):
            return "%s表的行数是词表大小 vocab_size。" % what
        return ""


ASSIGNMENT = Assignment(
    name="transformer_bert",
    title="练习 3、5、7 · Transformer 与 BERT：层的组成、位置编码、BERT 的输入",
    questions=[EmbeddingParams(), EncoderLayerParams(), DecoderLayerParams(), BertParams(), SinusoidalEncoding(),
               PositionParams(), InputEmbedding(), EmbeddingShapes()],
)
