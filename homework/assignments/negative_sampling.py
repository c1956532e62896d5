"""作业：负采样（negative sampling）—— 为什么采 k 个负样本比在整个词表上做 softmax 便宜

word2vec（skip-gram）中，中心词向量 v_c 预测上下文词 o。
* 全 softmax：P(o|c) = exp(u_o·v_c) / Σ_{w∈V} exp(u_w·v_c)，每一步都要用到词表中 *所有* 词的输出向量 u_w。
* 负采样：把它换成 k+1 个二分类：
      loss = −log σ(u_o·v_c) − Σ_{k 个负样本} log σ(−u_k·v_c)
  只用到正样本和 k 个负样本的输出向量。

说明
----
* 把每个函数里的 ``raise NotImplementedError`` 换成你的实现。Q1 的答案会与 paddle 中
  实际训练一步时收到梯度的参数个数比较。
* 自查：``python -m homework check negative_sampling``。
"""

import numpy as np

ASSIGNMENT = "negative_sampling"


def output_params_updated(vocab_size, embed_dim, num_negatives=None):
    """Q1（3 分）对一个（中心词, 上下文词）训练样本做一步梯度下降，输出词向量矩阵
    （vocab_size × embed_dim）中有多少个参数会收到（非零）梯度？

    num_negatives=None 表示使用全 softmax；否则表示负采样，负样本数为 num_negatives（互不相同，且不是上下文词）。
    由此可以看出负采样的计算量与词表大小无关。
    """
    raise NotImplementedError("TODO")


def negative_sampling_loss(center, context, negatives):
    """Q2（3 分）负采样损失的值。

    center: 中心词向量 v_c，形状 (d,)；context: 上下文词的输出向量 u_o，形状 (d,)；
    negatives: k 个负样本的输出向量，形状 (k, d)。
    返回 −log σ(u_o·v_c) − Σ_k log σ(−u_k·v_c)（一个浮点数，σ 为 sigmoid）。
    """
    raise NotImplementedError("TODO")


def noise_distribution(counts, power=0.75):
    """Q3（2 分）负样本的采样分布：P(w) = count(w)^power / Σ_w' count(w')^power。

    counts: 每个词的词频列表。返回与 counts 等长的概率列表。
    """
    raise NotImplementedError("TODO")
