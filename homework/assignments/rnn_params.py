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
* 这些题考的是你对结构的理解：评分时这些函数运行期间 **不能导入或调用 paddle / PaddleNLP**
  （也不能用别的会构造这些层的框架），否则该题记 0 分，反馈里写明原因。真值由评分程序用 paddle 算出。
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


def rnn_param_shapes(cell, input_size, hidden_size, num_layers, bidirectional):
    """Q6（2 分）逐个列出循环层的参数和形状，返回 dict {参数名: 形状（列表）}。

    参数名与 Paddle 相同（k 是层号，从 0 开始；反方向的参数名后面加 "_reverse"）：
        weight_ih_lk  输入到隐状态的权重 W_ih，形状 [门数×hidden_size, 这一层的输入大小]
        weight_hh_lk  隐状态到隐状态的权重 W_hh
        bias_ih_lk、bias_hh_lk  两个偏置 b_ih、b_hh
    例：rnn_param_shapes("rnn", 5, 3, 1, False) ==
        {"weight_ih_l0": [3, 5], "weight_hh_l0": [3, 3], "bias_ih_l0": [3], "bias_hh_l0": [3]}
    （评分时与 paddle.nn.SimpleRNN / LSTM / GRU 的 named_parameters() 逐项比较，哪一项错了就提示哪一项。）
    """
    raise NotImplementedError("TODO")
