"""作业：预训练数据的构造 —— BERT 的 MLM 遮盖、ERNIE 的整词 / 实体遮盖、NSP 与 SOP 句子对

Q1–Q2：BERT 预训练时，从每个序列的普通 token 中随机选出 15%（mask_prob）作为预测目标；
被选中的 token 中：80% 换成 [MASK]，10% 换成一个随机 token，10% 保持不变。
labels 在被选中的位置记录原来的 token id，其余位置为 -100（计算损失时忽略）。

说明
----
* 把每个函数里的 ``raise NotImplementedError`` 换成你的实现。
* Q2–Q4 是统计检验：评分时用不同的 seed 多次调用你的函数，统计各比例，
  用 z 检验与规则给出的期望比较（|z| ≤ 4.5 才通过；正确的实现几乎不可能被误判）。
* 自查：``python -m homework check mlm_masking``。
"""

import numpy as np

ASSIGNMENT = "mlm_masking"


def expected_mask_counts(num_tokens, mask_prob=0.15):
    """Q1（2 分）一段共 num_tokens 个普通 token 的文本，按上述策略遮盖，返回各类 token 个数的 *期望*：

        {"selected": 被选中的个数, "mask": 换成 [MASK] 的个数,
         "random": 换成随机 token 的个数, "unchanged": 被选中但保持不变的个数}

    （评分时与 PaddleNLP 的 DataCollatorForLanguageModeling 的模拟结果比较，相对容差 5%。）
    """
    raise NotImplementedError("TODO")


def mask_tokens(input_ids, vocab_size, mask_token_id, special_token_ids, seed, mask_prob=0.15):
    """Q2（4 分）对一个序列做 MLM 遮盖，返回 (masked_ids, labels)，两个与 input_ids 等长的整数列表。

    input_ids: 整数列表，如 [CLS] w1 w2 ... [SEP] [PAD] [PAD]
    special_token_ids: 特殊 token 的 id 列表（包括 [PAD]、[CLS]、[SEP]、[MASK]），它们永远不被选中、不被修改。
    规则：
      1. 每个普通 token 以概率 mask_prob 被选中；
      2. 被选中的 token：80% 换成 mask_token_id，10% 换成从词表 [0, vocab_size) 中均匀抽取的普通 token
         （不能是特殊 token），10% 保持不变；
      3. labels：被选中的位置为原 token id，其余位置为 -100。
    随机性全部来自 seed（例如 rng = np.random.default_rng(seed)）：同一个 seed 结果必须相同。
    """
    raise NotImplementedError("TODO")


def whole_word_mask(input_ids, spans, mask_token_id, seed, mask_prob=0.15):
    """Q3（3 分）ERNIE 式的整词 / 实体遮盖，返回 (masked_ids, labels)，两个与 input_ids 等长的整数列表。

    中文按字切成 token，一个词（如“图书馆”）或实体（如“哈尔滨工业大学”）占好几个 token。
    BERT 逐个 token 遮盖时，模型看到“图[MASK]馆”就能猜出“书”，学不到词和实体这一级的知识；
    ERNIE（以及 BERT-wwm）改为以词 / 实体为单位遮盖。

    spans: 片段列表 [[start, end), ...]（end 不含），按顺序覆盖全部普通 token，每个片段是一个字、词或实体；
           特殊 token（[CLS]、[SEP]、[PAD]）不属于任何片段，永远不被遮盖。
    规则：
      1. 每个片段独立地以概率 mask_prob 被选中（与片段长短无关），所以被遮盖的 token 的期望比例正好是 mask_prob；
      2. 被选中片段的 **所有** 位置都换成 mask_token_id（本题不做 80/10/10），labels 记录原 token id；
      3. 其余位置不变，labels 为 -100。
    随机性全部来自 seed（例如 rng = np.random.default_rng(seed)）：同一个 seed 结果必须相同。
    """
    raise NotImplementedError("TODO")


def sentence_pairs(documents, task, seed):
    """Q4（3 分）从文档构造下一句预测（NSP，BERT）或句子顺序预测（SOP，ALBERT）的训练样本。

    documents: 文档列表，每篇文档是句子（字符串）的列表；task: "nsp" 或 "sop"。
    对每篇文档 d 中每一对相邻的句子 (第 i 句, 第 i+1 句)（先按文档、再按 i 的顺序），生成一个样本 [A, B, label]：
      * 以 50% 的概率作正例：[第 i 句, 第 i+1 句, 1]；
      * 否则作负例（label 0）：
        - NSP：[第 i 句, 从 *另一篇* 文档里随机抽取的一句, 0]；
        - SOP：[第 i+1 句, 第 i 句, 0]（同一篇相邻两句，交换顺序）。
    返回这些样本组成的列表（长度 = 所有文档的 (句数 − 1) 之和）。
    随机性全部来自 seed：同一个 seed 结果必须相同。

    思考：为什么 ALBERT 认为 NSP 太容易、改用 SOP？（提示：NSP 的负例换了话题。）
    """
    raise NotImplementedError("TODO")
