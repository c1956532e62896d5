"""PNG figures from a run: loss / learning-rate curves, confusion matrix."""
from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402


def _save(fig, path: Path):
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)


def read_log(log_csv: Path) -> list[dict]:
    with Path(log_csv).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def training_curves(log_csv: Path, out_png: Path, title: str = "") -> Path:
    rows = read_log(log_csv)
    steps = [int(r["step"]) for r in rows]
    fig, (ax_loss, ax_lr) = plt.subplots(1, 2, figsize=(10, 3.6))
    losses = [float(r["loss"]) for r in rows]
    ax_loss.plot(steps, losses, lw=0.8, alpha=0.5, label="loss (per step)")
    window = max(1, len(losses) // 20)
    if window > 1:
        smooth = [sum(losses[max(0, i - window + 1):i + 1]) / len(losses[max(0, i - window + 1):i + 1]) for i in range(len(losses))]
        ax_loss.plot(steps, smooth, lw=1.8, label=f"moving mean ({window})")
    eval_rows = [r for r in rows if r.get("eval_value")]
    if eval_rows:
        ax_dev = ax_loss.twinx()
        ax_dev.plot([int(r["step"]) for r in eval_rows], [float(r["eval_value"]) for r in eval_rows], "o-",
                    color="tab:green", label=f"dev {eval_rows[-1]['eval_metric']}")
        ax_dev.set_ylabel("dev metric")
        ax_dev.legend(loc="center right")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("training loss")
    ax_loss.legend(loc="upper right")
    ax_lr.plot(steps, [float(r["lr"]) for r in rows], color="tab:orange")
    ax_lr.set_xlabel("step")
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_title("linear warmup, then linear decay")
    fig.suptitle(title)
    _save(fig, Path(out_png))
    return Path(out_png)


def confusion_matrix(gold, pred, labels, out_png: Path, title: str = "") -> Path:
    from sklearn.metrics import confusion_matrix as sk_confusion

    matrix = sk_confusion(gold, pred, labels=list(range(len(labels))))
    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2, 1.2 * len(labels) + 1.5))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                    color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    ax.set_title(title)
    _save(fig, Path(out_png))
    return Path(out_png)
