"""作业：注意力机制 —— 缩放点积注意力、为什么除以 √d_k、多头注意力

说明
----
* 把每个函数里的 ``raise NotImplementedError`` 换成你的实现。答案是 *函数*，
  评分时会用许多随机输入调用它们，所以不要把示例的结果直接写死。
* 输入的数组都是 numpy 数组（float64）。Q1–Q3 可以用 numpy 或 paddle 实现；返回 numpy
  数组、Python 列表或数字都可以。
* Q4、Q5 考的是你对多头注意力结构的理解：评分时这两个函数运行期间 **不能导入或调用 paddle /
  PaddleNLP**（也不能用别的会构造这些层的框架），否则该题记 0 分，反馈里写明原因。
* 自查：``python -m homework check attention``（或 ``pytest homework/graded/test_attention.py``）。
  检查结果会告诉你哪个输入错了、期望值是多少，以及可能犯了什么常见错误。
"""

import math

import numpy as np

ASSIGNMENT = "attention"


def scaled_dot_product_attention(q, k, v, mask=None):
    """Q1（3 分）缩放点积注意力。

    Attention(Q, K, V) = softmax(Q·Kᵀ / √d_k) · V

    参数
        q: 形状 (..., L_q, d_k)；k: 形状 (..., L_k, d_k)；v: 形状 (..., L_k, d_v)
           “...” 是任意多个批量维（可以没有），q、k、v 的批量维相同。
        mask: None，或形状 (..., L_q, L_k) 的布尔数组。True 表示该 query 可以注意该 key，
              False 表示屏蔽：在 softmax 之前把对应分数设为 -inf。
    返回
        (output, weights)：output 形状 (..., L_q, d_v)，weights 形状 (..., L_q, L_k)，
        weights 是 softmax 之后的注意力权重（每行之和为 1）。
    """
    raise NotImplementedError("TODO")


def score_variance(d_k, sigma, scaled):
    """Q2（2 分）点积分数的方差。

    q、k 是 d_k 维向量，各分量独立，服从均值 0、方差 sigma² 的正态分布。
    返回 score = q·k 的方差（scaled=False），或 score = q·k / √d_k 的方差（scaled=True）。
    （评分时用蒙特卡洛模拟验证，相对容差 15%。）

    思考：为什么 Transformer 要除以 √d_k？d_k=512 时不缩放，分数的标准差是多少？
    """
    raise NotImplementedError("TODO")


def softmax_saturation(q, keys, scaled):
    """Q3（2 分）softmax 饱和。

    q: 形状 (d,) 的查询向量；keys: 形状 (n, d) 的键矩阵。
    分数 s = keys · q，scaled=True 时再除以 √d。p = softmax(s)。
    返回 dict：
        "max_prob":  p 的最大值
        "entropy":   p 的熵 −Σ p_i·ln p_i（自然对数，p_i=0 的项记为 0）
        "grad_norm": softmax 的雅可比矩阵 ∂p/∂s 的 Frobenius 范数
                     （雅可比矩阵 J = diag(p) − p·pᵀ）
    观察：d 很大且不缩放时，max_prob → 1，熵和梯度 → 0（softmax 饱和，梯度消失）。
    """
    raise NotImplementedError("TODO")


def multihead_shapes(batch_size, seq_len, d_model, num_heads):
    """Q4（2 分）多头自注意力中各张量的形状（与 paddle.nn.MultiHeadAttention 一致）。

    输入 x 形状为 [batch_size, seq_len, d_model]。返回 dict：
        "head_dim": 每个头的维度
        "q_heads":  投影并拆分多头之后 Q 的形状（列表）
        "scores":   注意力权重（每个头各一份）的形状（列表）
        "output":   多头注意力层输出的形状（列表）
    d_model 不能被 num_heads 整除时，抛出 ValueError。
    """
    raise NotImplementedError("TODO")


def mha_param_count(embed_dim, num_heads, kdim=None, vdim=None):
    """Q5（2 分）paddle.nn.MultiHeadAttention(embed_dim, num_heads, kdim=kdim, vdim=vdim)
    的参数总数（含偏置）。kdim / vdim 为 None 时等于 embed_dim。

    提示：Q、K、V 各有一个线性投影，多头拼接之后还有一个输出投影。
    """
    raise NotImplementedError("TODO")
