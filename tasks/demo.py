"""The README's main command: fine-tune all four tasks on the offline default.

Each task runs its ``demo`` recipe (tasks/recipes.py), sized to finish within 15 minutes on a
2-core CPU. Prints one results table and
writes it (results.json, results.md) with every run's plots under one run folder;
the last line printed is the path of results.json.
"""
from __future__ import annotations

import time
from pathlib import Path

from tasks import recipes
from tasks.io import REPO_ROOT, write_json, write_text

TABLE_KEYS = ("task", "model", "train_examples", "minutes", "metric_name", "metric")


def format_table(rows: list[dict]) -> str:
    header = "| task | model | train examples | minutes | metric | value |"
    lines = [header, "|---|---|---:|---:|---|---:|"]
    for r in rows:
        value = "—" if r["metric"] is None else f"{r['metric']:.4f}"
        lines.append(f"| {r['task']} | {r['model']} | {r['train_examples']} | {r['minutes']:.1f} | {r['metric_name']} | {value} |")
    return "\n".join(lines)


def run_demo(out: Path | None = None, model: str | None = None, quick: bool = False) -> Path:
    from tasks.data import build as build_data
    from tasks.models import offline_encoder

    out = Path(out or REPO_ROOT / "runs" / time.strftime("demo-%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    build_data.build_all(REPO_ROOT)
    offline_encoder.ensure_built(REPO_ROOT)
    rows, extra = [], []
    for task in recipes.TASK_NAMES:
        recipe = recipes.get(task, "quick" if quick else "demo")
        name = model or recipe.model
        print(f"\n=== {task}: {name}, {recipe.limits['train']} training examples ===", flush=True)
        result = recipe.run_train(out / task, model=name, overwrite=True)
        rows.append({k: result[k] for k in TABLE_KEYS})
        if "recall@1" in result["test"]:  # retrieval is the point of a dual tower
            extra.append({k: result["test"][k] for k in ("recall@1", "recall@10", "mrr", "candidates") if k in result["test"]})
    table = format_table(rows)
    note = ""
    if extra:
        note = "dual_tower retrieval on test: " + ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                                                          for k, v in extra[0].items())
    total = (time.time() - started) / 60
    write_text(out / "results.md", f"{table}\n\n{note}\n\ntotal {total:.1f} min\n")
    write_json(out / "results.json", rows)
    print("\n" + table)
    if note:
        print(note)
    print(f"total {total:.1f} min; plots: {out}/*/curves.png, {out}/classification/confusion.png")
    print(out / "results.json")
    return out / "results.json"
