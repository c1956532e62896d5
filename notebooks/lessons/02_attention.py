# %% [markdown]
# # 第 2 课 · 注意力与 √d_k 缩放
#
# **本课目标**
#
# 1. 自己写出缩放点积注意力 $\text{Attention}(Q,K,V)=\text{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}\right)V$，
#    并验证它和预训练编码器内部算出的注意力权重**一模一样**。
# 2. 用模拟实验画出：不缩放时 $q\cdot k$ 的方差随 $d_k$ 线性增长；除以 $\sqrt{d_k}$ 之后方差恒为 1。
# 3. 看 softmax 饱和：分数太大时 softmax 几乎变成 one-hot，熵和梯度趋于 0。
# 4. 画出预训练编码器的注意力热力图（多头各看什么），找出把“她”连到“小红”的那个头。
# 5. 编码器层、解码器层和 GPT 的层各由哪些子层组成；“O(1)”到底数的是什么。
#
# 本课只做推理，默认模式一两分钟跑完。

# %%
import sys, pathlib
if not pathlib.Path("lesson_utils.py").exists():  # 从仓库根目录打开时
    sys.path.insert(0, "notebooks")
import lesson_utils as lu

L = lu.start("02")

import numpy as np
import paddle
import matplotlib.pyplot as plt
from tasks import models

MODEL = lu.pick("e5-small-zh", "e5-small-zh@2")
tokenizer = models.load_tokenizer(MODEL)
encoder = models.load_model(MODEL, "encoder")
encoder.eval()
cfg = encoder.config
print(f"{MODEL}: {cfg.num_hidden_layers} 层, 隐层 {cfg.hidden_size} 维, {cfg.num_attention_heads} 个头")

# %% [markdown]
# ## 1. 缩放点积注意力
#
# 每个位置有一个查询向量 $q$、一个键向量 $k$、一个值向量 $v$。位置 $i$ 对位置 $j$ 的注意力分数是 $q_i\cdot k_j/\sqrt{d_k}$，
# 对每一行做 softmax 得到权重（每行和为 1），输出是值向量的加权平均。用 numpy 写出来只要几行：

# %%
def attention(Q, K, V):
    """Q: [L_q, d_k], K: [L_k, d_k], V: [L_k, d_v] -> (输出 [L_q, d_v], 权重 [L_q, L_k])"""
    d_k = Q.shape[-1]
    scores = Q @ K.T / np.sqrt(d_k)
    scores = scores - scores.max(axis=-1, keepdims=True)  # 减去每行最大值：数值稳定，softmax 结果不变
    weights = np.exp(scores)
    weights = weights / weights.sum(axis=-1, keepdims=True)
    return weights @ V, weights


rng = np.random.default_rng(0)
Q, K, V = rng.standard_normal((3, 8)), rng.standard_normal((4, 8)), rng.standard_normal((4, 5))
out, w = attention(Q, K, V)
print("输出形状", out.shape, " 权重形状", w.shape)
print("权重（每行一个查询，和为 1）:\n", np.round(w, 3), "\n每行之和:", w.sum(axis=1))

# %% [markdown]
# ### 它就是 BERT 里的那个注意力
#
# 编码器第 1 层的自注意力（`paddle.nn.MultiHeadAttention`）先用三个线性层把输入投影成 Q、K、V，再按头切开：
# 隐层 384 维、12 个头，每个头 $d_k = 384/12 = 32$ 维。我们从模型里取出第 1 层的输入（嵌入层输出）和三个投影矩阵，
# 用上面的函数逐头计算，再和模型自己返回的注意力权重（`output_attentions=True`）比较。

# %%
sentence = "小明把苹果给了小红，因为她饿了。"
ids = tokenizer(sentence)["input_ids"]
tokens = tokenizer.convert_ids_to_tokens(ids)
with paddle.no_grad():
    out = encoder(paddle.to_tensor([ids]), output_hidden_states=True, output_attentions=True, return_dict=True)

self_attn = encoder.encoder.layers[0].self_attn
x = out.hidden_states[0][0].numpy()                     # 第 1 层的输入 [L, 384]
project = lambda linear: x @ linear.weight.numpy() + linear.bias.numpy()  # paddle 的 Linear 权重形状是 [输入, 输出]
Q, K, V = project(self_attn.q_proj), project(self_attn.k_proj), project(self_attn.v_proj)
H, d = self_attn.num_heads, self_attn.head_dim
ours = np.stack([attention(Q[:, h * d:(h + 1) * d], K[:, h * d:(h + 1) * d], V[:, h * d:(h + 1) * d])[1]
                 for h in range(H)])
theirs = out.attentions[0][0].numpy()                   # [头数, L, L]
print(f"词元: {tokens}")
print(f"输入 {x.shape} -> Q {Q.shape} -> 切成 {H} 个头，每头 Q {Q[:, :d].shape}；每个头的权重 {ours.shape[1:]}，共 {ours.shape}")
print(f"我们的注意力权重与模型返回的最大差: {np.abs(ours - theirs).max():.2e}")

# %% [markdown]
# 完全一致（差别只是浮点舍入）。多头注意力就是把 12 个这样的注意力并行算完，把 12 个 32 维的输出拼回 384 维，
# 再过一个输出投影 `out_proj`。
#
# 注意上面第 h 个头用的是 `Q[:, h*d:(h+1)*d]`，也就是 $W_q$ 的第 h 块列（K、V 同理）：**每个头有自己的投影参数**，
# 只是 12 个 384×32 的块并排放在一个 384×384 的矩阵里。所以多头注意力的参数量与头数无关——不是因为各头“共享”
# 一个投影，而是各头的投影合起来正好是一个 $d\times d$ 矩阵。
#
# ## 2. 为什么要除以 √d_k：方差
#
# 设 $q, k$ 的各分量独立、均值 0、方差 1。那么 $q\cdot k=\sum_{i=1}^{d_k} q_i k_i$ 是 $d_k$ 个独立项之和，
# 每项方差为 1，所以 $\operatorname{Var}(q\cdot k)=d_k$，标准差 $\sqrt{d_k}$。除以 $\sqrt{d_k}$ 之后方差回到 1，与维度无关。
# 用模拟验证：

# %%
rng = np.random.default_rng(0)
dims = [4, 8, 16, 32, 64, 128, 256, 512, 1024]
samples = lu.pick(10000, 1000)
var_raw, var_scaled = [], []
for d_k in dims:
    q = rng.standard_normal((samples, d_k), dtype=np.float32)
    k = rng.standard_normal((samples, d_k), dtype=np.float32)
    score = (q * k).sum(axis=1)
    var_raw.append(score.var())
    var_scaled.append((score / np.sqrt(d_k)).var())

fig, ax = plt.subplots(figsize=(6, 4))
ax.loglog(dims, var_raw, "o-", label=r"不缩放: Var($q\cdot k$)")
ax.loglog(dims, var_scaled, "s-", label=r"缩放: Var($q\cdot k/\sqrt{d_k}$)")
ax.loglog(dims, dims, ":", color="gray", label=r"理论值 $d_k$")
ax.set_xlabel(r"$d_k$")
ax.set_ylabel("方差（对数坐标）")
ax.set_title(r"点积分数的方差：不缩放时随 $d_k$ 线性增长")
ax.legend()
L.save(fig, "variance")
plt.show()
var_raw, var_scaled = np.array(var_raw, dtype=float), np.array(var_scaled, dtype=float)
lu.table({"d_k": dims, "Var(q·k)": var_raw.round(1), "Var(q·k/√d_k)": var_scaled.round(3),
          "不缩放的标准差": np.sqrt(var_raw).round(1)})

# %% [markdown]
# ## 3. softmax 饱和
#
# 方差大意味着分数之间的差距大。softmax 对差距非常敏感：分数差 10，概率就差 $e^{10}\approx 22000$ 倍。
# 于是最大的那个分数拿走几乎全部概率（接近 one-hot），这叫**饱和**。饱和时 softmax 的雅可比矩阵
# $\partial p/\partial s=\operatorname{diag}(p)-pp^\top$ 几乎为 0，梯度传不回去，训练就停滞了。
#
# 下面对每个 $d_k$，随机取一个查询和 16 个键，比较缩放前后 softmax 的最大概率和熵（均匀分布的熵是 $\ln 16\approx 2.77$）：

# %%
def softmax(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def entropy(p):
    return -(p * np.log(np.clip(p, 1e-300, None))).sum(axis=-1)


rng = np.random.default_rng(1)
n_keys, trials = 16, lu.pick(400, 40)
stats = {"raw": ([], []), "scaled": ([], [])}
for d_k in dims:
    q = rng.standard_normal((trials, 1, d_k))
    keys = rng.standard_normal((trials, n_keys, d_k))
    s = (keys * q).sum(-1)                                   # [trials, n_keys]
    for kind, scores in (("raw", s), ("scaled", s / np.sqrt(d_k))):
        p = softmax(scores)
        stats[kind][0].append(p.max(-1).mean())
        stats[kind][1].append(entropy(p).mean())

d_show = 512
q, keys = rng.standard_normal(d_show), rng.standard_normal((n_keys, d_show))
p_raw, p_scaled = softmax(keys @ q), softmax(keys @ q / np.sqrt(d_show))

fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
axes[0].semilogx(dims, stats["raw"][0], "o-", label="不缩放")
axes[0].semilogx(dims, stats["scaled"][0], "s-", label="缩放")
axes[0].set_title("softmax 的最大概率（平均）")
axes[1].semilogx(dims, stats["raw"][1], "o-", label="不缩放")
axes[1].semilogx(dims, stats["scaled"][1], "s-", label="缩放")
axes[1].axhline(np.log(n_keys), color="gray", ls=":", label="均匀分布的熵")
axes[1].set_title("softmax 的熵（平均）")
for ax in axes[:2]:
    ax.set_xlabel(r"$d_k$")
    ax.legend()
axes[2].bar(np.arange(n_keys) - 0.2, p_raw, width=0.4, label="不缩放")
axes[2].bar(np.arange(n_keys) + 0.2, p_scaled, width=0.4, label="缩放")
axes[2].set_title(f"$d_k$={d_show} 时一个查询对 {n_keys} 个键的权重")
axes[2].set_xlabel("键")
axes[2].legend()
L.save(fig, "softmax_saturation")
plt.show()
print(f"d_k={d_show}: 不缩放时最大概率 {p_raw.max():.3f}、熵 {entropy(p_raw):.3f}；缩放后 {p_scaled.max():.3f}、{entropy(p_scaled):.3f}")

# %% [markdown]
# 不缩放时，$d_k$ 越大 softmax 越接近 one-hot（最大概率 → 1，熵 → 0）；缩放后分布的“形状”与 $d_k$ 无关。
#
# ## 4. 预训练编码器的注意力热力图
#
# 每一层有 12 个头，不同的头学到了不同的“看法”：很多头按**位置**看（看自己、看前一个或后一个词元），
# 有的把注意力放在句首 `<s>` / 句尾 `</s>` 上（相当于“不看任何东西”），少数头把**有关系的词**连在一起。
# 下面先画出某一层全部 12 个头，把其中一个位置型的头放大；再在所有层、所有头里找一个把“她”连到“小红”的头。

# %%
sentence = "小明把苹果给了小红，因为她饿了。"
LAYER = lu.pick(3, 2)  # 第几层（从 1 数起）：换成 6、9、12 看看
ids = tokenizer(sentence)["input_ids"]
tokens = tokenizer.convert_ids_to_tokens(ids)
with paddle.no_grad():
    attentions = encoder(paddle.to_tensor([ids]), output_attentions=True, return_dict=True).attentions
weights = attentions[LAYER - 1][0].numpy()          # [头数, L, L]

fig, axes = plt.subplots(2, (H + 1) // 2, figsize=(2.3 * ((H + 1) // 2), 5))
for h, ax in enumerate(axes.flat):
    ax.axis("off")
    if h < H:
        ax.imshow(weights[h], cmap="viridis", vmin=0, vmax=1)
        ax.set_title(f"头 {h + 1}", fontsize=9)
fig.suptitle(f"第 {LAYER} 层的 {H} 个头（行：查询位置，列：被注意的位置）")
L.save(fig, "attention_heads")
plt.show()

# 放大一个位置型的头：这一层里平均最集中地看“下一个词元”的头
next_share = [float(np.mean([w[i, i + 1] for i in range(len(tokens) - 1)])) for w in weights]
HEAD = int(np.argmax(next_share)) + 1
fig, ax = plt.subplots(figsize=(6.5, 5.5))
im = ax.imshow(weights[HEAD - 1], cmap="viridis", vmin=0)
ax.set_xticks(range(len(tokens)), tokens, rotation=60, fontsize=9)
ax.set_yticks(range(len(tokens)), tokens, fontsize=9)
ax.set_xlabel("被注意的位置（键）")
ax.set_ylabel("查询位置")
ax.set_title(f"第 {LAYER} 层 · 头 {HEAD}（位置型：看下一个词元）")
fig.colorbar(im, ax=ax)
L.save(fig, "attention_map")
plt.show()
print(f"第 {LAYER} 层头 {HEAD}：平均把 {next_share[HEAD - 1]:.0%} 的注意力给下一个词元")

# %% [markdown]
# 这是一个**位置型**的头：不管是什么词，它都把大部分注意力给右边紧挨着的词元，把右边的信息搬到当前位置。
# 它说明不了词与词之间的关系。
#
# ### 一个把“她”连到“小红”的头
#
# 例句里“她”指的是小红（饿了的是拿到苹果的人）。在所有层、所有头里，找“她”这一行落在“小红”两个词元上的权重最大的头，
# 并和落在“小明”上的权重比较：

# %%
def span_of(tokens, word):
    """word 在分词结果里占的位置（连续的若干个词元）。"""
    clean = [t.lstrip("▁") for t in tokens]
    for i in range(len(clean)):
        text = ""
        for j in range(i, len(clean)):
            text += clean[j]
            if text == word:
                return list(range(i, j + 1))
            if not word.startswith(text):
                break
    raise ValueError(f"{word!r} 不是 {clean} 中连续的词元")


all_heads = np.stack([a[0].numpy() for a in attentions])       # [层数, 头数, L, L]
she, red, ming = span_of(tokens, "她")[0], span_of(tokens, "小红"), span_of(tokens, "小明")
to_red = all_heads[:, :, she, red].sum(-1)                       # [层数, 头数]
to_ming = all_heads[:, :, she, ming].sum(-1)
best_layer, best_head = (int(x) + 1 for x in np.unravel_index(np.argmax(to_red), to_red.shape))
print(f"“她”→“小红”权重最大的头：第 {best_layer} 层头 {best_head}："
      f"小红 {to_red[best_layer - 1, best_head - 1]:.2f}，小明 {to_ming[best_layer - 1, best_head - 1]:.2f}")
print(f"所有 {to_red.size} 个头的平均：小红 {to_red.mean():.2f}，小明 {to_ming.mean():.2f}")

w = all_heads[best_layer - 1, best_head - 1]
fig, ax = plt.subplots(figsize=(6.5, 5.5))
im = ax.imshow(w, cmap="viridis", vmin=0)
ax.add_patch(plt.Rectangle((-0.5, she - 0.5), len(tokens), 1, fill=False, ec="red", lw=2))
ax.set_xticks(range(len(tokens)), tokens, rotation=60, fontsize=9)
ax.set_yticks(range(len(tokens)), tokens, fontsize=9)
ax.set_xlabel("被注意的位置（键）")
ax.set_ylabel("查询位置")
ax.set_title(f"第 {best_layer} 层 · 头 {best_head}：红框是“她”这一行")
fig.colorbar(im, ax=ax)
L.save(fig, "attention_she")
plt.show()

# 同一个头换一个句子：小红在前、小明在后，“她”仍指小红
other = "小红饿了，小明就把苹果给了她。"
other_ids = tokenizer(other)["input_ids"]
other_tokens = tokenizer.convert_ids_to_tokens(other_ids)
with paddle.no_grad():
    other_att = encoder(paddle.to_tensor([other_ids]), output_attentions=True, return_dict=True).attentions
w2 = other_att[best_layer - 1][0, best_head - 1].numpy()
s2 = span_of(other_tokens, "她")[0]
print(f"「{other}」同一个头：“她”→小红 {w2[s2, span_of(other_tokens, '小红')].sum():.2f}，"
      f"→小明 {w2[s2, span_of(other_tokens, '小明')].sum():.2f}")

# %% [markdown]
# 默认模式（12 层）下找到的是第 8 层的头 1：“她”这一行约 48% 的注意力落在“小红”的两个词元上（其中“红”约 28%），
# 落在“小明”上的约 10%，而 144 个头平均各约 6%。把句子换成
# “小红饿了，小明就把苹果给了她。”（小红到了前面），同一个头仍把约 41% 给“小红”、约 5% 给“小明”——
# 它看的不是固定的相对位置。（快速模式只有 2 层，找到的头和数值都不同。）
#
# 要小心解读：注意力权重只说明这个头“从哪里取信息”，不等于模型“理解了指代”。这个头也可能只是把“她”连到像女性名字的字上。
# **自己试试**：把 `sentence` 换成“小明把苹果给了小刚，因为他饿了。”，再把 `span_of(tokens, "小红")` 换成“小刚”，看看结果。
#
# 各层的注意力有多少落在句首 `<s>` / 句尾 `</s>` 上？（所有头、所有查询位置的平均）

# %%
special = np.array([t in (tokenizer.cls_token, tokenizer.sep_token) for t in tokens])
share = [float(a[0].numpy()[:, :, special].sum(-1).mean()) for a in attentions]
lu.table({"层": list(range(1, len(share) + 1)), "落在 <s> / </s> 上的注意力": np.round(share, 3)}).T

# %% [markdown]
# ## 5. 编码器层、解码器层和 GPT 的层
#
# Transformer 的**编码器层** = 多头自注意力 + 前馈网络，每个子层后面是 残差 + LayerNorm。
# **解码器层**（机器翻译那种编码器-解码器结构里的）多一个子层：掩码自注意力 → 编码器-解码器注意力（交叉注意力）→ 前馈。
# 看看 `paddle.nn.TransformerDecoderLayer` 里有什么：

# %%
decoder_layer = paddle.nn.TransformerDecoderLayer(d_model=16, nhead=2, dim_feedforward=32)
for name, child in decoder_layer.named_children():
    print(f"{name:10s} {type(child).__name__}")

memory = paddle.randn([1, 5, 16])     # 编码器对源句子（5 个词元）的输出
target = paddle.randn([1, 3, 16])     # 解码器已经生成的 3 个词元
causal = paddle.nn.Transformer.generate_square_subsequent_mask(None, 3)
decoder_layer.eval()
with paddle.no_grad():
    out = decoder_layer(target, memory, tgt_mask=causal)
    out_other_memory = decoder_layer(target, paddle.randn([1, 5, 16]), tgt_mask=causal)
print("解码器输出形状", out.shape, "；换一个编码器输出，解码器输出变了吗？",
      bool((out - out_other_memory).abs().max() > 1e-6))
print("self_attn 的 Q、K、V 都来自 target，它的输出与 memory 无关；cross_attn 的 K、V 来自 memory。")

# %% [markdown]
# > **讲义说 / 实际上**
# >
# > **讲义说**：解码器的（掩码）自注意力读入编码器的输出。
# >
# > **实际上**：掩码自注意力的 Q、K、V 都来自解码器自己（已经生成的前缀），所以要用因果 mask，它根本不看编码器。
# > 读编码器输出的是第二个子层——**编码器-解码器注意力（交叉注意力，上面的 `cross_attn`）**：Q 来自解码器，
# > K、V 来自编码器的输出 `memory`，不需要因果 mask（源句子整句都可以看）。
#
# GPT 只有解码器这一侧，**没有编码器**，所以也没有交叉注意力：GPT 的每一层 = 掩码自注意力 + 前馈（两个子层），
# 结构上就是“加了因果 mask 的编码器层”。作业 `transformer_bert` Q3 数的是上面这种三个子层的解码器层，不是 GPT 的层。
#
# > **讲义说 / 实际上**
# >
# > **讲义说**：RNN、CNN、Transformer 分别需要 O(N)、O(N/k)、O(1) 步，Transformer 一层就能连接任意远的两个位置。
# >
# > **实际上**：这里的 O(1) 数的是**必须一步接一步做的操作数**（也是任意两个位置之间信号要走的步数），**不是计算量**。
# > 一层自注意力要算 N×N 个分数并加权求和，计算量是 O(N²·d)（Q、K、V 投影另有 O(N·d²)）；一层 RNN 是 O(N·d²)。
# > N 比 d 大时，Transformer 的计算量和显存反而更大，它的优势是这些计算可以**同时**做，而 RNN 必须等上一步算完。

# %%
d = cfg.hidden_size
rows = []
for n in (32, 128, 512, 2048):
    rows.append({"序列长度 N": n, "自注意力 N²·d（百万次乘法）": round(n * n * d / 1e6, 1),
                 "RNN N·d²（百万次乘法）": round(n * d * d / 1e6, 1), "RNN 顺序步数": n, "自注意力顺序步数": 1})
lu.table(rows)

# %%
print(L.elapsed())

# %% [markdown]
# ## 小结
#
# * 缩放点积注意力：分数 $QK^\top/\sqrt{d_k}$ → 每行 softmax → 对 $V$ 加权平均。预训练模型里算的就是这个。
# * 不缩放时 $\operatorname{Var}(q\cdot k)=d_k\sigma^4$ 随维度增长，softmax 饱和、梯度消失；除以 $\sqrt{d_k}$ 让方差与维度无关。
# * 多头注意力把 $d_\text{model}$ 切成若干个头并行计算，再拼接、投影；每个头用 $W_q, W_k, W_v$ 中属于自己的一块列，
#   参数量与头数无关。不同的头学到不同的关注模式：很多按位置看，少数把有关系的词连起来（例如“她”→“小红”）。
# * 解码器层的掩码自注意力只看解码器自己；读编码器输出的是交叉注意力。GPT 没有编码器，每层只有掩码自注意力和前馈。
# * “Transformer 是 O(1)”说的是顺序步数；一层自注意力的计算量是 O(N²·d)。
#
# ## 练习（对应课程练习 3、4；用 `python -m homework check attention` 自查）
#
# 1. `attention` Q1：写出**带 mask、支持任意批量维**的缩放点积注意力（mask 为 False 的位置在 softmax 前置为 −∞）。
# 2. `attention` Q2：分量方差为 $\sigma^2$ 时，缩放前后分数的方差各是多少？（本课的图是 $\sigma=1$ 的情形。）
# 3. `attention` Q3：计算 softmax 的最大概率、熵和雅可比矩阵的 Frobenius 范数，验证“饱和 → 梯度消失”。
# 4. `attention` Q4、Q5：多头注意力中各张量的形状和参数量。这两题考结构：函数里**不能用 paddle**（评分时会拒绝），要自己推导。
# 5. `transformer_bert` Q2、Q3 与 `concepts` Q2–Q4：编码器层和解码器层的子层与参数量、解码器的因果 mask、为什么除以 √d_k。
