"""作业：综合题 —— RNN 与 CNN、编码器/解码器的组成、SOP、n-gram 遮盖、BERT 的输入

说明
----
* Q1–Q3 是函数，评分时与 paddle 中对应的类 / 层比较。它们考的是你自己的理解：评分时这些函数
  运行期间 **不能导入或调用 paddle / PaddleNLP**，否则该题记 0 分，反馈里写明原因。
* Q4–Q8 是选择题：把 ANSWER_Qx 改成 "A"、"B"、"C" 或 "D"。选择题的答案由教师保管，
  本地 ``check`` 在没有答案文件时只检查格式。
* 自查：``python -m homework check concepts``。
"""

ASSIGNMENT = "concepts"


def not_an_rnn(candidates):
    """Q1（1 分）candidates 是 4 个模型名（paddle.nn 或 paddle.vision.models 中的类名），
    其中恰好一个不是循环神经网络。返回它的名字。

    例：not_an_rnn(["LSTM", "GRU", "LeNet", "SimpleRNN"]) 应返回 "LeNet"。
    """
    raise NotImplementedError("TODO")


def sublayer_counts(kind):
    """Q2（2 分）kind 为 "encoder" 或 "decoder"。Transformer 的一个编码器层 / 解码器层
    （paddle.nn.TransformerEncoderLayer / TransformerDecoderLayer）直接包含多少个：
        {"attention": 多头注意力层个数, "layer_norm": LayerNorm 个数, "linear": 前馈网络的线性层个数}
    """
    raise NotImplementedError("TODO")


def causal_mask(n):
    """Q3（1 分）解码器掩码自注意力的 mask：返回 n×n 的布尔矩阵（嵌套列表或 numpy 数组），
    mask[i][j] 为 True 表示第 i 个位置可以注意第 j 个位置。
    """
    raise NotImplementedError("TODO")


# Q4（1 分）为什么注意力分数要除以 √d_k？
#   A. 为了让注意力权重之和等于 1
#   B. d_k 较大时 q·k 的方差约为 d_k，分数的绝对值很大，softmax 饱和、梯度很小；除以 √d_k 使方差回到 1 左右
#   C. 为了减少矩阵乘法的计算量
#   D. 为了防止过拟合，相当于一种正则化
ANSWER_Q4 = None

# Q5（1 分）ALBERT 的句子顺序预测（SOP）任务，负例是怎样构造的？
#   A. 从另一篇文档中随机取一句作为第二句
#   B. 把第二句中 15% 的 token 换成 [MASK]
#   C. 取同一文档中相邻的两句，交换它们的顺序
#   D. 把两句话的 segment 嵌入互换
ANSWER_Q5 = None

# Q6（1 分）n-gram 掩码（如 ERNIE、SpanBERT 的短语 / 片段遮盖）与 BERT 原始的逐 token 遮盖相比：
#   A. 一次遮住连续的 n 个 token（一个词、短语或实体），模型不能只靠同一个词的其余部分猜出答案，需要学习更大单位的语义
#   B. 只遮盖出现频率最高的 n 个词
#   C. 把每个被选中的 token 替换成 n 个 [MASK]
#   D. 不再需要 80/10/10 的替换策略
ANSWER_Q6 = None

# Q7（1 分）BERT 为什么需要位置嵌入？
#   A. 为了区分句子 A 和句子 B
#   B. 为了让 [CLS] 向量包含整句的信息
#   C. 自注意力对输入的顺序没有感知（打乱输入顺序，输出只是相应地打乱），没有位置信息就分不清“狗咬人”和“人咬狗”
#   D. 为了让模型能处理任意长度的文本
ANSWER_Q7 = None

# Q8（1 分）BERT 输入中句子（segment / token type）嵌入的作用是？
#   A. 表示每个 token 在句子中的位置
#   B. 在句对输入 [CLS] A [SEP] B [SEP] 中，告诉模型每个 token 属于句子 A 还是句子 B
#   C. 表示该 token 是否被 [MASK] 替换过
#   D. 让词表可以更小
ANSWER_Q8 = None
