"""作业：循环神经网络（RNN）的计算 —— 参数量与张量形状

说明
----
* 把每个函数里的 ``raise NotImplementedError`` 换成你的实现。答案是 *函数*：
  评分时用随机的尺寸调用它们，结果与 paddle.nn.SimpleRNN / LSTM / GRU 实际的参数个数比较。
* 约定与 Paddle 一致：
  - 每一层、每个方向有 W_ih（形状 [门数×hidden, 输入大小]）、W_hh（[门数×hidden, hidden]）
    和 **两个** 偏置向量 b_ih、b_hh（各 门数×hidden）。
  - 门数：SimpleRNN 1，LSTM 4，GRU 3。
  - bidirectional=True 时每层有正、反两个方向；第 2 层起的输入是上一层的输出。
* 自查：``python -m homework check rnn_params``。
"""

ASSIGNMENT = "rnn_params"


def rnn_param_count(cell, input_size, hidden_size, num_layers=1, bidirectional=False):
    """Q1–Q3（各 2 分）循环层的参数总数。

    cell: "rnn"（paddle.nn.SimpleRNN）、"lstm"（paddle.nn.LSTM）或 "gru"（paddle.nn.GRU）。
    例：LSTM(input_size=128, hidden_size=256) 有 4×(256×128 + 256×256 + 2×256) = 395264 个参数。
    """
    raise NotImplementedError("TODO")


def rnn_classifier_param_count(cell, vocab_size, embed_dim, hidden_size, num_layers, bidirectional,
                               num_classes):
    """Q4（2 分）文本分类模型的参数总数：

        Embedding(vocab_size, embed_dim)
        → 循环层(cell, embed_dim, hidden_size, num_layers, bidirectional)
        → Linear(最后时刻的隐状态（双向时两个方向拼接）, num_classes)（含偏置）
    """
    raise NotImplementedError("TODO")


def rnn_output_shapes(cell, batch_size, seq_len, input_size, hidden_size, num_layers, bidirectional):
    """Q5（2 分）输入形状为 [batch_size, seq_len, input_size] 时，Paddle 循环层
    ``outputs, final_states = layer(x)`` 的形状。

    返回 dict（形状用列表表示）：
        "outputs": outputs 的形状
        "h":       最终隐状态 h 的形状
        "c":       LSTM 最终记忆单元 c 的形状；SimpleRNN / GRU 没有 c，填 None
    """
    raise NotImplementedError("TODO")
