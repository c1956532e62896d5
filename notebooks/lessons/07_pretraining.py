# %% [markdown]
# # 第 7 课 · 预训练：MLM、NSP 与 SOP、ERNIE 的掩码
#
# **本课目标**
#
# 1. 掩码语言模型（MLM）：遮住 15% 的词元，其中 80% 换成 `[MASK]`、10% 换成随机词元、10% 不变；
#    遮盖的**单位**可以是一个字（词片）、一个词（BERT-wwm）、一个实体或短语（ERNIE）。亲手看三种单位遮出来的样子。
# 2. 句子对任务：NSP（下一句预测，BERT）的负例来自别的文档，SOP（句序预测，ALBERT）的负例是同一篇文档交换顺序。
#    量一量：只看两段话有多少相同的字，能猜对多少 NSP，又能猜对多少 SOP。
# 3. 实验：同一个结构，预训练权重与随机初始化，训练数据从 250 到 4000 条，预训练的好处在哪里最大。
# 4. 实验：用逐字、整词、实体三种掩码继续预训练同样的步数，比较留出文本上的 MLM 准确率和微调后的 NER、情感结果。
#
# 两个实验各要在 2 核 CPU 上跑约 10 分钟，本课默认显示仓库里已提交的那次运行（`benchmarks/experiments/`），
# 表格和结论由下面的单元格打印；想在自己的机器上重测，运行 `python -m tasks experiment pretraining`（或 `masking`），
# 或者设 `COURSE_RUN_EXPERIMENTS=1` 再运行本课。

# %%
import sys, pathlib
if not pathlib.Path("lesson_utils.py").exists():  # 从仓库根目录打开时
    sys.path.insert(0, "notebooks")
import lesson_utils as lu

L = lu.start("07")

import numpy as np
from tasks import recipes
from tasks.data.datasets import load_examples
from tasks.data.build import char_jaccard, overlap_baseline
from tasks.engine.checkpoint import task_class
from tasks.experiments import masking

# 分词用编码器自己的分词器（SentencePiece 词片）；NER 任务的对齐代码告诉我们每个字落在哪个词片里
ner_task = task_class("ner")(lu.pick("e5-small-zh", "tiny-bert"), ["O"], 64, recipes.get("ner", "quick").task_options())
tokenizer = ner_task.tokenizer

# %% [markdown]
# ## 1. 遮什么：字、词、实体
#
# BERT 的中文模型按字（词片）遮盖：`北京大学` 可能只遮住 `京`，模型看一眼 `北_大学` 就能补全，学到的多是字和字的搭配。
# BERT-wwm 按整词遮：一个词的所有字一起遮住。ERNIE 1.0 更进一步，把实体（人名、地名、机构名）和短语当作一个单位遮住，
# 模型只能靠上下文里的知识去猜整个实体。下面用 MSRA 的一句话（实体来自它的标注），三种单位各遮一次（同一个随机种子）。

# %%
sentence = load_examples("ner", "offline", "train")[3]
from tasks.engine.metrics import entities
text = {"chars": sentence["tokens"], "entities": [(a, b) for _, a, b in entities(sentence["labels"])]}
print("原句：", "".join(text["chars"]))
print("实体：", ["".join(text["chars"][a:b]) for a, b in text["entities"]])
rows = []
for scheme, name in masking.SCHEMES.items():
    feature = masking.encode(ner_task, text, scheme)
    ids, positions, originals = masking.mask(feature, np.random.default_rng(0), len(tokenizer),
                                             tokenizer.mask_token_id, set(tokenizer.all_special_ids))
    pieces = tokenizer.convert_ids_to_tokens(ids)
    shown = "".join("[M]" if ids[p] == tokenizer.mask_token_id else pieces[p] for p in range(1, len(ids) - 1))
    rows.append({"掩码": name, "单位数": len(feature["units"]), "遮住的词片": len(positions),
                 "遮住的原文": " ".join(tokenizer.convert_ids_to_tokens(originals)), "输入模型的样子": shown.replace("▁", "")})
lu.table(rows)

# %% [markdown]
# 三行遮住的词片数都约为 15%，但单位不同：逐字掩码的遮盖点零散，整词和实体掩码一次遮住连在一起的几个词片。
# `[M]` 之外，有的词片被换成了随机词片（10%），有的虽被选中却保持原样（10%）：这样模型不能只在看到 `[MASK]` 时才认真，
# 因为微调时输入里根本没有 `[MASK]`。
#
# ## 2. NSP 与 SOP：负例从哪里来
#
# NSP 的正例是相邻的两段话，负例的第二段来自**另一篇文档**；SOP 的正例相同，负例是**同一对话交换顺序**。
# 课程包的派生匹配数据（`data/matching_derived`）正好是 NSP 的形状：一条评论的前半句配它自己的后半句（1），
# 或另一条同样情感、长度相近的评论的后半句（0）。把它的正例前后交换就得到 SOP 数据。
# 最笨的办法是只数两段话有多少相同的字（字符集合的 Jaccard 相似度，阈值在 dev 上选）：

# %%
limit = lu.pick(None, 200)
nsp = {split: load_examples("matching", "offline", split)[:limit] for split in ("dev", "test")}
sop = {split: [row for e in nsp[split] if e["label"] == "1"
               for row in ({"text_a": e["text_a"], "text_b": e["text_b"], "label": "1"},
                           {"text_a": e["text_b"], "text_b": e["text_a"], "label": "0"})] for split in nsp}
scores = {name: overlap_baseline(data["dev"], data["test"]) for name, data in (("NSP 式", nsp), ("SOP 式", sop))}
lu.table([{"数据": name, "测试对数": len(data["test"]), "字符重合基线 测试准确率": round(scores[name]["test_accuracy"], 4)}
          for name, data in (("NSP 式", nsp), ("SOP 式", sop))])

# %% [markdown]
# NSP 式的负例来自另一条评论，话题和用词不同，只数相同的字就能比随机（0.5）猜得好；所以 NSP 可以靠“话题像不像”
# 完成一大半，学不到多少句间的连贯。SOP 的两种顺序用的是同一对话、同一批字，字符重合基线只能是 0.5：
# 模型必须读懂先后关系。这就是 ALBERT 用 SOP 代替 NSP 的理由。
#
# ## 3. 实验：预训练与从零训练
#
# 同一个结构（编码器的词嵌入 + 第 1 层、同样的词表），一个从 e5 的预训练权重出发，一个从 PaddleNLP 的随机初始化出发
# （模型名 `random:e5-small-zh@1`），其余完全相同：Transformer 层和输出层都训练（词嵌入两边都保持初值，
# 更新它的 4000 万个参数比训练这一层还贵），同一规模下训练样本和步数相同（小数据集多过几遍）。
# 训练样本分别为 250、1000、4000 条，每个点 3 个随机种子（种子改变初始化和数据顺序）；旁边是字符 n-gram 逻辑回归。
# 一层的小模型是为了在 2 核 CPU 上 10 分钟内跑完 36 次训练；结论是关于“同一结构下预训练的作用”，不是最好的成绩。

# %%
pretraining = lu.experiment(L, "pretraining")

# %% [markdown]
# 读图的方法：同一横坐标上，两条曲线的距离就是预训练带来的东西；它和各种子的散布（点）比，才知道是不是真的。
# 课程里说“标注数据越少，预训练越重要”：看 250 条时两条曲线的距离和 4000 条时的距离，结论由上面打印的差值给出。
# 情感上，250 条和 1000 条的差值落在彼此的逐种子范围里，分不出哪个更大：这两个规模上，从零训练的模型都停在
# 瞎猜（0.5）附近（表里“随机初始化”那两行），差值就是预训练模型高出瞎猜的那一截；到 4000 条，从零训练的模型
# 才开始学到东西，差值随之变小。所以情感这条曲线说的是“数据少时差距大、数据多了差距缩小”，说不出 250 比 1000 更大。
# 字符 n-gram 的逻辑回归是不用神经网络的老办法：在情感上它并不差，预训练要和它比才算数。
#
# NER 那一半看起来不像课程说的：从零训练的模型在每个规模上都几乎学不到实体，两条曲线的距离随数据增多反而变大。
# 原因在上面说过的一个设置：两边的字向量都不训练。对预训练模型，这些向量本来就有意义；对从零训练的模型，它们是
# 固定的随机向量，一层 Transformer 在这点步数里很难学会“哪些字常做姓、哪些字常在地名末尾”。从零训练的模型
# 真正要从标注数据里学的，首先就是字的表示。
#
# ### 3b. 字向量也训练
#
# 实验 `python -m tasks experiment pretraining_vectors` 只改这一点：NER 上两边的字向量都参与训练（每一步的时间翻倍，
# 所以只测 250 和 4000 两个规模、2 个种子，每个规模都训练 200 步；随机初始化用在验证集上选出的更大学习率，
# 见 `tasks/experiments/pretraining_vectors.py`）。

# %%
vectors = lu.experiment(L, "pretraining_vectors")

# %% [markdown]
# 现在从零训练的模型在 4000 条上追近了预训练模型，在 250 条上仍差得远：结论一行给出两个规模下的差值和逐种子范围，
# 两个种子之间的散布比两个差值之间的距离小得多。这就是“标注数据越少，预训练越重要”：预训练省下的，主要是
# 从标注数据里学字和词的表示；标注数据多了，从零训练的模型自己也学得到。也要注意实验条件：这一结论来自
# 相同步数、可以学字向量的设置，把字向量冻住（上一节）就看不到。
#
# ## 4. 实验：ERNIE 式掩码与逐字掩码
#
# 从同一个 e5 编码器（取第 1 层，和第 3 节一样小）出发，用三种掩码各继续预训练同样的步数（同样的文本：MSRA 训练句和评论训练集，
# 只用训练集），然后：(a) 在留出的句子上分别按三种方式遮盖，看 MLM 准确率；(b) 各自微调 NER 和情感（3 个种子）。
# 继续预训练的编码器存成了模型名（`e5-zh-mlm-char`、`e5-zh-mlm-word`、`e5-zh-mlm-entity`，在 `data/models/` 下），
# 运行过一次 `python -m tasks experiment masking` 之后（仓库里只提交了结果，不提交模型），就可以直接
# `python -m tasks train --task ner --model e5-zh-mlm-entity`。

# %%
masking_result = lu.experiment(L, "masking")

# %% [markdown]
# 表的前三列是 MLM 准确率：按整词或实体遮住时，一个单位里的几个词片都看不到，比逐字遮盖难猜，所以同一个模型
# 在后两列的准确率通常更低；用哪种掩码训练过的模型更擅长哪种遮法，看每一列里谁最高。
# 后几列是微调结果：继续预训练的步数很少（几分钟的 CPU），和各种子的标准差比一比，差别是否超出了噪声，
# 由表里的数字决定；ERNIE 论文里的提升来自几十亿字的语料和长得多的训练。
#
# %%
print(L.elapsed())

# %% [markdown]
# ## 小结
#
# * MLM 遮住 15% 的词元（80% `[MASK]`、10% 随机、10% 不变）；遮盖单位可以是字、词（BERT-wwm）、实体和短语（ERNIE）。
# * NSP 的负例来自别的文档，靠话题就能猜对不少；SOP 交换同一对话的顺序，逼模型学句间连贯（ALBERT）。
# * 预训练的价值要在同一结构、同样步数下和从零训练比，并且看不同的标注数据量。
# * 一种预训练目标好不好，最终看下游任务；少量的继续预训练能不能看出差别，要和种子间的波动比。
#
# ## 练习
#
# 1. 把第 1 节的句子换成别的 MSRA 句子（改下标 3），看实体掩码和整词掩码在什么时候不同。
# 2. 在第 2 节里把 SOP 的负例改成“同一条评论的后半句 + 另一条评论的前半句”，字符重合基线会变成多少？为什么？
# 3. 先运行 `python -m tasks experiment masking`（2 核 CPU 上约 10 分钟），再用 `python -m tasks train --task ner --model e5-zh-mlm-entity` 和 `--model e5-zh-mlm-char` 各训练一次，
#    比较它们的 F1；再换两个 `--seed`，差别还在吗？
# 4. 作业 `homework/` 里有一道题问 SOP 和 n-gram 掩码：用本课的表格回答。
