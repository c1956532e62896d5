"""CRF vs per-word softmax on NER at equal steps (the demo's NER recipe, smaller), over seeds.

The two heads differ only in the output layer and its loss; each seed trains both for the same
planned steps on the same training subset. Reported: chunk F1 on test, the number of test
sentences whose predicted tags break BIO (I-X after O or after another type), and the CRF's learned
transition matrix (legal moves vs the moves BIO forbids)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from tasks import recipes
from tasks.experiments import markdown_table, spread

SEEDS = (1, 2, 3)


def settings(quick: bool):
    recipe = recipes.get("ner", "quick" if quick else "demo")
    if quick:
        return recipe, SEEDS[:2]
    # the demo's NER recipe on a quarter of its data: 2,000 sentences, 1 epoch of 125 steps per head
    return dataclasses.replace(recipe, limits={"train": 2000, "dev": 300, "test": 1000},
                               train=recipe.train | {"eval_every": 125}), SEEDS


def run(quick: bool, out: Path) -> dict:
    recipe, seeds = settings(quick)
    rows, transitions = [], None
    for seed in seeds:
        for head, crf in (("softmax", False), ("CRF", True)):
            run_recipe = dataclasses.replace(recipe.with_options(crf=crf), train=recipe.train | {"seed": seed})
            result = run_recipe.run_train(out / "runs" / f"{head}-seed{seed}", overwrite=True)
            rows.append({"head": head, "seed": seed, "steps": result["steps"], "f1": result["metric"],
                         "invalid_sequences": result["test"].get("invalid_sequences", 0),
                         "test_sentences": result["test_examples"]})
            if crf and transitions is None:
                transitions = result["crf_transitions"]
    summary = {head: {"f1": spread([r["f1"] for r in rows if r["head"] == head]),
                      "invalid_sequences": spread([r["invalid_sequences"] for r in rows if r["head"] == head]),
                      "steps": sorted({r["steps"] for r in rows if r["head"] == head})}
               for head in ("softmax", "CRF")}
    gap = [c["f1"] - s["f1"] for s, c in zip([r for r in rows if r["head"] == "softmax"],
                                             [r for r in rows if r["head"] == "CRF"])]
    summary["crf_minus_softmax_f1"] = spread(gap)
    summary["transitions"] = {k: transitions[k] for k in ("mean_legal", "mean_illegal", "max_illegal")}
    figure(rows, transitions, out / "figure.png", recipe)
    table = markdown_table([{"输出层": head, "步数": "/".join(map(str, summary[head]["steps"])),
                             "测试 F1 均值": summary[head]["f1"]["mean"], "标准差": summary[head]["f1"]["std"],
                             "最低": summary[head]["f1"]["min"], "最高": summary[head]["f1"]["max"],
                             "非法序列（均值）": summary[head]["invalid_sequences"]["mean"]}
                            for head in ("softmax", "CRF")],
                           ["输出层", "步数", "测试 F1 均值", "标准差", "最低", "最高", "非法序列（均值）"])
    d = summary["crf_minus_softmax_f1"]
    conclusion = (f"{len(seeds)} 个种子、每个种子两种输出层步数相同：CRF 比 softmax 的 F1 高 {d['mean']:+.4f}"
                  f"（逐种子差值 {d['min']:+.4f} 到 {d['max']:+.4f}）；非法序列 softmax 平均 "
                  f"{summary['softmax']['invalid_sequences']['mean']:g}、CRF {summary['CRF']['invalid_sequences']['mean']:g}"
                  f"（共 {rows[0]['test_sentences']} 句）；CRF 转移分数 合法平均 {transitions['mean_legal']:+.2f}、"
                  f"不合法平均 {transitions['mean_illegal']:+.2f}。")
    return {"recipe": dataclasses.asdict(recipe), "seeds": list(seeds), "rows": rows, "summary": summary,
            "table": table, "conclusion": conclusion}


def figure(rows, transitions, path: Path, recipe):
    from tasks.engine.plots import new_figure, save_figure

    fig = new_figure(figsize=(12, 4), layout="constrained")
    ax_f1, ax_bad, ax_t = fig.subplots(1, 3)
    for k, (head, color) in enumerate((("softmax", "tab:blue"), ("CRF", "tab:orange"))):
        f1 = [r["f1"] for r in rows if r["head"] == head]
        bad = [r["invalid_sequences"] for r in rows if r["head"] == head]
        ax_f1.bar(k, np.mean(f1), color=color, alpha=0.6)
        ax_f1.plot([k] * len(f1), f1, "ko", ms=4)
        ax_bad.bar(k, np.mean(bad), color=color, alpha=0.6)
        ax_bad.plot([k] * len(bad), bad, "ko", ms=4)
    for ax, title in ((ax_f1, "测试集块级 F1（点：各种子）"), (ax_bad, "非法标签序列数（点：各种子）")):
        ax.set_xticks([0, 1], ["逐字 softmax", "CRF"])
        ax.set_title(title)
    labels, matrix = transitions["labels"], np.array(transitions["matrix"])
    image = ax_t.imshow(matrix, cmap="RdBu_r", vmin=-np.abs(matrix).max(), vmax=np.abs(matrix).max())
    ax_t.set_xticks(range(len(labels)), labels, rotation=60, fontsize=7)
    ax_t.set_yticks(range(len(labels)), labels, fontsize=7)
    ax_t.set(xlabel="后一个标签", ylabel="前一个标签", title="CRF 学到的转移分数（第一个种子）")
    fig.colorbar(image, ax=ax_t, shrink=0.8)
    fig.suptitle(f"CRF 与 softmax：{recipe.model}，训练 {recipe.limits.get('train')} 句，步数相同")
    save_figure(fig, path)
