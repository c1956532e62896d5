# %% [markdown]
# # 第 4 课 · 序列标注：命名实体识别（NER）
#
# **本课目标**
#
# 1. BIO 标注：每个字一个标签，实体 = 一段连续的 `B-X I-X I-X …`。
# 2. 把标签还原成实体，在文本里高亮出来。
# 3. 块级（chunk-level）评估：实体的类型和左右边界**全对**才算对，按类型算 P / R / F1。
# 4. 两种输出层：逐字 softmax 与 CRF（条件随机场 + Viterbi 解码），比较 F1 和“非法标签序列”。
# 5. 用 3 个随机种子重复比较，看差别是否超出随机波动（实验 `crf_softmax`）。
#
# 数据是 MSRA 命名实体识别语料（人名 PER、地名 LOC、机构名 ORG）。默认模式用 `bash run.sh demo` 的配方：
# 编码器的前 8 层（`e5-small-zh@8`，它的逐字特征在第 8 层最好），下面 4 层冻结（输出只算一次、缓存起来），
# 只训练上面 4 层和输出层；两个模型各用 8000 句、各训练 500 步（1 个 epoch；没有时间预算，两个模型步数相同，换一台机器结果也一样）。
# 训练量只有正式实验（MSRA 有 4.5 万句，`python -m tasks train --task ner`，30 分钟）的六分之一，F1 也低一些；
# 本课关心的是流程和两种输出层的差别。

# %%
import sys, pathlib
if not pathlib.Path("lesson_utils.py").exists():  # 从仓库根目录打开时
    sys.path.insert(0, "notebooks")
import lesson_utils as lu

L = lu.start("04")

import collections
import numpy as np
import matplotlib.pyplot as plt
from tasks.data.datasets import NER_LABELS, is_valid_bio, load_examples
from tasks.engine.metrics import chunk_scores, entities
from tasks import recipes
from tasks.engine.runner import load_checkpoint, load_split, task_class

RECIPE = recipes.get("ner", lu.pick("demo", "quick"))  # 训练设置：课程包的配方（tasks/recipes.py）
MODEL, LIMITS, MAX_LENGTH = RECIPE.model, RECIPE.limits, RECIPE.max_length
config = RECIPE.train_config()
print(MODEL, LIMITS, config)

# %% [markdown]
# ## 1. BIO 标注
#
# 每个字一个标签：`B-X` 是类型 X 的实体的第一个字，`I-X` 是实体内部（后续）的字，`O` 表示不属于任何实体。
# 标签集合：

# %%
print(NER_LABELS)
train_all = load_examples("ner", "offline", "train")
example = next(e for e in train_all if len({c[0] for c in entities(e["labels"])}) == 3 and len(e["tokens"]) < 40)
lu.table({"字": example["tokens"], "标签": example["labels"]}).T

# %% [markdown]
# 从 BIO 标签还原实体：一个实体从 `B-X` 开始（或者从一个接不上前文的 `I-X` 开始），一直延续到不再是 `I-X` 为止。
# 课程包的 `entities(tags)` 返回 `(类型, 起点, 终点)`，终点不含——和 seqeval 的读法相同。

# %%
found = entities(example["labels"])
text = "".join(example["tokens"])
print(found)
print([(kind, text[s:e]) for kind, s, e in found])
lu.show_html([lu.highlight_entities("".join(e["tokens"]), entities(e["labels"]))
              for e in [example] + [e for e in train_all[:200] if entities(e["labels"])][:5]])

# %% [markdown]
# 训练子集里各类实体有多少个（同样的固定随机子集也会用于训练）：

# %%
train_subset = load_split(task_class("ner"), "offline", "train", LIMITS["train"], config.seed)
counts = collections.Counter(c[0] for e in train_subset for c in entities(e["labels"]))
print(f"{len(train_subset)} 句，{sum(len(e['tokens']) for e in train_subset)} 个字，实体: {dict(counts)}")

# %% [markdown]
# ## 2. 训练：softmax 与 CRF 两种输出层
#
# 模型 = 预训练编码器 + 每个位置一个线性层（课程包的 `TokenTagger`，见 `tasks/engine/modeling.py`），输出 7 个标签的分数（发射分数）。
# 句子按 e5 的 SentencePiece 切成词片，一个词片常常包含几个字（北京、大学）。每个字由**包含它的词片**的向量打分，
# 用“它是词片里第几个字”对应的那一组分类器，所以实体边界落在词片中间时（在北|京）也能标对
# （只给每个词片的第一个字打分，边界在词片中间的实体就永远标不对，F1 有一个明显低于 1 的上限，见 `benchmarks/README.md`）。
#
# * **softmax**：每个字独立地取分数最高的标签。它不知道 `O` 后面不能直接跟 `I-PER`。
# * **CRF**：再学一个 7×7 的**转移分数**矩阵，整句标签序列的分数 = 发射分数之和 + 转移分数之和；训练时最大化正确序列的概率
#   （对所有可能的序列归一化），预测时用 Viterbi 算法找分数最高的**整条**序列。
#
# 命令行等价于 `python -m tasks train --task ner [--crf] ...`。

# %%
runs = {}
for head, crf in (("softmax", False), ("CRF", True)):
    print(f"=== {head} ===")
    runs[head] = RECIPE.with_options(crf=crf).run_train(L.run_dir / f"ner_{head.lower()}", overwrite=True)
lu.table([{"输出层": head, "精确率 P": round(r["test"]["precision"], 4), "召回率 R": round(r["test"]["recall"], 4),
           "F1": round(r["test"]["f1"], 4), "用时（分钟）": r["minutes"]} for head, r in runs.items()])

# %% [markdown]
# ## 3. 块级 F1，按实体类型
#
# 预测的实体与标注的实体**类型相同、起点和终点都相同**才算一次命中。
# 精确率 = 命中 / 预测出的实体数，召回率 = 命中 / 标注的实体数，F1 是两者的调和平均。

# %%
types = sorted(runs["softmax"]["test"]["per_type"])
rows = []
for t in types:
    row = {"类型": f"{t}（{lu.ENTITY_NAMES[t]}）", "测试集实体数": runs["softmax"]["test"]["per_type"][t]["support"]}
    for head, r in runs.items():
        row[f"{head} F1"] = round(r["test"]["per_type"][t]["f1"], 4)
    rows.append(row)
display(lu.table(rows))

fig, ax = plt.subplots(figsize=(6.5, 3.8))
x = np.arange(len(types) + 1)
for k, (head, r) in enumerate(runs.items()):
    values = [r["test"]["per_type"][t]["f1"] for t in types] + [r["test"]["f1"]]
    ax.bar(x + (k - 0.5) * 0.38, values, width=0.38, label=head)
    for xi, v in zip(x, values):
        ax.text(xi + (k - 0.5) * 0.38, v + 0.01, f"{v:.2f}", ha="center", fontsize=8)
ax.set_xticks(x, [f"{t}\n{lu.ENTITY_NAMES[t]}" for t in types] + ["全部\n(micro)"])
ax.set_ylabel("块级 F1（测试集）")
ax.set_ylim(0, 1.05)
ax.set_title(f"softmax 与 CRF：各类实体的 F1（{MODEL}，{LIMITS['train']} 句）")
ax.legend()
L.save(fig, "f1_per_type")
plt.show()

# %% [markdown]
# ## 4. softmax 会输出“非法”的标签序列
#
# 在测试集上逐句预测，数一数有多少句的预测里出现了 `O` 后面直接跟 `I-X`、或者 `B-PER` 后面跟 `I-LOC` 这样不合 BIO 规则的序列。

# %%
models_ = {head: load_checkpoint(r["checkpoint"]) for head, r in runs.items()}
test = load_split(task_class("ner"), "offline", "test", LIMITS["test"], config.seed)
predicted = {}
for head, (task, model) in models_.items():
    predicted[head] = task.tag_sequences(model, task.encode_all(test, what="test sentences"))
gold = [e["labels"] for e in test]
for head, tags in predicted.items():
    invalid = sum(not is_valid_bio(t) for t in tags)
    check = chunk_scores(gold, tags)["f1"]
    print(f"{head:8s} 非法序列 {invalid:4d} / {len(tags)} 句    F1 {check:.4f}")

bad = next((i for i, t in enumerate(predicted["softmax"]) if not is_valid_bio(t)), None)
if bad is not None:
    e = test[bad]
    sent = "".join(e["tokens"])
    show = [i for i, (g, s, c) in enumerate(zip(gold[bad], predicted["softmax"][bad], predicted["CRF"][bad]))
            if g != "O" or s != "O" or c != "O"]
    display(lu.table({"字": [e["tokens"][i] for i in show], "标注": [gold[bad][i] for i in show],
                      "softmax": [predicted["softmax"][bad][i] for i in show],
                      "CRF": [predicted["CRF"][bad][i] for i in show]}).T)
    lu.show_html([f"<b>标注</b>　 {lu.highlight_entities(sent, entities(gold[bad]))}",
                  f"<b>softmax</b> {lu.highlight_entities(sent, entities(predicted['softmax'][bad]))}",
                  f"<b>CRF</b>　　 {lu.highlight_entities(sent, entities(predicted['CRF'][bad]))}"])

# %% [markdown]
# CRF 学到的转移分数：行是前一个标签，列是后一个标签。`O → I-X`、`B-PER → I-LOC` 这类不合法转移的分数应当明显低于
# 合法转移，Viterbi 解码就几乎不会选它们。下面把合法与不合法转移的平均分数也打印出来。

# %%
crf_task, crf_model = models_["CRF"]
transitions = crf_model.crf.transitions.numpy()
fig, ax = plt.subplots(figsize=(5.8, 4.8))
im = ax.imshow(transitions, cmap="RdBu_r", vmin=-np.abs(transitions).max(), vmax=np.abs(transitions).max())
ax.set_xticks(range(len(crf_task.labels)), crf_task.labels, rotation=45)
ax.set_yticks(range(len(crf_task.labels)), crf_task.labels)
ax.set_xlabel("后一个标签")
ax.set_ylabel("前一个标签")
for i in range(len(crf_task.labels)):
    for j in range(len(crf_task.labels)):
        ax.text(j, i, f"{transitions[i, j]:.1f}", ha="center", va="center", fontsize=7)
ax.set_title("CRF 转移分数")
fig.colorbar(im, ax=ax)
L.save(fig, "crf_transitions")
plt.show()


def legal(prev, nxt):
    """BIO 规则：I-X 只能跟在 B-X 或 I-X 后面。"""
    return not nxt.startswith("I-") or prev[2:] == nxt[2:] and prev != "O"


labels = crf_task.labels
ok = np.array([[legal(a, b) for b in labels] for a in labels])
print(f"合法转移的平均分数 {transitions[ok].mean():+.2f}，不合法转移 {transitions[~ok].mean():+.2f}"
      f"（相差 {transitions[ok].mean() - transitions[~ok].mean():.2f}）")

# %% [markdown]
# CRF 能不能学好，取决于两个容易被忽略的细节：
#
# * **转移矩阵的学习率。** 7×7 个转移分数从随机初值出发；PaddleNLP 默认只给它编码器学习率的 0.1 倍（`crf_lr=0.1`），
#   几千步里几乎不动。课程包默认用 100 倍（`--crf-lr`）。
# * **损失要是真正的负对数似然。** paddlenlp 2.8.1 的 `LinearChainCrf` 算归一化项 log Z（所有标签路径分数的 log-sum-exp）时
#   用的是**转置**的转移矩阵，算正确路径的分数时却没有转置。两者不一致，损失就可能小于 0，被 `LinearChainCrfLoss`
#   里的 relu 截成 0——这些句子不再产生任何梯度。课程包的 `tasks/engine/crf.py` 改正了 log Z
#   （`tests/test_crf.py` 用穷举所有路径的方法检验）。改正之前，本课的 CRF 反而比 softmax 差
#   （当时的测量见 `benchmarks/README.md`）。
#
# ## 5. 实验：CRF 与 softmax，多个种子
#
# 上面只训练了一次，差别里混着随机性（数据顺序、初始化、dropout）。实验 `python -m tasks experiment crf_softmax`
# （`tasks/experiments/crf_softmax.py`）把同样的两种输出层在 3 个随机种子下各训练一次：每个种子两者的训练数据、
# 步数都相同（2000 句、各 125 步，比上面小，约 7 分钟），报告 F1 的均值和波动、每个种子上两者的差、
# 非法序列的数量和第一个种子的 CRF 转移矩阵。下面显示仓库里提交的那次运行（表和结论由单元格打印）。

# %%
crf_experiment = lu.experiment(L, "crf_softmax")

# %% [markdown]
# 读表的方法：两种输出层 F1 之差要和它们各自的标准差比，最好看**逐种子的差**（结论里的范围）：
# 如果每个种子上 CRF 都高，差值的范围不跨过 0，这个差别就不是偶然。非法序列的数量对比说明了原因：
# softmax 逐字独立决策，CRF 的转移分数把不合法的 `O → I-X` 压得很低。
#
# ## 6. 试试你自己的句子
#
# 用 CRF 模型标注下面的句子（改成你自己的），实体高亮显示。命令行：`echo "张三在北京大学工作。" | python -m tasks predict --checkpoint <检查点>`。

# %%
my_sentences = [
    "张伟昨天在北京大学附属医院做了一次体检。",
    "华为技术有限公司总部位于广东省深圳市龙岗区。",
    "联合国秘书长古特雷斯呼吁各方保持克制。",
    "马云于1999年在杭州创立了阿里巴巴集团。",
]
predictions = crf_task.predict(crf_model, [{"tokens": list(s)} for s in my_sentences])
lu.show_html([lu.highlight_entities(p["text"], p["entities"]) for p in predictions])
lu.table([{"句子": p["text"], "实体": "、".join(f"{x['text']}/{x['type']}" for x in p["entities"])} for p in predictions])

# %%
print(L.elapsed())

# %% [markdown]
# ## 小结
#
# * 序列标注 = 每个位置一个分类；BIO 把“一段文字是一个实体”变成逐字的标签。
# * 评估要在**实体块**上做：类型和边界全对才算对；按类型看 F1 能发现哪类实体最难。
# * softmax 逐字独立决策，可能输出非法序列；CRF 学习标签之间的转移分数，用 Viterbi 解码整条序列，
#   不合法的转移分数很低，几乎不会出现在输出里。
# * 一个层“没有效果”时，先检查它有没有真的在学：学习率够不够、损失是不是它声称的那个量（例如能不能小于 0）。
#
# ## 练习
#
# 1. 把训练句数加倍（或训练 2 个 epoch），F1 提高多少？哪类实体提高最多？换成完整的 12 层编码器（`e5-small-zh`，仍只训练最上面 4 层），F1 是高了还是低了？为什么编码器最上面几层的逐字特征反而不如第 8 层？
# 2. 把 CRF 那次训练改成 3 个 epoch（`epochs=3`），转移矩阵和非法序列的数量怎样变化？
# 3. 课程笔记说：做序列标注时，把 BERT 多层的输出加权混合（像 ELMo 那样）可能比只用最后一层更好。
#    第 1 课的实验 `feature_mix` 在冻结的编码器上量了这件事：NER 学到的层权重和情感的有什么不同？
# 4. 作业 **`concepts`** Q2、Q3（编码器与解码器的结构）；作业 **`rnn_params`** Q5（循环层输出的形状——早期的 NER 模型正是 BiLSTM + CRF）。
