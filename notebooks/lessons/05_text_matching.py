# %% [markdown]
# # 第 5 课 · 文本匹配：单塔与双塔
#
# **本课目标**
#
# 1. 在**同一批句子对**上训练两种匹配模型，比较准确率：
#    * **单塔**（交互式 / cross-encoder）：a、b 在编码器里**会合**，之后 a 的每个词元都能注意 b 的每个词元；
#    * **双塔**（表示式 / bi-encoder，Sentence-BERT）：a、b 各自编码成一个向量，用余弦相似度比较。
# 2. 在一个候选集合里**检索**：每个查询要花多少时间？画出“准确率 – 每查询耗时”图。
# 3. 用双塔做一个小检索演示，再用单塔对前几名重新排序（检索 + 精排）。
# 4. 实验：真正的单塔（交叉编码器，两段话从第一层起一起编码）与双塔，步数相同、3 个种子（实验 `towers`）；
#    再在一套专考词序的数据上比（实验 `word_order`）。
#
# 默认模式用 `bash run.sh demo` 的配方：两个模型用同样的 4000 对、同一个 12 层编码器（`e5-small-zh`），
# 都只训练最上面 2 层（下面 10 层的输出每段话只算一次、缓存起来），各训练 1 个 epoch，在 2 核 CPU 上共约 6 分钟。

# %%
import sys, pathlib
if not pathlib.Path("lesson_utils.py").exists():  # 从仓库根目录打开时
    sys.path.insert(0, "notebooks")
import lesson_utils as lu

L = lu.start("05")

import time
import numpy as np
import paddle
import matplotlib.pyplot as plt
from tasks.data.datasets import load_examples
from tasks import recipes
from tasks.engine.runner import load_checkpoint, load_split, task_class

# 训练设置：课程包的配方（tasks/recipes.py）；两个模型的 max_length 都是每段话 64 个词元
RECIPES = {name: recipes.get(name, lu.pick("demo", "quick")) for name in ("single_tower", "dual_tower")}
MODEL, LIMITS = RECIPES["dual_tower"].model, RECIPES["dual_tower"].limits
N_CANDIDATES = lu.pick(200, 12)   # 检索时的候选集合大小
N_QUERIES = lu.pick(20, 2)        # 计时用的查询个数
print(RECIPES)

# %% [markdown]
# ## 1. 数据
#
# 离线的匹配数据是从评论**派生**的（格式同 LCQMC：`text_a\ttext_b\tlabel`）：把一条评论从中间切成两半，
# 两半是一对“匹配”（1）；一半配上**另一条**同样褒贬、长度相近的评论的一半，是“不匹配”（0）。
# 模型要判断两段话是不是出自同一条评论——话题、对象、语气都要对得上。

# %%
pairs = load_examples("matching", "offline", "train")
print(f"训练集 {len(pairs)} 对，其中匹配 {sum(p['label'] == '1' for p in pairs)} 对")
lu.table([{"text_a": p["text_a"][:40], "text_b": p["text_b"][:40], "匹配": p["label"]}
          for p in pairs if len(p["text_a"]) < 40 and len(p["text_b"]) < 40][:6])

# %% [markdown]
# ## 2. 训练两个模型
#
# * 单塔：`python -m tasks train --task single_tower ...`，句子对的二分类。经典的单塔把 `[CLS] a [SEP] b [SEP]`
#   从第一层起就一起编码；本课的单塔让两段话在**最上面一层**会合（`joint_layers=1`，DeFormer 的做法）：
#   下面 11 层每段话单独计算，最上面一层里 a、b 的词元互相注意，再比较两段话的平均向量 `[u, v, |u−v|, u*v]`。
#   这样下面各层每段话只算一次，就能便宜地多看负例：每个匹配对的 a 还要和这一批里另外 3 个 b 比（`negatives=3`），
#   要把自己的 b 排在最前。匹配分数里还加了会合前两段话平均向量的余弦（乘一个可学的系数），
#   所以它一开始就和未微调的双塔一样懂“相似”，训练学的是交互能再带来什么。
# * 双塔：`python -m tasks train --task dual_tower ...`，两个文本共用一个编码器，对词元向量取平均得到句向量 u、v。
#   训练目标是两项之和：Sentence-BERT 的 `[u, v, |u−v|]` 分类损失，加上批内负例的对比损失
#   （每个 a 要在这一批的所有 b 里认出自己的那个）。预测时只用余弦相似度，阈值在开发集上选定。

# %%
results = {}
for name, recipe in RECIPES.items():
    print(f"=== {name} ===")
    results[name] = recipe.run_train(L.run_dir / name, overwrite=True)
dual = results["dual_tower"]["test"]
lu.table([{"模型": {"single_tower": "单塔", "dual_tower": "双塔"}[k], "测试集准确率": round(r["metric"], 4),
           "训练用时（分钟）": r["minutes"]} for k, r in results.items()])

# %% [markdown]
# 作为参照，再看**完全不微调**的预训练编码器当双塔用（只在开发集上选一个余弦阈值）能有多准。
# e5 本来就是按双塔方式（对比学习的句向量）预训练的模型：

# %%
zs_task = task_class("dual_tower")(MODEL, ["0", "1"], RECIPES["dual_tower"].max_length)
zs_model = zs_task.build_model(MODEL)          # 预训练权重，没有任何微调
seed = RECIPES["dual_tower"].train_config().seed
split = lambda name: load_split(task_class("dual_tower"), "offline", name, LIMITS.get(name), seed)
zs_task.on_new_best(zs_model, zs_task.evaluate(zs_model, zs_task.encode_all(split("dev"))))   # 在开发集上选阈值
zero_shot = zs_task.evaluate(zs_model, zs_task.encode_all(split("test")))
print(f"未微调的双塔: 测试集准确率 {zero_shot['accuracy']:.4f}（阈值 {zero_shot['threshold']:.3f}）")

# %% [markdown]
# **怎样理解这几个数？** 课程笔记说单塔通常更准：两段话能互相注意。本课里两者却差不多（单塔还略低一点）。原因有二：
#
# * e5 本来就是按双塔方式（对比学习的句向量）预训练的，双塔一开始就站在很高的起点上（看上面未微调的双塔）；
# * 更重要的是这份派生数据的负例多半来自**另一种**商品或**另一家**酒店，单看每段话自己的向量就分得出来，
#   两段话互相注意带不来额外的信息。
#
# 交互什么时候有用？当两段话用的字一样、只有**顺序**不同（谁做了什么、谁在哪里）时，每段话单独编码成一个向量
# 很难把差别保留下来，而两段话一起编码时，每个字都能直接对照另一段里的同一个字。第 5 节的实验用真正的单塔
# （`[CLS] a [SEP] b [SEP]` 从第一层起一起编码）和双塔，在这份数据上比较。
#
# 顺带一个教训：更早的一版难负例没有控制长度，单塔领先了好几个百分点——原来负例和前半段的长度比例不对劲，
# 只看两段话的长度比就能答对七成。单塔同时看到两段话，会抓住这种**捷径**；双塔的余弦相似度看不到长度。
# 派生或标注句子对数据时，要先用这类简单基线查一查捷径（本课数据的长度比基线是 0.50，见 `data/matching_derived/README.md`）。
#
# 双塔还报告了检索指标：每个匹配对的 a 在测试集全部 b 中找自己的那个 b，
# recall@1（排第一就找到）、recall@10、MRR（正确答案排名倒数的平均）：

# %%
print({k: round(v, 4) if isinstance(v, float) else v for k, v in dual.items()
       if k in ("recall@1", "recall@10", "mrr", "candidates", "threshold")})

# %% [markdown]
# ## 3. 检索：每个查询要多久？
#
# 设想一个问答系统：用户的问题要和库里的 N 条候选逐一比较。
#
# * 单塔必须把 (问题, 候选) **每一对**都算一遍：N 次前向计算，N 越大越慢。本课的单塔只在最上面一层会合，
#   会合前的 11 层可以为每条候选预先算好（也是一种“索引”），但会合的那一层仍要每对算一次。下面两种都计时：
#   每对从头算，和候选的下层预先算好、每个查询只算自己的下层和 N 次会合层；图里用后者，这才是这个模型的真实代价；
# * 双塔可以**事先**把所有候选编码成向量（建索引，只做一次），查询时只编码问题本身，再做一次矩阵乘法。
#
# 下面用测试集里的 `N_CANDIDATES` 条不同的 b 做候选库，取其中有正确答案的 `N_QUERIES` 个 a 做查询，给两个模型计时。

# %%
test = split("test")  # 训练结束时评估的同一份测试集
candidates = sorted({p["text_b"] for p in test})[:N_CANDIDATES]
where = {text: i for i, text in enumerate(candidates)}
queries = [(p["text_a"], where[p["text_b"]]) for p in test if p["label"] == "1" and p["text_b"] in where][:N_QUERIES]
print(f"{len(candidates)} 条候选，{len(queries)} 个查询")

st_task, st_model = load_checkpoint(results["single_tower"]["checkpoint"])
dt_task, dt_model = load_checkpoint(results["dual_tower"]["checkpoint"])
positive = st_task.label_to_id["1"]


def single_tower_search(query):
    features = st_task.encode_all([{"text_a": query, "text_b": c} for c in candidates], with_label=False)
    return st_task.probabilities(st_model, features)[:, positive]      # N 次完整的前向计算


def below_join(texts):
    """每段文本在会合层以下的状态（LateJoinCrossEncoder.alone），按长度分批补齐：[(行号, ids, 状态), ...]"""
    ids = [st_task.tokenize(t)["input_ids"] for t in texts]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    batches = []
    with paddle.no_grad():
        for start in range(0, len(order), 64):
            rows = order[start:start + 64]
            width = max(len(ids[i]) for i in rows)
            batch = paddle.to_tensor([ids[i] + [st_task.pad_id] * (width - len(ids[i])) for i in rows])
            batches.append((rows, batch, st_model.alone(batch)))
    return batches


started = time.perf_counter()
candidate_states = below_join(candidates)                             # 单塔的“索引”：候选的下 11 层，只算一次
single_index_seconds = time.perf_counter() - started


def single_tower_cached_search(query):
    [(_, q_ids, q_states)] = below_join([query])                      # 只算查询自己的下 11 层
    scores = np.zeros(len(candidates))
    with paddle.no_grad():
        for rows, b_ids, b_states in candidate_states:                # 会合层：每对仍要算一次
            n = len(rows)
            logits = st_model.join(q_states.expand([n, *q_states.shape[1:]]), q_ids.expand([n, q_ids.shape[1]]),
                                   b_states, b_ids)
            scores[rows] = paddle.nn.functional.softmax(logits, -1)[:, positive].numpy()
    return scores


difference = np.abs(single_tower_search(queries[0][0]) - single_tower_cached_search(queries[0][0])).max()
print(f"两种算法的单塔分数最大差 {difference:.1e}（同一个模型，只是少算了重复的部分）")


started = time.perf_counter()
index = dt_task.embed_texts(dt_model, candidates)                     # 建索引：每条候选编码一次（单位向量）
index_seconds = time.perf_counter() - started


def dual_tower_search(query):
    q = dt_task.embed_texts(dt_model, [query])[0]                     # 只编码查询
    return index @ q                                                  # 与所有候选的余弦相似度


timing = {}
for name, search in (("单塔（每对从头算）", single_tower_search), ("单塔", single_tower_cached_search),
                     ("双塔", dual_tower_search)):
    search(queries[0][0])  # 预热一次（第一次调用有额外的初始化开销）
    ranks, started = [], time.perf_counter()
    for query, gold in queries:
        scores = search(query)
        ranks.append(int((scores > scores[gold]).sum()) + 1)   # 正确候选排第几
    timing[name] = {"ms": 1000 * (time.perf_counter() - started) / len(queries),
                    "recall@10": float(np.mean(np.array(ranks) <= 10)), "mrr": float(np.mean(1 / np.array(ranks)))}
print(f"建索引（只做一次）: 双塔 {len(candidates)} 条候选 {index_seconds:.2f} 秒；单塔候选的下 11 层 {single_index_seconds:.2f} 秒")
lu.table([{"模型": k, "每个查询（毫秒）": round(v["ms"], 1), "recall@10": round(v["recall@10"], 3), "MRR": round(v["mrr"], 3)}
          for k, v in timing.items()])

# %%
accuracy = {"单塔": results["single_tower"]["metric"], "双塔": results["dual_tower"]["metric"]}
points = [("单塔", timing["单塔"]["ms"], accuracy["单塔"], "tab:red"),
          ("双塔", timing["双塔"]["ms"], accuracy["双塔"], "tab:blue"),
          ("双塔（未微调）", timing["双塔"]["ms"], zero_shot["accuracy"], "lightsteelblue")]
fig, ax = plt.subplots(figsize=(6.5, 4.2))
for name, ms, acc, color in points:
    ax.scatter(ms, acc, s=140, color=color, zorder=3)
    ax.annotate(f"{name}\n准确率 {acc:.3f}\n{ms:.0f} 毫秒/查询", (ms, acc),
                textcoords="offset points", xytext=(12, -12), fontsize=9)
ax.set_xscale("log")
ax.set_xlabel(f"每个查询的耗时（毫秒，对数坐标；{len(candidates)} 条候选，2 核 CPU）")
ax.set_ylabel("测试集句子对准确率")
lo, hi = min(p[2] for p in points), max(p[2] for p in points)
ax.set_ylim(lo - 0.08, hi + 0.08)
ax.set_xlim(min(p[1] for p in points) / 4, max(p[1] for p in points) * 8)
ax.grid(alpha=0.3)
ax.set_title(f"准确率与检索耗时（{MODEL}）")
L.save(fig, "accuracy_latency")
plt.show()
ratio = timing["单塔"]["ms"] / timing["双塔"]["ms"]
print(f"单塔每个查询比双塔慢 {ratio:.0f} 倍；候选增加到 100 万条时，单塔每个查询约需 "
      f"{timing['单塔']['ms'] / len(candidates) * 1e6 / 1000 / 3600:.1f} 小时，双塔的矩阵乘法仍在毫秒级。")

# %% [markdown]
# ## 4. 检索演示：双塔召回，单塔精排
#
# 实际系统常把两者结合：先用双塔从大量候选里**召回**前 K 条（快），再用单塔对这 K 条**精排**（准）。
# 改一改下面的查询试试（候选是测试集里的评论片段）。

# %%
query = "房间很大，早餐种类也多，"
K = lu.pick(20, 5)
scores = dual_tower_search(query)
top = np.argsort(-scores)[:K]
rerank = st_task.probabilities(
    st_model, st_task.encode_all([{"text_a": query, "text_b": candidates[i]} for i in top], with_label=False))[:, positive]
order = np.argsort(-rerank)
print(f"查询: {query}")
lu.table([{"精排名次": r + 1, "召回名次": int(order[r]) + 1, "双塔余弦": round(float(scores[top[order[r]]]), 3),
           "单塔匹配概率": round(float(rerank[order[r]]), 3), "候选": candidates[top[order[r]]][:50]}
          for r in range(min(5, K))])

# %% [markdown]
# ## 5. 实验：真正的单塔（交叉编码器）与双塔
#
# 上面的单塔只在最上面一层会合。实验 `python -m tasks experiment towers`（`tasks/experiments/towers.py`）用**经典的单塔**：
# `[CLS] a [SEP] b [SEP]` 作为一个输入，从第一层起两段话就互相注意；它和双塔用同一个编码器（都只训练最上面 2 层）、
# 同样的 1000 对训练数据、同样的步数，3 个随机种子。它还报告每个查询对 20 个候选打分要多久（两个模型都按部署时的
# 样子运行，没有缓存），以及“双塔取前 20、单塔重排”前后的 recall@1 / recall@10。下面显示仓库里提交的那次运行。

# %%
towers_result = lu.experiment(L, "towers")

# %% [markdown]
# 读表的方法：两个模型的差要和各自的标准差比（结论里给出了逐种子的差值范围），再和字符重合基线、随机（0.5）比。
# 这里是小预算（1000 对、60 步、只训练最上面 2 层）下的测量：e5 是按双塔方式预训练的，双塔从第一步起就能用
# 余弦相似度；单塔的分类层从随机初值开始，要学会“两段话接不接得上”，这点步数不够。课程笔记说单塔通常更准，
# 那是在用句子对任务（如 NSP）预训练过的模型、足够的训练之后；这里量出来的是另一种情况，表里的数就是结论。
# 耗时一列说明了代价：单塔每个候选都要和查询一起过整个编码器，双塔的候选向量事先算好，查询时只编码一次。
#

# %% [markdown]
# ## 6. 实验：词序——一段话一个向量看不到什么
#
# 第二套数据 `data/matching_word_order/`（仿 PAWS，`tasks/data/word_order.py`）：同一句话对调两个同类实体，两段话的
# **字完全相同**。并列的两个实体对调（中国和美国 → 美国和中国），意思不变，标 1；中间隔着词的两个实体对调
# （张三会见了李四 → 李四会见了张三），角色变了，标 0。每句话各出一对，单看一段话猜不出标签；字符重合基线
# 因此只有随机水平，“改了多少位置”的基线也被控制在随机附近（见下表）。
#
# 实验 `python -m tasks experiment word_order` 比较双塔和一种单塔，同一编码器、同样的训练数据和步数、3 个种子：
# 单塔让两段话在**训练的那 2 层**里会合、互相注意，然后把每个词元和另一段里最像它的词元（它的“孪生”）比一比
# （`--pooling align`：最佳匹配余弦的平均值、最低三个的平均值、最小值）。被换了角色的实体在另一段里还找得到
# 同样的字，但上下文变了，孪生就没那么像；双塔把每段话压成一个平均向量，这种局部的变化大多被平均掉了。
#
# 为什么不用第 5 节那种从第一层起就拼在一起的单塔？e5 只在**单段文本**上预训练过（对比学习的双塔），从没见过
# `a [SEP] b` 这样的句子对；把两段话拼起来送进它冻结的下面 10 层，在这套数据上只有随机水平
# （单种子测量，记录在 `benchmarks/experiments/README.md`）。BERT、ERNIE 用 NSP / 句子对任务预训练过，下面
# 各层本来就会“对照两段话”；要让 e5 学会，得训练全部 12 层，超出了 2 核 CPU 十分钟的预算。这正是第 7 课
# 讲的句子对预训练的用处。

# %%
word_order_result = lu.experiment(L, "word_order")

# %% [markdown]
# 读表：先和随机、字符重合、改动位置三条基线比，再看两种塔的差和逐种子范围（结论那一行）。双塔也高于基线：
# 一段话的平均向量并非完全不含词序（位置编码让对调后的向量变了），只是比逐个词元对照粗得多。

# %%
print(L.elapsed())

# %% [markdown]
# ## 小结
#
# * 单塔让两段文本互相注意（经典单塔从第一层起，本课的单塔在最上面一层）；每个候选都要和查询一起算，无法只靠预先算好的向量。
# * 双塔把每段文本单独编码，候选向量可以预先算好存起来，检索只需一次查询编码 + 向量相似度，快几个数量级。
# * 常见的做法是双塔召回 + 单塔精排。
# * 哪种更准取决于数据、预训练方式和训练量：本课的 e5 是双塔式预训练的，小预算下从第一层起拼接的单塔（第 5 节）
#   不如双塔，只在最上面一层会合、从余弦出发的单塔（第 2 节）和双塔打平；在专考词序的数据上（第 6 节），
#   两段话在训练层里会合、逐个词元对照的单塔比双塔准——一段话一个向量看不清“谁对谁做了什么”。
#   在用 MLM + NSP 预训练的 BERT / ERNIE、LCQMC 这样的人工标注数据上谁更准，本课没有测，要在那份数据上用同样的
#   方法（相同的步数、多个种子、和简单基线比）量出来。
# * 句子对数据里的捷径（长度、字面重合）会让单塔“赢”得不明不白：先用简单基线检查数据。
#
# ## 练习
#
# 1. 让单塔的两段话早一层会合、多看一些负例（`RECIPES["single_tower"].with_options(joint_layers=2, negatives=7)`，
#    训练时还要 `train_layers` ≥ `joint_layers`），它能超过双塔吗？每步慢多少？
# 2. 把双塔的训练目标换成只用 `sbert` 或只用 `contrastive`（`RECIPES["dual_tower"].with_options(objective="sbert").run_train(...)`），准确率和 recall@1 怎样变化？
# 3. 把 `N_CANDIDATES` 加倍，两个模型每个查询的耗时各怎样变化？为什么？
# 4. 作业 **`transformer_bert`** Q2：一个编码器层有多少参数？单塔每个候选都要把它算一遍，乘以层数和候选数，估计计算量。
