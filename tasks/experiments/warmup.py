"""Warmup ablation on sentiment: only ``--warmup`` changes (0 vs 10% of the steps), at the recipe's
learning rate and at a deliberately high one (10x), over seeds. Reported per setting: test accuracy
(mean, spread), the largest training loss of the first steps (a spike), and the loss curves."""
from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np

from tasks import recipes
from tasks.experiments import markdown_table, spread

SEEDS = (1, 2, 3)
WARMUPS = (0.0, 0.1)
EARLY = 10  # the first steps, where a rate at its peak from step 1 does its damage


def settings(quick: bool):
    recipe = recipes.get("classification", "quick" if quick else "demo")
    if quick:  # 20 steps, so that 10% warmup is 2 steps
        return dataclasses.replace(recipe, train=recipe.train | {"max_steps": 20, "eval_every": 20}), SEEDS[:2]
    # the demo's sentiment recipe on 1,000 reviews: 32 steps, one evaluation at the end (12 runs in ~5 minutes)
    return dataclasses.replace(recipe, limits={"train": 1000, "dev": 200, "test": 600},
                               train=recipe.train | {"eval_every": 1000}), SEEDS


def losses_of(run_dir: Path) -> list[float]:
    with (run_dir / "log.csv").open(encoding="utf-8") as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


def run(quick: bool, out: Path) -> dict:
    recipe, seeds = settings(quick)
    base_lr = recipe.train_config().learning_rate
    rates = {"配方学习率": base_lr, "偏大学习率（10 倍）": base_lr * 10}
    rows, curves = [], {}
    for rate_name, lr in rates.items():
        for warmup in WARMUPS:
            for seed in seeds:
                run_recipe = dataclasses.replace(recipe, train=recipe.train | {"seed": seed, "warmup": warmup,
                                                                               "learning_rate": lr})
                folder = out / "runs" / f"lr{lr:g}-warmup{warmup:g}-seed{seed}"
                result = run_recipe.run_train(folder, overwrite=True)
                losses = losses_of(folder)
                curves.setdefault((rate_name, warmup), []).append(losses)
                rows.append({"rate": rate_name, "learning_rate": lr, "warmup": warmup, "seed": seed,
                             "steps": result["steps"], "accuracy": result["metric"],
                             "early_loss_max": round(max(losses[:EARLY]), 4), "final_loss": round(losses[-1], 4)})
    summary = {f"{rate} / warmup {warmup:g}": {
        "accuracy": spread([r["accuracy"] for r in rows if r["rate"] == rate and r["warmup"] == warmup]),
        "early_loss_max": spread([r["early_loss_max"] for r in rows if r["rate"] == rate and r["warmup"] == warmup])}
        for rate in rates for warmup in WARMUPS}
    figure(curves, rows, rates, out / "figure.png", recipe)
    table = markdown_table([{"学习率": rate, "warmup": f"{warmup:.0%}", "测试准确率 均值": s["accuracy"]["mean"],
                             "标准差": s["accuracy"]["std"], "最低": s["accuracy"]["min"], "最高": s["accuracy"]["max"],
                             f"前 {EARLY} 步最大损失（均值）": s["early_loss_max"]["mean"]}
                            for (rate, warmup), s in zip([(r, w) for r in rates for w in WARMUPS], summary.values())],
                           ["学习率", "warmup", "测试准确率 均值", "标准差", "最低", "最高", f"前 {EARLY} 步最大损失（均值）"])
    parts = []
    for rate in rates:
        off, on = summary[f"{rate} / warmup 0"], summary[f"{rate} / warmup 0.1"]
        parts.append(f"{rate}：无预热 {off['accuracy']['mean']:.4f} ± {off['accuracy']['std']:.4f}、"
                     f"10% 预热 {on['accuracy']['mean']:.4f} ± {on['accuracy']['std']:.4f}，"
                     f"前 {EARLY} 步最大损失 {off['early_loss_max']['mean']:.3f} 对 {on['early_loss_max']['mean']:.3f}")
    conclusion = f"{len(seeds)} 个种子，步数相同（{rows[0]['steps']} 步）。" + "；".join(parts) + "。"
    return {"recipe": dataclasses.asdict(recipe), "seeds": list(seeds), "rows": rows, "summary": summary,
            "table": table, "conclusion": conclusion}


def figure(curves, rows, rates, path: Path, recipe):
    from tasks.engine.plots import new_figure, save_figure

    fig = new_figure(figsize=(13, 4), layout="constrained")
    axes = fig.subplots(1, len(rates) + 1)
    colors = {0.0: "tab:red", 0.1: "tab:blue"}
    for ax, rate in zip(axes, rates):
        for warmup in WARMUPS:
            runs = np.array(curves[(rate, warmup)])
            steps = np.arange(1, runs.shape[1] + 1)
            ax.plot(steps, runs.mean(0), color=colors[warmup], label=f"warmup {warmup:.0%}（均值）")
            ax.fill_between(steps, runs.min(0), runs.max(0), color=colors[warmup], alpha=0.2)
        ax.set(xlabel="步", ylabel="训练损失", title=f"{rate} {rates[rate]:g}（阴影：各种子的范围）")
        ax.legend()
    ax = axes[-1]
    labels = []
    for k, (rate, warmup) in enumerate((r, w) for r in rates for w in WARMUPS):
        accs = [r["accuracy"] for r in rows if r["rate"] == rate and r["warmup"] == warmup]
        ax.bar(k, np.mean(accs), color=colors[warmup], alpha=0.5)
        ax.plot([k] * len(accs), accs, "ko", ms=4)
        labels.append(f"{'大' if '偏大' in rate else '配方'} lr\nwarmup {warmup:.0%}")
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    lows = [r["accuracy"] for r in rows]
    ax.set_ylim(max(0.0, min(lows) - 0.05), min(1.0, max(lows) + 0.03))
    ax.set_title("测试准确率（点：各种子）")
    fig.suptitle(f"学习率预热：{recipe.model}，{recipe.limits.get('train')} 条评论，只改 warmup")
    save_figure(fig, path)
