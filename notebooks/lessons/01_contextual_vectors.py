# %% [markdown]
# # 第 1 课 · 从静态词向量到上下文词向量
#
# **本课目标**
#
# 1. 亲眼看到：同一个词在两个句子里，预训练编码器给出的向量**不同**（余弦相似度），而静态词向量（word2vec、GloVe、或者模型的词嵌入表本身）**永远相同**。
#    再看一个实验：冻结编码器的各层特征怎样加权混合（ELMo 的用法），和微调比谁好（实验 `feature_mix`）。
# 2. 比较 ELMo / GPT / BERT / ERNIE：网络、预训练目标、各自“看得见”哪些上下文。
# 3. BERT 的输入 = 词嵌入（token）+ 句子嵌入（segment）+ 位置嵌入（position），在一个真实的句子对上逐项算一遍。
# 4. 掩码语言模型（MLM）：15% 的词元被选中，其中 80% 换成 `[MASK]`、10% 换成随机词、10% 不变。
#
# 本课只做推理（不训练），默认模式几分钟内跑完。用到的编码器是离线的 **multilingual-e5-small**
# （BERT 结构，12 层，隐层 384 维），由 `python -m tasks prepare` 转换成 PaddleNLP 的 `BertModel`。
#
# > 运行方式：从上到下依次运行（菜单 *Run → Run All Cells*）。环境变量 `COURSE_QUICK=1` 是给 CI 用的快速模式：
# > 数据和模型都缩小，只检查代码能跑通，数值没有意义。

# %%
import sys, pathlib
if not pathlib.Path("lesson_utils.py").exists():  # 从仓库根目录打开时
    sys.path.insert(0, "notebooks")
import lesson_utils as lu

L = lu.start("01")

import numpy as np
import paddle
import matplotlib.pyplot as plt
from tasks import models

MODEL = lu.pick("e5-small-zh", "e5-small-zh@2")  # 快速模式只取前 2 层
tokenizer = models.load_tokenizer(MODEL)
encoder = models.load_model(MODEL, "encoder")   # PaddleNLP 的 BertModel
encoder.eval()                                   # 关闭 dropout：同样的输入总是得到同样的向量
cfg = encoder.config
print(f"{MODEL}: {cfg.num_hidden_layers} 层, 隐层 {cfg.hidden_size} 维, {cfg.num_attention_heads} 个头, 词表 {cfg.vocab_size}")

# %% [markdown]
# ## 1. 一词多义：静态向量做不到的事
#
# word2vec / GloVe 给词表里的每个词**一个**向量：不管“苹果”出现在“吃了一个苹果”还是“苹果公司发布了新手机”里，
# 它的向量都是同一行。预训练语言模型的词嵌入表（`word_embeddings`，形状 `[词表大小, 隐层维度]`）也是这样一张静态的表；
# 但经过若干层 Transformer 之后，每个位置的输出向量都融合了整句话的信息，这就是**上下文词向量**：每次出现一个向量。
#
# 先看分词结果。“苹果”在下面每个句子里都是**一个词元**（SentencePiece 把常见词切成一个片段，`▁` 表示词首空格）。

# %%
SENTENCES = [  # (句子, 目标词, 义项)
    ("我今天吃了一个苹果。", "苹果", "水果"),
    ("这个苹果又甜又脆。", "苹果", "水果"),
    ("妈妈在超市买了几斤苹果和香蕉。", "苹果", "水果"),
    ("苹果公司发布了新手机。", "苹果", "公司"),
    ("我的苹果手机没电了。", "苹果", "公司"),
    ("苹果的股价今天上涨了。", "苹果", "公司"),
]
for sentence, word, sense in SENTENCES:
    ids = tokenizer(sentence)["input_ids"]
    print(f"[{sense}] " + " | ".join(tokenizer.convert_ids_to_tokens(ids)))

# %% [markdown]
# 对每个句子取出“苹果”这个位置的两种向量：
#
# * **静态向量**：词嵌入表里“苹果”那一行（`encoder.embeddings.word_embeddings.weight[id]`）；
# * **上下文向量**：编码器每一层在这个位置的输出（`output_hidden_states=True` 返回嵌入层输出 + 每一层的输出）。

# %%
def occurrence(sentence, word):
    """句子里 word（一个词元）的静态向量，以及它在每一层的上下文向量 [层数+1, 维度]。"""
    ids = tokenizer(sentence)["input_ids"]
    tokens = [t.lstrip("▁") for t in tokenizer.convert_ids_to_tokens(ids)]
    if word not in tokens:
        raise ValueError(f"{word!r} 在 {sentence!r} 里不是一个完整的词元: {tokens}")
    pos = tokens.index(word)
    with paddle.no_grad():
        out = encoder(paddle.to_tensor([ids]), output_hidden_states=True, return_dict=True)
    static = encoder.embeddings.word_embeddings.weight[ids[pos]].numpy()
    layers = np.stack([h[0, pos].numpy() for h in out.hidden_states])
    return static, layers


def cosine_matrix(x):
    x = x / np.linalg.norm(x, axis=-1, keepdims=True)
    return x @ x.T


vectors = [occurrence(s, w) for s, w, _ in SENTENCES]
static = np.stack([v[0] for v in vectors])           # [6, 384]
contextual = np.stack([v[1] for v in vectors])       # [6, 层数+1, 384]
names = [f"{sense}{i % 3 + 1}" for i, (_, _, sense) in enumerate(SENTENCES)]
senses = np.array([sense for _, _, sense in SENTENCES])
same = (senses[:, None] == senses[None, :]) & ~np.eye(len(senses), dtype=bool)
cross = senses[:, None] != senses[None, :]

n_layers = contextual.shape[1] - 1
mean_same = np.array([cosine_matrix(contextual[:, l])[same].mean() for l in range(n_layers + 1)])
mean_cross = np.array([cosine_matrix(contextual[:, l])[cross].mean() for l in range(n_layers + 1)])
best = int(np.argmax(mean_same - mean_cross))           # 两个义项分得最开的一层
print(f"静态向量: 两两余弦相似度全是 {cosine_matrix(static).min():.3f}（同一行词嵌入）")
for l in sorted({best, n_layers}):
    print(f"第 {l} 层上下文向量: 同一义项平均 {mean_same[l]:.3f}，不同义项平均 {mean_cross[l]:.3f}")

panels = [("静态词向量（词嵌入表的一行）", cosine_matrix(static))]
panels += [(f"上下文向量（第 {l} 层输出）", cosine_matrix(contextual[:, l])) for l in sorted({best, n_layers})]
low = min(m.min() for _, m in panels)
fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.4))
for ax, (title, matrix) in zip(axes, panels):
    ax.imshow(matrix, vmin=low, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(names)), names, rotation=45)
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="black" if matrix[i, j] > (low + 1) / 2 else "white")
    ax.set_title(title)
fig.suptitle("“苹果”在 6 个句子里的两两余弦相似度（水果 1-3、公司 1-3）", y=1.02)
L.save(fig, "polysemy")
plt.show()

# %% [markdown]
# 左图：静态向量对 6 个句子完全一样（余弦 = 1）。右边的上下文向量出现了**两个块**：
# 三个“水果”彼此更像，三个“公司”彼此更像。模型并没有被告知“苹果”有两个义项，这是预训练从大量文本里学到的。
#
# 上下文是一层一层融合进来的。下面看每一层的“同义项平均相似度”和“不同义项平均相似度”：

# %%
fig, ax = plt.subplots(figsize=(6.5, 3.6))
ax.plot(range(n_layers + 1), mean_same, "o-", label="同一义项（水果-水果、公司-公司）")
ax.plot(range(n_layers + 1), mean_cross, "s-", label="不同义项（水果-公司）")
ax.axhline(1.0, color="gray", ls=":", label="静态词向量（恒为 1）")
ax.set_xlabel("层（0 = 嵌入层输出：词 + 位置 + 句子嵌入）")
ax.set_ylabel("平均余弦相似度")
ax.set_title("“苹果”的向量在哪一层最能区分两个义项")
ax.legend(fontsize=8)
L.save(fig, "layers")
plt.show()
print("每层的差距（同义项 − 不同义项）:", np.round(mean_same - mean_cross, 3))

# %% [markdown]
# 第 0 层（嵌入层）几乎分不开：这时只加上了位置信息。越往上，两个义项分得越开；最后几层差距又变小了——
# e5 是为**句向量**训练的（对所有词元的输出取平均），顶层的每个词元向量都向整句的意思靠拢。
# 不同层的信息不一样。课程笔记说“序列标注可能更适合加权混合多层特征”，这张图本身并不能证明这一点；
# 要用实验来量：`python -m tasks experiment feature_mix`（`tasks/experiments/feature_mix.py`）把编码器冻结，
# 每条文本各层的输出只算一次，然后在情感、NER、匹配三个任务上各训练几种小模型：只用最上层、只用最好的那一层
# （在开发集上挑）、ELMo 式的加权混合 E = γ·Σ softmax(w)_j·E_j（w 和 γ 随任务学出来），
# 再和“微调最上面 2 层”比较；所有方法的训练步数、批大小都相同，3 个随机种子。下面显示仓库里提交的那次运行。

# %%
feature_mix = lu.experiment(L, "feature_mix")

# %% [markdown]
# 左图比较四种用法（点是各个种子），右图是 ELMo 式混合在每个任务上学到的层权重 softmax(w)。
# 课程笔记的三个说法在这里都可以对照：微调和“基于特征”谁好（看每组里橙色和其他颜色的差）；只用最上层是否够好；
# NER 的权重是否和情感的不一样（右图里两条曲线的峰值在哪一层，结论里打印了权重最大的层）。
# 注意比较是在**同样的步数**下做的（每种方法 60 步，NER 约 1 个 epoch）：冻结特征上的小模型学得快，微调要更多步才追上；
# 同样设计、步数多一些的那次运行里，NER 的微调就超过了混合（`benchmarks/experiments/README.md`）。结论总是“在这个预算下”。
#
# **自己试试**：在下面换成你想到的多义词（要求它在两个句子里都被切成一个词元；不是的话会打印出分词结果）。

# %%
MY_PAIRS = [  # (句子 A, 句子 B, 词)
    ("你这是什么意思？", "这部电影很有意思。", "意思"),
    ("我今天吃了一个苹果。", "苹果公司发布了新手机。", "苹果"),
    ("他在银行工作。", "我去银行取钱。", "银行"),      # 对照：两处是同一个义项
]
for a, b, word in MY_PAIRS:
    try:
        (sa, ca), (sb, cb) = occurrence(a, word), occurrence(b, word)
    except ValueError as err:
        print(err)
        continue
    cos = lambda x, y: float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))
    print(f"{word}: 静态 {cos(sa, sb):.3f}   第 {best} 层 {cos(ca[best], cb[best]):.3f}   "
          f"第 {n_layers} 层 {cos(ca[-1], cb[-1]):.3f}    「{a}」 vs 「{b}」")

# %% [markdown]
# ## 2. ELMo、GPT、BERT、ERNIE
#
# | | ELMo | GPT | BERT | ERNIE（1.0 / 2.0） |
# |---|---|---|---|---|
# | 网络 | 字符 CNN + 2 层双向 LSTM | 只有解码器一侧的 Transformer（decoder-only）：每层 = 掩码自注意力 + 前馈，**没有**交叉注意力 | Transformer 编码器 | Transformer 编码器 |
# | 预训练目标 | 前向 LM + 后向 LM（两个单向模型） | 从左到右的语言模型 | 掩码语言模型（MLM）+ 下一句预测（NSP） | MLM，但遮盖整个短语、实体；2.0：持续多任务预训练 |
# | 下游用法 | 基于特征：$E = \gamma \sum_j s_j h_j$，层权重 $s_j$ 按任务学习 | 微调 | 微调 | 微调 |
# | 弱点 | LSTM 逐步计算、慢，特征抽取能力弱 | 只看得见左边的上下文 | 微调时从不出现 `[MASK]`；只遮单个词元 | — |
#
# 相关改进：BERT-wwm（整词遮盖）、SpanBERT（遮盖连续片段）。
#
# > **讲义说 / 实际上**
# >
# > **讲义说**：GPT 的网络是“Transformer 解码器”。
# >
# > **实际上**：GPT 只用了解码器这一侧，而且去掉了一个子层。原始 Transformer（机器翻译）的解码器层有**三个**子层：
# > 掩码自注意力、读取编码器输出的编码器-解码器注意力（交叉注意力）、前馈网络——作业 `transformer_bert` Q3 数的就是这种层。
# > GPT 没有编码器，也就没有交叉注意力：它的每一层只有掩码自注意力和前馈**两个**子层，结构上就是“加了因果 mask 的编码器层”
# > （所以常说 GPT 是 decoder-only）。它和 BERT 的区别在 mask 和训练目标，不在于多了一个注意力。
#
# > **讲义说 / 实际上**
# >
# > **讲义说**：LeNet（CNN）出现在 RNN 之前。
# >
# > **实际上**：循环网络更早。Hopfield 网络（1982）、Jordan 网络（1986）、Rumelhart 等人用反向传播训练按时间展开的循环网络（1986）
# > 都早于 LeNet（1989 年用于手写邮编识别；常说的 LeNet-5 是 1998 年），LSTM（1997）也早于 LeNet-5。
# > 练习“哪个不是 RNN”里 LeNet 是答案，是因为它是卷积网络，不是因为它更新。
#
# 关键区别在于**表示第 t 个位置时，模型看得见哪些位置**。ELMo 的两个方向各自只看一边，最后把两个向量拼起来（“浅层”双向）；
# GPT 只看左边；BERT 每一层都同时看两边（“深层”双向）。下图每一行是一个位置，亮格子是它能看见的位置：

# %%
demo_tokens = tokenizer.convert_ids_to_tokens(tokenizer("苹果公司发布了新手机。")["input_ids"])[1:-1]
n = len(demo_tokens)
views = {
    "ELMo 前向 LSTM": np.tril(np.ones((n, n))),
    "ELMo 后向 LSTM": np.triu(np.ones((n, n))),
    "GPT（因果注意力）": np.tril(np.ones((n, n))),
    "BERT / ERNIE（双向注意力）": np.ones((n, n)),
}
fig, axes = plt.subplots(1, 4, figsize=(15, 3.8))
for ax, (title, m) in zip(axes, views.items()):
    ax.imshow(m, cmap="Blues", vmin=0, vmax=1.3)
    ax.set_xticks(range(n), demo_tokens, fontsize=8)
    ax.set_yticks(range(n), demo_tokens, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("被看见的位置")
axes[0].set_ylabel("正在表示的位置")
L.save(fig, "context")
plt.show()

# %% [markdown]
# 在“苹果公司发布了新手机”里，决定“苹果”义项的“公司”在它**右边**。只看左边的模型在“苹果”这个位置分不清两个义项。
# 我们可以用同一个编码器模拟这一点：传入一个下三角的注意力 mask（GPT 的因果 mask），每个位置就只能注意它左边的词元。
# （注意：这只是演示“只看左边”的后果，真正的 GPT 是用从左到右的语言模型训练出来的。）

# %%
def vector_at_apple(sentence, causal):
    ids = tokenizer(sentence)["input_ids"]
    n = len(ids)
    mask = None  # None：BertModel 只屏蔽 padding，每个位置看得见所有位置
    if causal:   # 加在注意力分数上的 mask：右上角是 -10000，softmax 之后权重 ≈ 0
        mask = paddle.to_tensor(((1 - np.tril(np.ones((n, n), dtype="float32"))) * -1e4)[None, None])
    pos = [t.lstrip("▁") for t in tokenizer.convert_ids_to_tokens(ids)].index("苹果")
    with paddle.no_grad():
        return encoder(paddle.to_tensor([ids]), attention_mask=mask)[0][0, pos].numpy()


a, b = "苹果公司发布了新手机。", "苹果很甜，我每天吃一个。"
for causal, label in [(False, "双向（BERT）"), (True, "只看左边（因果 mask）")]:
    x, y = vector_at_apple(a, causal), vector_at_apple(b, causal)
    print(f"{label:14s} cos(苹果@「{a}」, 苹果@「{b}」) = {x @ y / np.linalg.norm(x) / np.linalg.norm(y):.4f}")

# %% [markdown]
# 只看左边时两个向量**完全相同**（余弦 1.0000）：“苹果”左边都只有句首，后面的“公司”“很甜”根本进不来。
#
# ## 3. BERT 的输入：词 + 句子 + 位置
#
# BERT 把一个句子对写成 `[CLS] A [SEP] B [SEP]`，每个位置的输入向量是三个查表结果之和，再做 LayerNorm：
#
# $$\text{input}_i = \text{LayerNorm}(E_\text{token}[x_i] + E_\text{segment}[s_i] + E_\text{position}[i])$$
#
# * **词嵌入**：这个位置是哪个词元；
# * **句子嵌入**（segment）：属于句子 A（0）还是句子 B（1）。NSP、句子对分类需要它；
# * **位置嵌入**：第几个位置。自注意力本身对顺序不敏感（打乱词序，注意力的结果只是跟着打乱），没有位置信息模型就分不清“猫追狗”和“狗追猫”。
#   BERT 的位置嵌入是**学出来的参数**（一张 512 × 隐层维度 的表），原始 Transformer 的正弦位置编码按公式计算、没有参数。
#
# 我们用的编码器沿用 XLM-R 的分词器：句子对写成 `<s> A </s></s> B </s>`（`<s>` 相当于 `[CLS]`，`</s>` 相当于 `[SEP]`），
# 而且它返回的 `token_type_ids` 全是 0。下面按 BERT 的约定手工给出 0/1 的句子编号，把三项逐一查表相加，
# 再和模型自己的嵌入层输出比较。

# %%
text_a, text_b = "今天天气怎么样？", "明天会下雨吗？"
enc = tokenizer(text_a, text_pair=text_b)
ids = enc["input_ids"]
tokens = tokenizer.convert_ids_to_tokens(ids)
first_sep = tokens.index(tokenizer.sep_token)
segment = [0] * (first_sep + 1) + [1] * (len(ids) - first_sep - 1)  # BERT 约定：A 部分为 0，B 部分为 1
position = list(range(len(ids)))
print("分词器返回的 token_type_ids:", enc["token_type_ids"])
lu.table({"词元": tokens, "词元 id": ids, "句子 segment": segment, "位置 position": position}).T

# %%
emb = encoder.embeddings
T, S, P = (paddle.to_tensor([x]) for x in (ids, segment, position))
with paddle.no_grad():
    e_tok, e_seg, e_pos = emb.word_embeddings(T), emb.token_type_embeddings(S), emb.position_embeddings(P)
    by_hand = emb.layer_norm(e_tok + e_seg + e_pos)
    by_model = emb(T, token_type_ids=S)  # eval 模式下 dropout 不起作用
print("三张表的形状:", emb.word_embeddings.weight.shape, emb.token_type_embeddings.weight.shape,
      emb.position_embeddings.weight.shape)
print(f"手工相加 + LayerNorm 与模型嵌入层输出的最大差: {float((by_hand - by_model).abs().max()):.2e}")

fig, axes = plt.subplots(1, 4, figsize=(15, 4), sharey=True)
parts = [("词嵌入 token", e_tok), ("句子嵌入 segment", e_seg), ("位置嵌入 position", e_pos), ("LayerNorm(三者之和)", by_hand)]
for ax, (title, x) in zip(axes, parts):
    ax.imshow(x[0, :, :48].numpy(), cmap="RdBu_r", aspect="auto", vmin=-0.3 if "LayerNorm" not in title else -2,
              vmax=0.3 if "LayerNorm" not in title else 2)
    ax.set_title(title)
    ax.set_xlabel("前 48 维")
axes[0].set_yticks(range(len(tokens)), [f"{t} (s={s})" for t, s in zip(tokens, segment)], fontsize=8)
fig.suptitle(f"BERT 输入表示：「{text_a}」+「{text_b}」")
L.save(fig, "bert_input")
plt.show()

# %% [markdown]
# 句子嵌入那一栏只有两种行（A 的 0 号、B 的 1 号），位置嵌入每一行都不同。
#
# 位置嵌入是学出来的，它学到了什么？看两两位置的向量的余弦相似度：离得近的位置更相似，
# 还出现了一条条平行的斜纹——只依赖“相对距离”的周期性结构，和正弦位置编码很像，但这是从数据里学出来的。

# %%
pos_table = emb.position_embeddings.weight.numpy()[:64]
fig, ax = plt.subplots(figsize=(4.6, 4))
im = ax.imshow(cosine_matrix(pos_table), cmap="viridis")
ax.set_xlabel("位置 j")
ax.set_ylabel("位置 i")
ax.set_title("学到的位置嵌入：cos(位置 i, 位置 j)")
fig.colorbar(im, ax=ax)
L.save(fig, "positions")
plt.show()
print(f"位置嵌入的参数个数: {emb.position_embeddings.weight.shape[0]} × {emb.position_embeddings.weight.shape[1]} = "
      f"{int(np.prod(emb.position_embeddings.weight.shape)):,}（正弦位置编码: 0 个）")

# %% [markdown]
# ## 4. 掩码语言模型（MLM）：15%，其中 80 / 10 / 10
#
# BERT 预训练时随机选中 15% 的词元让模型去猜原词。被选中的词元里：
#
# * 80% 换成 `[MASK]`；
# * 10% 换成一个随机词元；
# * 10% 保持不变。
#
# 为什么不全部换成 `[MASK]`？因为微调和使用时输入里**从来没有** `[MASK]`；一部分保持原样、一部分换成随机词，
# 逼着模型对**每个**位置都给出好的表示，而不是只在看到 `[MASK]` 时才认真。
#
# PaddleNLP 的 `DataCollatorForLanguageModeling` 就是这样遮盖的（它也是 BERT 预训练用的做法）。
# 在一个句子上遮 5 次看看（`labels` 里不是 -100 的位置就是被选中、要预测的位置）：

# %%
from paddlenlp.data import DataCollatorForLanguageModeling

paddle.seed(2024)
collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)
sentence = "新华社北京3月5日电，第十四届全国人民代表大会第一次会议在人民大会堂开幕。"
encoded = tokenizer(sentence, return_special_tokens_mask=True)
original = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
rows = {"原句": original}
for k in range(5):
    batch = collator([dict(encoded)])
    masked_ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    shown = []
    for tok_id, orig, label in zip(masked_ids, original, labels):
        piece = tokenizer.convert_ids_to_tokens(tok_id)
        if label == -100:
            shown.append(piece)                      # 没被选中
        elif tok_id == tokenizer.mask_token_id:
            shown.append("[MASK]")                   # 80%
        elif piece == orig:
            shown.append(f"={piece}=")               # 10%：不变，但仍要预测
        else:
            shown.append(f"~{piece}~")               # 10%：随机词元
    rows[f"第 {k + 1} 次"] = shown
print("[MASK] = 换成 [MASK]；~x~ = 换成随机词元 x；=x= = 保持不变（但也要预测）")
lu.table(rows).T

# %% [markdown]
# 一个句子太短，看不出比例。在几百条评论上统计：被选中的比例应当接近 15%，被选中的里面 80 / 10 / 10。

# %%
from tasks.data.datasets import load_examples

texts = [ex["text"] for ex in load_examples("classification", "offline", "train")[: lu.pick(400, 40)]]
paddle.seed(0)
counts = {"selected": 0, "maskable": 0, "mask": 0, "random": 0, "same": 0}
for i in range(0, len(texts), 32):
    encs = [tokenizer(t, max_length=128, truncation=True, return_special_tokens_mask=True) for t in texts[i:i + 32]]
    originals = [e["input_ids"] for e in encs]
    batch = collator([dict(e) for e in encs])
    ids_after, labels = batch["input_ids"].numpy(), batch["labels"].numpy()
    for row_ids, row_labels, orig, e in zip(ids_after, labels, originals, encs):
        n = len(orig)
        counts["maskable"] += n - sum(e["special_tokens_mask"])
        chosen = row_labels[:n] != -100
        counts["selected"] += int(chosen.sum())
        counts["mask"] += int((chosen & (row_ids[:n] == tokenizer.mask_token_id)).sum())
        counts["same"] += int((chosen & (row_ids[:n] == np.array(orig))).sum())
counts["random"] = counts["selected"] - counts["mask"] - counts["same"]
share = {k: counts[k] / counts["selected"] for k in ("mask", "random", "same")}
print(f"{len(texts)} 条评论，{counts['maskable']} 个可遮盖的词元，选中 {counts['selected']} 个 = "
      f"{counts['selected'] / counts['maskable']:.1%}（期望 15%）")

fig, ax = plt.subplots(figsize=(5.5, 3.4))
labels_ = ["换成 [MASK]", "换成随机词元", "保持不变"]
ax.bar(np.arange(3) - 0.2, [0.8, 0.1, 0.1], width=0.4, label="BERT 的设定", color="lightgray")
ax.bar(np.arange(3) + 0.2, [share["mask"], share["random"], share["same"]], width=0.4, label="实际统计")
for x, v in enumerate([share["mask"], share["random"], share["same"]]):
    ax.text(x + 0.2, v + 0.01, f"{v:.1%}", ha="center", fontsize=9)
ax.set_xticks(range(3), labels_)
ax.set_ylabel("占被选中词元的比例")
ax.set_title(f"MLM 遮盖：选中 {counts['selected'] / counts['maskable']:.1%} 的词元")
ax.legend()
L.save(fig, "mlm_masking")
plt.show()

# %%
print(L.elapsed())

# %% [markdown]
# ## 小结
#
# * 静态词向量一个词一个向量；上下文词向量一次出现一个向量，能区分一词多义。
# * ELMo 是两个单向 LSTM 拼起来；GPT 只有解码器一侧（掩码自注意力 + 前馈，没有交叉注意力），只看左边；
#   BERT / ERNIE 每层都看两边；ERNIE 把遮盖单位从词元扩大到短语和实体。
# * BERT 的输入是词、句子、位置三个嵌入之和再 LayerNorm；位置嵌入是学出来的参数。
# * MLM 选 15%，其中 80% `[MASK]`、10% 随机、10% 不变。
#
# ## 练习（对应作业，见第 6 课怎样检查；编号是课程练习列表的编号）
#
# 1. **`mlm_masking`**：Q1 算出一段文本里被 `[MASK]` / 随机替换 / 保持不变的词元的期望个数；Q2 自己实现上面的遮盖函数（评分用统计检验）；
#    Q3（练习 6）ERNIE 式的整词 / 实体遮盖：给定词和实体的片段，一个片段的字一起遮；Q4（练习 6）从文档构造 NSP 和 SOP 的句子对。
# 2. **`transformer_bert`**（练习 5、7）：Q1、Q8 BERT 嵌入层的参数量和逐项形状（三张表 + LayerNorm）；Q5、Q6 正弦位置编码与可学习位置嵌入；
#    Q7 按本课第 3 节的公式算出 BERT 的输入表示。数参数量的题考的是结构：函数里不能用 paddle / PaddleNLP，要自己推导。
# 3. **`negative_sampling`**（练习 1）：word2vec 这类静态词向量是怎么训练的——为什么负采样比全词表 softmax 便宜。
# 4. **`concepts`**（练习 6、8）：Q1 哪个不是 RNN，Q5–Q8（SOP、n-gram 遮盖、位置嵌入和句子嵌入的作用）。
# 5. 思考：把第 1 节的句子换成“苹果”出现在句首、义项由右边的词决定的例子，再用因果 mask 算一遍，结果说明了 GPT 的什么局限？
