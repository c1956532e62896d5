# %% [markdown]
# # 第 6 课 · 作业指南：打开、自查、看懂反馈、跑评分测试
#
# 课程有 6 次作业，都在 `homework/assignments/` 里，每次作业是一个 Python 文件，每道题是一个**函数**。
# 评分时用许多随机输入调用你的函数，与**框架本身**给出的真值比较：例如 LSTM 的参数个数就是
# `paddle.nn.LSTM` 实际有多少个参数。所以答案不能写死，必须真的算出来。
#
# 本课演示完整的流程（每一步在终端里也可以做，命令写在每节开头）：
#
# 1. `python -m homework list`：有哪些作业、每题几分；
# 2. 打开一个作业文件，读题目说明；
# 3. `python -m homework check <作业>`：自查，看每题得分和反馈；
# 4. `pytest homework/graded`：同样的检查写成 pytest 测试，评分用的就是它。
#
# 下面的单元格用当前内核的 Python 在仓库根目录运行这些命令，并打印输出。

# %%
import sys, pathlib
if not pathlib.Path("lesson_utils.py").exists():  # 从仓库根目录打开时
    sys.path.insert(0, "notebooks")
import lesson_utils as lu

L = lu.start("06")
ROOT = lu.ROOT

import numpy as np

# %% [markdown]
# ## 1. 有哪些作业
#
# 终端：`python -m homework list`

# %%
lu.run_cli(["-m", "homework", "list"]);

# %% [markdown]
# 每次作业对应前几课的内容：
#
# | 作业 | 对应的课 | 内容 |
# |---|---|---|
# | `attention` | 第 2 课 | 缩放点积注意力、q·k 的方差、softmax 饱和、多头的形状与参数量 |
# | `mlm_masking` | 第 1 课 | MLM 遮盖 15% / 80-10-10 的期望个数，自己实现遮盖函数 |
# | `transformer_bert` | 第 1、2 课 | BERT 嵌入层、编码器层、解码器层、整个 BertModel 的参数量，正弦位置编码，BERT 的输入表示 |
# | `negative_sampling` | 第 1 课 | 静态词向量（word2vec）为什么用负采样 |
# | `rnn_params` | 第 1、3 课 | RNN / LSTM / GRU 的参数量（ELMo 用的就是 LSTM），RNN 文本分类模型 |
# | `concepts` | 全部 | 选择题：RNN 与 CNN、编码器/解码器的子层、因果 mask、SOP、n-gram 遮盖、位置/句子嵌入 |
#
# ## 2. 打开一个作业
#
# 作业文件就是你要编辑的文件：在 Jupyter 的文件浏览器里打开 `homework/assignments/attention.py`
# （或者用任何编辑器），把每个函数里的 `raise NotImplementedError("TODO")` 换成你的实现。
# 文件开头的说明和每个函数的文档字符串就是题目。看看第一题：

# %%
template = ROOT / "homework" / "assignments" / "attention.py"
text = template.read_text(encoding="utf-8")
start = text.index("def scaled_dot_product_attention")
print(f"# {template.relative_to(ROOT)}（节选）\n")
print(text[start:text.index("def score_variance")])

# %% [markdown]
# ## 3. 自查：`check`
#
# 终端：`python -m homework check attention`
#
# 先在**空白模板**上运行：每题都还是 `raise NotImplementedError`，所以每题 0 分，反馈会说“尚未实现”。
# 退出码：满分为 0，没满分为 1，文件有问题（语法错误、导入失败）为 2。

# %%
lu.run_cli(["-m", "homework", "check", "attention"], expect=(1,));

# %% [markdown]
# ### 一份有错的答案
#
# 假设一个同学写了第 1、2 题，但犯了两个典型错误：注意力分数**忘了除以 √d_k**（也没有处理 mask 和批量维），
# 方差公式也写错了。我们把他的答案写到一个单独的文件里（不会碰你的 `homework/assignments/`），
# 用 `--file` 检查它；`--seed` 固定随机输入，便于复现。

# %%
wrong = L.run_dir / "my_attention.py"
wrong_sdpa = '''    scores = q @ k.T                      # 忘了除以 √d_k；也没有处理 mask 和批量维
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = weights / weights.sum(axis=-1, keepdims=True)
    return weights @ v, weights'''
wrong_variance = '''    return d_k * sigma ** 2               # 方差公式写错了，也没有看 scaled'''
todo = '    raise NotImplementedError("TODO")'
parts = text.split(todo)
wrong.write_text(parts[0] + wrong_sdpa + parts[1] + wrong_variance + todo.join([""] + parts[2:]), encoding="utf-8")
print(f"写好了 {wrong.relative_to(ROOT)}")
lu.run_cli(["-m", "homework", "check", "attention", "--file", wrong, "--seed", "42"], expect=(1,));

# %% [markdown]
# ### 怎样读反馈
#
# * 第一行是总分；每题一行：`Q1 [得分/满分] 题目 ✓/◐/✗`，◐ 表示部分得分（分值 × 通过的检查比例）。
# * `✗ 输入 ...`：哪一组输入没通过。数组只显示形状，例如 `q(2, 3, 8)` 表示一个形状为 (2, 3, 8) 的数组。
# * `期望` / `你的`：框架算出的真值和你的返回值；数组给出第一个超出容差的位置。
#   容差写在反馈里（这里是相对误差 ≤ 1e-4），方差题用蒙特卡洛估计做真值，容差是 15%。
# * `运行出错`：你的函数在这组输入上抛了异常（上面的 `q @ k.T` 遇到批量维就出错了：三维数组的 `.T` 把所有轴都倒过来了）。
# * `提示`：对常见错误的诊断，例如“没有除以 √d_k”。
#
# 每次运行 `check` 的随机输入都不同（公开示例除外），所以把示例的答案写死是拿不到分的。
# 修改、保存、再运行 `check`，直到每题都是 ✓。
#
# `--json` 让 `check` 输出机器可读的结果（Gradescope 的格式），可以拿来画图：空白模板和上面那份答案每题各得几分。

# %%
import json
import textwrap
import matplotlib.pyplot as plt

runs_json = {}
for label, extra in (("空白模板", []), ("有错的答案", ["--file", wrong])):
    proc = lu.run_cli(["-m", "homework", "check", "attention", "--seed", "42", "--json", *extra], expect=(1,), echo=False)
    runs_json[label] = json.loads(proc.stdout)["tests"]
blank = runs_json["空白模板"]
fig, ax = plt.subplots(figsize=(7, 3.6))
x = np.arange(len(blank))
ax.bar(x, [t["max_score"] for t in blank], width=0.8, color="none", edgecolor="gray", ls="--", label="满分")
for k, (label, tests) in enumerate(runs_json.items()):
    ax.bar(x + (k - 0.5) * 0.35, [t["score"] for t in tests], width=0.35, label=label)
ax.set_xticks(x, [t["name"].split(" ", 2)[1] + "\n" + "\n".join(textwrap.wrap(t["name"].split(" ", 2)[2], 7))
                 for t in blank], fontsize=7)  # whole titles, wrapped (not cut mid-word)
ax.set_ylabel("得分")
ax.set_title("python -m homework check attention：每题得分")
ax.legend()
L.save(fig, "check_scores")
plt.show()

# %% [markdown]
# ## 4. 评分用的 pytest 测试
#
# 同样的检查也写成了 pytest 测试，一题一个测试，分值写在测试名里；老师评分用的是同一套检查。
#
# ```bash
# pytest homework/graded                                   # 检查 homework/assignments/ 下的全部作业
# pytest homework/graded/test_attention.py                 # 只检查一次作业
# pytest homework/graded --homework-dir my_work/           # 检查 my_work/<作业>.py
# pytest homework/graded/test_attention.py --homework-file my_attention.py --homework-seed 42
# ```
#
# 注意：在仓库根目录直接运行 `pytest` 只会跑项目自己的测试（`tests/`），评分测试要像上面这样显式地指明 `homework/graded`。
# 用上面那份有错的答案跑一遍（没通过的测试会让 pytest 以退出码 1 结束）：

# %%
lu.run_cli(["-m", "pytest", "homework/graded/test_attention.py", "--homework-file", wrong,
                   "--homework-seed", "42", "-q", "--no-header", "-p", "no:cacheprovider"], expect=(1,));

# %% [markdown]
# 最后几行是汇总：每道题一个 `FAILED` / `PASSED`，以及“作业得分”表。
# 对全部空白模板运行一次完整的评分测试（`--tb=no` 只打印每题的结果和最后的得分表）：

# %%
lu.run_cli(["-m", "pytest", "homework/graded", "-q", "--no-header", "-p", "no:cacheprovider", "--tb=no"], expect=(1,));

# %%
print(L.elapsed())

# %% [markdown]
# ## 小结与建议
#
# * 编辑 `homework/assignments/<作业>.py` → `python -m homework check <作业>` → 读反馈 → 改 → 再查。
# * 题目给的是函数签名和说明；返回 numpy 数组、列表或数字都可以，形状要对。
# * 计算题的真值来自 paddle / PaddleNLP 本身：拿不准时，可以自己建一个小模型数一数参数（例如 `sum(p.numel() for p in layer.parameters())`），
#   但交上去的函数要按公式算，不能依赖某个固定的例子。
# * 选择题（`concepts`）的答案由老师保管；本地 `check` 在没有答案文件时只检查格式。
#
# ## 练习
#
# 1. 修好上面那份错误答案的 Q1：加上 √d_k 缩放、mask、任意批量维（提示：`np.swapaxes(k, -1, -2)`），让 `check` 显示 Q1 ✓。
# 2. 依次完成 6 次作业，最后运行 `pytest homework/graded`，确认每题都 PASSED。
