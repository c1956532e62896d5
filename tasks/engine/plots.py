"""PNG figures from a run: loss / learning-rate curves, confusion matrix."""
from __future__ import annotations

import csv
from pathlib import Path

from matplotlib.figure import Figure

from tasks.fonts import use_cjk_font
from tasks.io import atomic_path


def new_figure(**kwargs) -> Figure:
    """A figure not tied to pyplot's global state or backend (files only, safe in notebooks)."""
    use_cjk_font()  # labels may be Chinese
    return Figure(**kwargs)


def save_figure(fig, path: Path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")


def read_log(log_csv: Path) -> list[dict]:
    with Path(log_csv).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def training_curves(log_csv: Path, out_png: Path, title: str = "") -> Path:
    """Three panels: training loss (raw + moving mean), dev metric at each evaluation, learning rate."""
    rows = read_log(log_csv)
    steps = [int(r["step"]) for r in rows]
    losses = [float(r["loss"]) for r in rows]
    fig = new_figure(figsize=(13, 3.6), layout="constrained")
    ax_loss, ax_dev, ax_lr = fig.subplots(1, 3)
    ax_loss.plot(steps, losses, lw=0.8, alpha=0.5, label="每一步")
    window = max(1, len(losses) // 20)
    if window > 1:
        smooth = [sum(losses[max(0, i - window + 1):i + 1]) / (i + 1 - max(0, i - window + 1)) for i in range(len(losses))]
        ax_loss.plot(steps, smooth, lw=1.8, label=f"{window} 步滑动平均")
    ax_loss.set(xlabel="训练步", ylabel="训练损失", title="训练损失")
    ax_loss.legend()
    evals = [r for r in rows if r.get("eval_value")]
    if evals:
        ax_dev.plot([int(r["step"]) for r in evals], [float(r["eval_value"]) for r in evals], "o-", color="tab:green")
        ax_dev.set(ylabel=f"开发集 {evals[-1]['eval_metric']}")
    ax_dev.set(xlabel="训练步", title="开发集指标")
    ax_lr.plot(steps, [float(r["lr"]) for r in rows], color="tab:orange")
    ax_lr.set(xlabel="训练步", ylabel="学习率", title="线性预热，再线性衰减")
    ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    fig.suptitle(title)
    save_figure(fig, Path(out_png))
    return Path(out_png)


def confusion_matrix(gold, pred, labels, out_png: Path, title: str = "") -> Path:
    """Rows: true class (with its recall), columns: predicted class; ``labels``: the classes' names."""
    from sklearn.metrics import confusion_matrix as sk_confusion

    matrix = sk_confusion(gold, pred, labels=list(range(len(labels))))
    recall = matrix.diagonal() / matrix.sum(1).clip(min=1)
    fig = new_figure(figsize=(1.2 * len(labels) + 2, 1.2 * len(labels) + 1.5))
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), [f"{name}\n召回 {r:.1%}" for name, r in zip(labels, recall)])
    ax.set_xlabel("预测")
    ax.set_ylabel("真实")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                    color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    ax.set_title(title)
    save_figure(fig, Path(out_png))
    return Path(out_png)
