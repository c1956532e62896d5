"""The README's main command: fine-tune all four tasks on the offline default.

Sized to finish within 15 minutes on a 2-core CPU: the offline encoder cut to
its first layers, frozen word embeddings, training subsets, short sequences. Prints one results table and
writes it (results.json, results.md) with every run's plots under one run folder;
the last line printed is the path of results.json.
"""
from __future__ import annotations

import time
from pathlib import Path

from tasks.engine.runner import run_train, write_json
from tasks.engine.trainer import TrainConfig

REPO_ROOT = Path(__file__).resolve().parent.parent
TABLE_KEYS = ("task", "model", "train_examples", "minutes", "metric_name", "metric")

# (task, model, options, limits, max_length, training settings). Chosen by measurement on a 2-core CPU:
# a 2-layer encoder with a higher learning rate gets much further within a few minutes
# than the 4-layer one; classification is cheap enough for 4 layers.
PLAN = [
    ("classification", "e5-small-zh@4", {}, {"train": 2560, "dev": 300, "test": 1000}, 96,
     dict(epochs=1, batch_size=32, learning_rate=3e-4, eval_every=20)),
    ("ner", "e5-small-zh@2", {"crf": False}, {"train": 2560, "dev": 300, "test": 1000}, 96,
     dict(epochs=1, batch_size=16, learning_rate=1e-3, eval_every=40)),
    ("single_tower", "e5-small-zh@2", {}, {"train": 2048, "dev": 300, "test": 1000}, 128,
     dict(epochs=1, batch_size=32, learning_rate=1e-4, eval_every=25)),
    ("dual_tower", "e5-small-zh@2", {"objective": "both"}, {"train": 2560, "dev": 300, "test": 1000}, 64,
     dict(epochs=1, batch_size=32, learning_rate=1e-4, eval_every=20)),
]
QUICK = dict(limits={"train": 64, "dev": 32, "test": 32}, settings=dict(max_steps=4, batch_size=16, eval_every=2))


def format_table(rows: list[dict]) -> str:
    header = "| task | model | train examples | minutes | metric | value |"
    lines = [header, "|---|---|---:|---:|---|---:|"]
    for r in rows:
        value = "—" if r["metric"] is None else f"{r['metric']:.4f}"
        lines.append(f"| {r['task']} | {r['model']} | {r['train_examples']} | {r['minutes']:.1f} | {r['metric_name']} | {value} |")
    return "\n".join(lines)


def run_demo(out: Path | None = None, model: str | None = None, quick: bool = False) -> Path:
    from tasks import build_data, offline_encoder

    out = Path(out or REPO_ROOT / "runs" / time.strftime("demo-%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    build_data.build_all(REPO_ROOT)
    offline_encoder.ensure_built(REPO_ROOT)
    rows, extra = [], []
    for task, planned_model, options, limits, max_length, settings in PLAN:
        name = model or ("tiny-bert" if quick else planned_model)
        if quick:
            limits, settings = QUICK["limits"], QUICK["settings"]
        print(f"\n=== {task}: {name}, {limits['train']} training examples ===", flush=True)
        config = TrainConfig(**settings, freeze_embeddings=True)
        result = run_train(task, name, "offline", out / task, config, max_length=max_length,
                           options=options, limits=limits)
        rows.append({k: result[k] for k in TABLE_KEYS})
        if task == "dual_tower":  # retrieval is the point of a dual tower
            extra.append({k: result["test"][k] for k in ("recall@1", "recall@10", "mrr", "candidates") if k in result["test"]})
    table = format_table(rows)
    note = ""
    if extra:
        note = "dual_tower retrieval on test: " + ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                                                          for k, v in extra[0].items())
    total = (time.time() - started) / 60
    (out / "results.md").write_text(f"{table}\n\n{note}\n\ntotal {total:.1f} min\n", encoding="utf-8")
    write_json(out / "results.json", rows)
    print("\n" + table)
    if note:
        print(note)
    print(f"total {total:.1f} min; plots: {out}/*/curves.png, {out}/classification/confusion.png")
    print(out / "results.json")
    return out / "results.json"
