"""Pretrained vs from scratch, at 250 / 1,000 / 4,000 labelled examples (sentiment and NER).

The same architecture (the offline encoder's first layer, with its embeddings and tokenizer)
trained the same way from two starting points: its pretrained weights, or random ones
(``random:e5-small-zh@1``, PaddleNLP's own initialisation). At each size both train the same steps
(the small sets see their examples more often) on the same examples; the layers and the head train, the
word embeddings stay as they started (in both). Beside them, a
character n-gram logistic regression (sentiment: TF-IDF of 1-3 character n-grams; NER: each
character's window of characters and bigrams, tags per character). Three seeds per point (the seed
changes the initialisation and the order; the examples are one fixed draw per size); the
course: pretraining helps most when labelled data is scarce.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from tasks import recipes
from tasks.experiments import Run, gap_text, markdown_table, run_all, spread

TASKS = {"classification": "情感分类（准确率）", "ner": "命名实体识别（F1）"}
SIZES = (250, 1000, 4000)
STEPS = {250: 30, 1000: 50, 4000: 100}  # both starting points: the same steps at each size
INITS = {"pretrained": "预训练权重", "scratch": "随机初始化（从零训练）", "ngram": "字符 n-gram 逻辑回归"}
SEEDS = (1, 2, 3)
MODEL = "e5-small-zh@1"


def settings(task: str, quick: bool):
    """(recipe, sizes, steps per size, seeds, model)."""
    if quick:
        recipe = recipes.get(task, "quick")
        return (dataclasses.replace(recipe, train=recipe.train | {"train_layers": 0}), (16, 48),
                {16: 2, 48: 4}, SEEDS[:2], "tiny-bert")
    recipe = recipes.get(task, "demo")
    # every layer trains; the word embeddings stay as they start (pretrained or random) in both: updating
    # their 40M weights would cost more than the two layers
    train = recipe.train | {"train_layers": 0, "freeze_embeddings": True, "learning_rate": 5e-4, "eval_every": 1000,
                            "cache_dir": ""}
    return (dataclasses.replace(recipe, model=MODEL, max_length=64, train=train,
                                limits={"dev": 200, "test": 1000}), SIZES, STEPS, SEEDS, MODEL)


# -- the character n-gram baselines (scikit-learn) --------------------------------------------------
def ngram_sentiment(train: list[dict], test: list[dict]) -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1)
    x = vectorizer.fit_transform([e["text"] for e in train])
    model = LogisticRegression(C=10.0, max_iter=2000).fit(x, [e["label"] for e in train])
    return float((model.predict(vectorizer.transform([e["text"] for e in test])) ==
                  np.array([e["label"] for e in test])).mean())


def char_window(tokens: list[str], i: int) -> dict:
    at = lambda k: tokens[i + k] if 0 <= i + k < len(tokens) else "<s>"  # noqa: E731
    features = {f"c{k}={at(k)}": 1 for k in range(-2, 3)}
    features.update({f"b{k}={at(k)}{at(k + 1)}": 1 for k in range(-2, 2)})
    return features


def ngram_ner(train: list[dict], test: list[dict]) -> float:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    from tasks.engine.metrics import chunk_scores

    vectorizer = DictVectorizer()
    x = vectorizer.fit_transform([char_window(s["tokens"], i) for s in train for i in range(len(s["tokens"]))])
    model = LogisticRegression(C=10.0, max_iter=300).fit(x, [t for s in train for t in s["labels"]])
    predicted = model.predict(vectorizer.transform([char_window(s["tokens"], i) for s in test
                                                    for i in range(len(s["tokens"]))]))
    sequences, start = [], 0
    for s in test:
        sequences.append(list(predicted[start:start + len(s["tokens"])]))
        start += len(s["tokens"])
    return float(chunk_scores([s["labels"] for s in test], sequences)["f1"])


def run_task(task_name: str, quick: bool, out: Path) -> list[dict]:
    from tasks.engine.checkpoint import task_class
    from tasks.engine.runner import load_split

    recipe, sizes, steps, seeds, model = settings(task_name, quick)
    cls = task_class(task_name)
    test = load_split(cls, "offline", "test", recipe.limits.get("test"), seeds[0])
    baseline = ngram_sentiment if task_name == "classification" else ngram_ner
    rows, jobs, trained = [], [], []  # trained: (row, its training examples) in the order of jobs
    for size in sizes:
        # the same `size` labelled examples for every seed and both starts (seeds change init and order)
        train = load_split(cls, "offline", "train", size, seeds[0])
        rows.append({"task": task_name, "size": size, "init": "ngram", "seed": 0, "steps": 0,
                     "metric": round(baseline(train, test), 4)})  # deterministic: one fit
        for seed in seeds:
            for init, name in (("pretrained", model), ("scratch", f"random:{model}")):
                run = dataclasses.replace(recipe, limits=recipe.limits | {"train": size},
                                          train=recipe.train | {"seed": seed, "max_steps": steps[size]})
                jobs.append(Run(run, out / "runs" / f"{task_name}-{size}-{init}-seed{seed}",
                                {"model": name, "overwrite": True, "limits_seed": seeds[0]}))
                rows.append({"task": task_name, "size": size, "init": init, "seed": seed})
                trained.append((rows[-1], len(train)))
    for (row, examples), result in zip(trained, run_all(jobs, side_by_side=not quick)):
        assert result["train_examples"] == examples
        row |= {"steps": result["steps"], "metric": round(result["metric"], 4)}
    return rows


def run(quick: bool, out: Path) -> dict:
    rows = [r for task in TASKS for r in run_task(task, quick, out)]
    sizes = sorted({r["size"] for r in rows})
    summary = {task: {str(size): {init: spread([r["metric"] for r in rows if r["task"] == task and r["size"] == size
                                                 and r["init"] == init]) for init in INITS}
                      for size in sizes} for task in TASKS}
    for task in TASKS:
        for size in sizes:
            pre = [r["metric"] for r in rows if (r["task"], r["size"], r["init"]) == (task, size, "pretrained")]
            scratch = [r["metric"] for r in rows if (r["task"], r["size"], r["init"]) == (task, size, "scratch")]
            summary[task][str(size)]["pretrained_minus_scratch"] = spread([a - b for a, b in zip(pre, scratch)])
    table = markdown_table([{"任务": TASKS[task], "训练样本": size, "方法": INITS[init],
                             "测试集均值": summary[task][str(size)][init]["mean"],
                             "标准差": summary[task][str(size)][init]["std"],
                             "最低": summary[task][str(size)][init]["min"], "最高": summary[task][str(size)][init]["max"]}
                            for task in TASKS for size in sizes for init in INITS],
                           ["任务", "训练样本", "方法", "测试集均值", "标准差", "最低", "最高"])
    parts = []
    for task in TASKS:
        gaps = ", ".join(f"{size} 例 {gap_text(summary[task][str(size)]['pretrained_minus_scratch'])}"
                         for size in sizes)
        parts.append(f"{TASKS[task]}：预训练减从零训练 {gaps}")
    steps = {r["size"]: r["steps"] for r in rows if r["init"] == "pretrained"}
    conclusion = (f"{len(SEEDS) if not quick else 2} 个种子；同一规模两种初始化步数相同"
                  f"（{', '.join(f'{s} 例 {n} 步' for s, n in steps.items())}）。" + "；".join(parts) + "。")
    figure(rows, sizes, out / "figure.png")
    return {"model": settings("classification", quick)[4], "sizes": sizes, "steps": steps, "rows": rows,
            "summary": summary, "table": table, "conclusion": conclusion,
            "seeds": list(settings("classification", quick)[3])}


def figure(rows, sizes, path: Path):
    from tasks.engine.plots import new_figure, save_figure

    fig = new_figure(figsize=(11, 4), layout="constrained")
    styles = {"pretrained": ("tab:orange", "o-"), "scratch": ("tab:blue", "s-"), "ngram": ("tab:gray", "^--")}
    for ax, task in zip(fig.subplots(1, 2), TASKS):
        for init, (color, style) in styles.items():
            means = [np.mean([r["metric"] for r in rows if (r["task"], r["size"], r["init"]) == (task, s, init)])
                     for s in sizes]
            ax.plot(sizes, means, style, color=color, label=INITS[init])
            for s in sizes:
                values = [r["metric"] for r in rows if (r["task"], r["size"], r["init"]) == (task, s, init)]
                ax.plot([s] * len(values), values, ".", color=color, alpha=0.5)
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.set(xlabel="训练样本数（对数）", ylabel="测试集", title=TASKS[task])
        ax.legend(fontsize=8)
    fig.suptitle("预训练与从零训练：同一结构、同样的步数（点：各种子）")
    save_figure(fig, path)
