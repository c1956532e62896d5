"""作业：Transformer 与 BERT —— 层的组成、参数量、位置编码、输入表示

说明
----
* 把每个函数里的 ``raise NotImplementedError`` 换成你的实现。评分时用随机配置调用，
  结果与 paddle.nn.TransformerEncoderLayer / TransformerDecoderLayer 和 PaddleNLP 的
  BertModel / BertEmbeddings 实际的参数比较。
* 结构回顾：
  - 编码器层 = 多头自注意力 + 前馈网络（Linear → 激活 → Linear），两个子层后各有 残差 + LayerNorm。
  - 解码器层（编码器-解码器结构，如机器翻译）= 掩码多头自注意力 + 编码器-解码器（交叉）注意力 + 前馈网络，
    三个子层后各有 残差 + LayerNorm。读编码器输出的是交叉注意力（K、V 来自编码器），不是掩码自注意力。
    GPT 这种只有解码器一侧的模型没有编码器，也就没有交叉注意力：每层只有掩码自注意力 + 前馈。
  - 多头注意力：q/k/v 三个投影 + 输出投影，都带偏置；LayerNorm 有 γ、β 两组参数。
  - BERT 输入嵌入 = 词嵌入 + 句子（segment）嵌入 + 位置嵌入（可学习），相加后 LayerNorm。
  - BertModel = 输入嵌入 + num_hidden_layers 个编码器层 + pooler（Linear(hidden, hidden)）。
* Q1–Q4、Q6、Q8 考的是你对结构的理解：评分时这些函数运行期间 **不能导入或调用 paddle / PaddleNLP**
  （也不能用别的会构造这些层的框架），否则该题记 0 分，反馈里写明原因。真值由评分程序用框架算出。
  Q5、Q7 是数值计算，可以用 numpy 或 paddle。
* 自查：``python -m homework check transformer_bert``。
"""

import numpy as np

ASSIGNMENT = "transformer_bert"


def bert_embedding_param_count(vocab_size, hidden_size, max_position_embeddings, type_vocab_size):
    """Q1（2 分）BERT 输入嵌入层（PaddleNLP 的 BertEmbeddings）的参数总数。"""
    raise NotImplementedError("TODO")


def encoder_layer_param_count(d_model, nhead, dim_feedforward):
    """Q2（2 分）paddle.nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward) 的参数总数。"""
    raise NotImplementedError("TODO")


def decoder_layer_param_count(d_model, nhead, dim_feedforward):
    """Q3（2 分）paddle.nn.TransformerDecoderLayer(d_model, nhead, dim_feedforward) 的参数总数。"""
    raise NotImplementedError("TODO")


def bert_param_count(vocab_size, hidden_size, num_hidden_layers, num_attention_heads, intermediate_size,
                     max_position_embeddings, type_vocab_size):
    """Q4（3 分）整个 BertModel（含 pooler）的参数总数。

    参考：BERT-base（30522, 768, 12 层, 12 头, 3072, 512, 2）有 109,482,240 个参数。
    """
    raise NotImplementedError("TODO")


def sinusoidal_position_encoding(max_len, d_model):
    """Q5（2 分）论文 *Attention Is All You Need* 的正弦位置编码，返回形状 (max_len, d_model) 的数组：

        PE[pos, 2i]   = sin(pos / 10000^(2i / d_model))
        PE[pos, 2i+1] = cos(pos / 10000^(2i / d_model))

    （d_model 为偶数；绝对误差容差 1e-4。）
    """
    raise NotImplementedError("TODO")


def position_param_count(kind, max_len, d_model):
    """Q6（2 分）位置信息部分有多少个 *可训练* 参数（训练时会收到梯度的参数）？

    kind = "learned"：BERT 的可学习位置嵌入，最多 max_len 个位置，维度 d_model；
    kind = "sinusoidal"：Transformer 的固定正弦位置编码（按公式计算，不训练）。
    """
    raise NotImplementedError("TODO")


def bert_input_embedding(input_ids, token_type_ids, word_embeddings, position_embeddings,
                         token_type_embeddings, gamma, beta, eps=1e-12):
    """Q7（3 分）计算一句话的 BERT 输入表示（不含 dropout），返回形状 (seq_len, hidden) 的数组。

    input_ids: (seq_len,) 词的编号；token_type_ids: (seq_len,) 0 表示句子 A，1 表示句子 B。
    word_embeddings: (vocab, hidden)；position_embeddings: (max_pos, hidden)，第 i 个 token 的位置是 i；
    token_type_embeddings: (2, hidden)；gamma、beta: (hidden,) LayerNorm 的参数；eps: LayerNorm 的 ε。

    思考：为什么三种嵌入缺一不可？（自注意力本身不知道顺序；句对任务要区分两个句子。）
    """
    raise NotImplementedError("TODO")


def bert_embedding_shapes(vocab_size, hidden_size, max_position_embeddings, type_vocab_size):
    """Q8（2 分）逐项列出 BERT 输入嵌入层的参数和形状，返回 dict {参数名: 形状（列表）}。

    参数名与 PaddleNLP 的 BertEmbeddings 相同：
        "word_embeddings.weight"        词嵌入（token）
        "token_type_embeddings.weight"  句子嵌入（segment）
        "position_embeddings.weight"    位置嵌入（position，可学习）
        "layer_norm.weight"、"layer_norm.bias"  相加之后的 LayerNorm 的 γ、β
    （评分时与 BertEmbeddings(config).named_parameters() 逐项比较，哪一项错了就提示哪一项。）
    """
    raise NotImplementedError("TODO")
