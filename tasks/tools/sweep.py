"""Recipes from measurements: `python -m tasks.tools sweep`.

Trains the candidate settings of a task (tasks/recipes.py ``CANDIDATES``) on the offline data,
one run after another, and records each run's dev and test metric and wall time in
``runs/sweep/recipes.json``; ``runs/sweep/recipes.md`` is regenerated from it (copy them into
benchmarks/ to publish them), with the best dev
metric per time budget marked. Runs already recorded on this machine with the same settings are
skipped, so an interrupted sweep continues where it stopped. ``--add RUN_DIR`` records a run
made with `train` (its results.json).
"""
from __future__ import annotations

import hashlib
import json
import platform
import time
from pathlib import Path

from tasks import recipes
from tasks.errors import TaskError
from tasks.io import REPO_ROOT, write_json, write_text

RECORD = REPO_ROOT / "runs" / "sweep" / "recipes.json"  # copy into benchmarks/ what is worth keeping
TABLE = REPO_ROOT / "runs" / "sweep" / "recipes.md"
BUDGETS = ("demo", "readme", "full")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    from tasks.cpu import physical_cores

    return f"{cpu}, {physical_cores()} cores, {platform.machine()}"


def settings_of(results: dict) -> dict:
    config = results["config"]
    keep = ("epochs", "max_steps", "batch_size", "learning_rate", "train_layers", "warmup", "max_length",
            "budget_minutes")
    return {"model": results["model"], "train_examples": results["train_examples"],
            **{k: config.get(k) for k in keep}, "options": results.get("options", {})}


def row_of(results: dict, candidate: str) -> dict:
    settings = settings_of(results)
    key = hashlib.sha256(json.dumps([results["task"], settings, machine()], sort_keys=True).encode()).hexdigest()[:16]
    return {"key": key, "task": results["task"], "candidate": candidate, "machine": machine(),
            "date": time.strftime("%Y-%m-%d"), "settings": settings, "minutes": results["minutes"],
            "metric_name": results["metric_name"], "dev": results["best_dev"], "test": results["metric"],
            "test_details": {k: v for k, v in results.get("test", {}).items() if isinstance(v, (int, float))}}


def load_record() -> list[dict]:
    if not RECORD.is_file():
        return []
    return json.loads(RECORD.read_text(encoding="utf-8"))


def save(rows: list[dict]):
    write_json(RECORD, rows)
    write_text(TABLE, table(rows))


def add(rows: list[dict], row: dict) -> list[dict]:
    return [r for r in rows if r["key"] != row["key"]] + [row]


def limit_of(task: str, budget: str) -> float | None:
    """The most minutes a run may take to count for a budget: its recipe's --budget-minutes (None: no limit)."""
    return recipes.get(task, budget).train.get("budget_minutes") or None


def table(rows: list[dict]) -> str:
    lines = ["# Recipe sweep", "",
             "Written by `python -m tasks.tools sweep` (tasks/tools/sweep.py) from its recipes.json: every run's "
             "settings,", "its best dev metric (which chose the recipe), its test metric and wall time. Per task and "
             "budget (the recipe's", "--budget-minutes, none for the demo and full recipes), **bold** marks the best "
             "dev metric among the runs that fit.", ""]
    for task in recipes.TASK_NAMES:
        task_rows = sorted((r for r in rows if r["task"] == task), key=lambda r: r["minutes"])
        if not task_rows:
            continue
        best = {}
        for budget in BUDGETS:
            fits = [r for r in task_rows if limit_of(task, budget) is None or r["minutes"] <= limit_of(task, budget)]
            if fits:
                best[budget] = max(fits, key=lambda r: r["dev"] or 0)["key"]
        lines += [f"## {task}", "", "| candidate | model | K | len | lr | epochs | batch | train ex. | minutes | "
                  "dev | test | best for |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in task_rows:
            s = r["settings"]
            chosen = [b for b, key in best.items() if key == r["key"]]
            dev = f"{r['dev']:.4f}" if r["dev"] is not None else "—"
            test = f"{r['test']:.4f}" if r["test"] is not None else "—"
            if chosen:
                dev = f"**{dev}**"
            lines.append(f"| {r['candidate']} | {s['model']} | {s['train_layers'] or 'all'} | {s['max_length']} | "
                         f"{s['learning_rate']:g} | {s['epochs']:g} | {s['batch_size']} | {s['train_examples']} | "
                         f"{r['minutes']:.1f} | {dev} | {test} | {', '.join(chosen)} |")
        lines += ["", f"metric: {task_rows[0]['metric_name']}; machine: {task_rows[-1]['machine']}", ""]
    return "\n".join(lines) + "\n"


def run_sweep(task: str, names: list[str] | None = None, runs_dir: Path | None = None, force: bool = False) -> list[dict]:
    candidates = recipes.candidates(task)
    names = names or list(candidates)
    unknown = [n for n in names if n not in candidates]
    if unknown:
        raise TaskError(f"sweep --candidates {','.join(unknown)}: expected some of {', '.join(candidates)}")
    runs_dir = Path(runs_dir or REPO_ROOT / "runs" / "sweep")
    rows = load_record()
    for name in names:
        recipe = candidates[name]
        out = runs_dir / task / name
        done = out / "results.json"
        if done.is_file() and not force:
            results = json.loads(done.read_text(encoding="utf-8"))
        else:
            print(f"\n=== sweep {task}: {name} ===", flush=True)
            results = recipe.run_train(out, overwrite=True)
        rows = add(rows, row_of(results, name))
        save(rows)
        print(f"{task} {name}: dev {results['best_dev']:.4f} test {results['metric']:.4f} "
              f"in {results['minutes']:.1f} min", flush=True)
    return rows


def add_run(run_dir: Path, candidate: str | None = None) -> dict:
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise TaskError(f"sweep --add {run_dir}: no results.json; expected a finished `train` run folder")
    results = json.loads(path.read_text(encoding="utf-8"))
    row = row_of(results, candidate or Path(run_dir).name)
    save(add(load_record(), row))
    return row
