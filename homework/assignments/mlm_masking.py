"""作业：BERT 的掩码语言模型（MLM）遮盖策略

BERT 预训练时，从每个序列的普通 token 中随机选出 15%（mask_prob）作为预测目标；
被选中的 token 中：80% 换成 [MASK]，10% 换成一个随机 token，10% 保持不变。
labels 在被选中的位置记录原来的 token id，其余位置为 -100（计算损失时忽略）。

说明
----
* 把每个函数里的 ``raise NotImplementedError`` 换成你的实现。
* Q2 是统计检验：评分时用不同的 seed 对 120 个序列调用你的函数，统计各比例，
  用二项 z 检验与期望比较（|z| ≤ 4.5 才通过；正确的实现几乎不可能被误判）。
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
