"""NER from scratch has to learn its character vectors: the ``pretraining`` comparison for NER at 250 and
4,000 examples with the word (character) vectors trained too, in both starting points.

``pretraining`` keeps the 40M-weight vector table frozen in both starts (it doubles a step's time), and
with frozen random vectors the one-layer model from scratch learns almost no NER at any size in its steps,
so its gap to the pretrained model cannot shrink as data grows. Here the table trains: the same model,
the same examples, the same 200 steps at both sizes (the small set seen 13 times, the large one less than
once). The random start takes a larger learning rate (chosen on dev: 400 steps from scratch, frozen
vectors, seed 1, 4,000 examples: dev F1 0.364 at 1.5e-3 against 0.243 at 5e-4; 3e-3 and 1e-2 collapsed
to all-O at 100 steps). The course: pretraining helps most when labelled data is scarce.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from tasks.experiments import Run, gap_text, markdown_table, pretraining, run_all, spread

SIZES = (250, 4000)
STEPS = 200
SEEDS = (1, 2)
LEARNING_RATES = {"pretrained": 5e-4, "scratch": 1.5e-3}
INITS = {k: pretraining.INITS[k] for k in LEARNING_RATES}


def settings(quick: bool):
    """(recipe, sizes, steps, seeds, model)."""
    recipe, sizes, steps, seeds, model = pretraining.settings("ner", quick)
    recipe = dataclasses.replace(recipe, train=recipe.train | {"freeze_embeddings": False})
    if quick:
        return recipe, sizes, steps[sizes[-1]], seeds, model
    return dataclasses.replace(recipe, train=recipe.train | {"eval_every": 50}), SIZES, STEPS, SEEDS, model


def run(quick: bool, out: Path) -> dict:
    recipe, sizes, steps, seeds, model = settings(quick)
    rows, jobs = [], []
    for size in sizes:
        for seed in seeds:
            for init, name in (("pretrained", model), ("scratch", f"random:{model}")):
                train = recipe.train | {"seed": seed, "max_steps": steps, "learning_rate": LEARNING_RATES[init]}
                run_recipe = dataclasses.replace(recipe, limits=recipe.limits | {"train": size}, train=train)
                jobs.append(Run(run_recipe, out / "runs" / f"ner-{size}-{init}-seed{seed}",
                                {"model": name, "overwrite": True, "limits_seed": seeds[0]}))
                rows.append({"size": size, "init": init, "seed": seed, "learning_rate": LEARNING_RATES[init]})
    for row, result in zip(rows, run_all(jobs, side_by_side=not quick)):
        row |= {"steps": result["steps"], "best_step": result["best_step"], "f1": round(result["metric"], 4)}
    summary = {str(size): {init: spread([r["f1"] for r in rows if (r["size"], r["init"]) == (size, init)])
                           for init in INITS} for size in sizes}
    for size in sizes:
        pre, scratch = ([r["f1"] for r in rows if (r["size"], r["init"]) == (size, init)] for init in INITS)
        summary[str(size)]["pretrained_minus_scratch"] = spread([a - b for a, b in zip(pre, scratch)])
    table = markdown_table([{"训练样本": size, "方法": INITS[init], "学习率": f"{LEARNING_RATES[init]:g}",
                             "测试 F1 均值": summary[str(size)][init]["mean"], "最低": summary[str(size)][init]["min"],
                             "最高": summary[str(size)][init]["max"]} for size in sizes for init in INITS],
                           ["训练样本", "方法", "学习率", "测试 F1 均值", "最低", "最高"])
    gaps = "，".join(f"{size} 例 {gap_text(summary[str(size)]['pretrained_minus_scratch'])}" for size in sizes)
    conclusion = (f"命名实体识别，字向量也参与训练；{len(seeds)} 个种子，每种规模都训练 {steps} 步。"
                  f"预训练减从零训练：{gaps}。")
    figure(rows, sizes, out / "figure.png")
    return {"model": model, "sizes": list(sizes), "steps": steps, "seeds": list(seeds),
            "learning_rates": LEARNING_RATES, "rows": rows, "summary": summary, "table": table,
            "conclusion": conclusion}


def figure(rows, sizes, path: Path):
    from tasks.engine.plots import new_figure, save_figure

    fig = new_figure(figsize=(5.5, 4), layout="constrained")
    ax = fig.subplots()
    for init, (color, style) in {"pretrained": ("tab:orange", "o-"), "scratch": ("tab:blue", "s-")}.items():
        values = [[r["f1"] for r in rows if (r["size"], r["init"]) == (s, init)] for s in sizes]
        ax.plot(sizes, [np.mean(v) for v in values], style, color=color, label=INITS[init])
        for s, v in zip(sizes, values):
            ax.plot([s] * len(v), v, ".", color=color, alpha=0.5)
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.set(xlabel="训练样本数（对数）", ylabel="测试集 F1", title="NER：字向量也训练，步数相同（点：各种子）")
    ax.legend(fontsize=8)
    save_figure(fig, path)
