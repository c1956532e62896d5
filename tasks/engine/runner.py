"""train / evaluate / predict / export for any task: the glue between data, task, trainer and plots."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import paddle

from tasks import datasets
from tasks.config import TrainConfig
from tasks.engine import checkpoint, inference, plots
from tasks.engine.checkpoint import BEST_DIR, RESUME_DIR, task_class  # noqa: F401  (task_class re-exported)
from tasks.engine.trainer import LOG_FILE, train
from tasks.errors import TaskError
from tasks.io import write_json

log = logging.getLogger("tasks")
RESULTS_FILE = "results.json"
load_checkpoint = checkpoint.load  # (task, model) of a saved checkpoint


def load_split(task_cls, data: str, split: str, limit: int | None = None, seed: int = 0) -> list[dict]:
    examples = datasets.load_examples(task_cls.data_kind, data, split)
    if limit and len(examples) > limit:
        rng = np.random.default_rng(seed)  # a fixed random subset, not the first rows (files may be sorted)
        examples = [examples[i] for i in sorted(rng.choice(len(examples), limit, replace=False))]
    return examples


def read_labels_file(path: str) -> tuple[list[str], dict]:
    """``label`` or ``label<TAB>name`` per line -> (labels, names)."""
    file = Path(path)
    if not file.is_file():
        raise TaskError(f"--labels {file}: file not found (expected one label per line, optionally label<TAB>name)")
    labels, names = [], {}
    for line in datasets.read_lines(file):
        if not line.strip():
            continue
        label, _, name = line.strip().partition("\t")
        labels.append(label.strip())
        if name.strip():
            names[label.strip()] = name.strip()
    if len(set(labels)) != len(labels):
        raise TaskError(f"--labels {file}: duplicate labels")
    if not labels:
        raise TaskError(f"--labels {file}: no labels")
    return labels, names


def labels_for(task_cls, examples: list[dict], labels_file: str | None = None, data: str = "") -> tuple[list, dict]:
    if labels_file:
        return read_labels_file(labels_file)
    return datasets.label_list(task_cls.data_kind, examples), datasets.label_names(task_cls.data_kind, data)


def encode_split(task, examples: list[dict], what: str) -> list[dict]:
    try:
        return task.encode_all(examples, what=what)
    except TaskError as err:
        raise TaskError(f"{what}: {err}") from None


def check_run_folder(out_dir: Path, resume: bool, overwrite: bool):
    """A finished or interrupted run is never cleared by accident (its best/ stays until replaced)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise TaskError(f"--out {out_dir}: exists and is not a directory; expected a run folder")
    previous = [name for name in (BEST_DIR, RESUME_DIR, RESULTS_FILE) if (out_dir / name).exists()]
    if previous and not (resume or overwrite):
        raise TaskError(f"--out {out_dir} already holds a run ({', '.join(previous)}); use --resume to continue it, "
                        "--overwrite to replace it, or another --out")


def run_train(task_name: str, model_name: str, data: str, out_dir: Path, config: TrainConfig, *,
              max_length: int = 128, options=None, limits: dict | None = None,
              labels_file: str | None = None, resume: bool = False, overwrite: bool = False) -> dict:
    """Train, keep the best dev checkpoint, evaluate it on test, write results.json and plots."""
    limits = limits or {}
    out_dir = Path(out_dir)
    check_run_folder(out_dir, resume, overwrite)
    if Path(str(data)).expanduser().is_file():
        raise TaskError(f"--data {data}: is a file; training needs a directory holding train, dev and test files "
                        "(a single file would serve as all three and the test score would be on training data)")
    started = time.time()
    task_cls = task_class(task_name)
    splits = {split: load_split(task_cls, data, split, limits.get(split), config.seed) for split in ("train", "dev", "test")}
    if splits["test"] and all(e.get("label") == "" for e in splits["test"]):  # e.g. PaddleNLP's ChnSentiCorp test
        log.warning("the test split of %s has no labels; the result has no test metric", data)
        splits["test"] = []
    labels, names = labels_for(task_cls, splits["train"], labels_file, data)
    task = task_cls(model_name, labels, max_length, options, label_names=names)
    features = {split: encode_split(task, examples, f"{data} {split} split") for split, examples in splits.items()}
    for split in ("train", "dev"):
        datasets.check_label_variety(task_cls.data_kind, splits[split], f"{data} {split} split")
    out_dir.mkdir(parents=True, exist_ok=True)
    paddle.seed(config.seed)
    model = task.build_model(model_name)
    state = train(task, model, features["train"], features["dev"], out_dir, config, resume=resume)
    train_minutes = (time.time() - started) / 60

    best_task, best_model = checkpoint.load(out_dir / BEST_DIR, expect_task=task_name)
    test_metrics = best_task.evaluate(best_model, features["test"]) if features["test"] else {}
    results = {
        "task": task_name, "model": model_name, "data": data,
        **{f"{split}_examples": len(examples) for split, examples in splits.items()},
        "steps": state.step, "best_step": state.best_step, "best_dev": state.best_value, "dev": state.best_metrics,
        "stopped_early": state.stopped_early, "metric_name": task.main_metric,
        "metric": test_metrics.get(task.main_metric), "test": public(test_metrics),
        "minutes": round((time.time() - started) / 60, 2), "train_minutes": round(train_minutes, 2),
        "config": vars(config) | {"max_length": max_length}, "options": task.describe()["options"],
        "checkpoint": str(out_dir / BEST_DIR),
    }
    write_json(out_dir / RESULTS_FILE, results)
    plots.training_curves(out_dir / LOG_FILE, out_dir / "curves.png", title=f"{task_name} / {model_name}")
    if "gold" in test_metrics:
        plots.confusion_matrix(test_metrics["gold"], test_metrics["pred"], best_task.labels, out_dir / "confusion.png",
                               title=f"{task_name} test confusion matrix")
    return results


def public(metrics: dict) -> dict:
    """Metrics without the per-example arrays."""
    return {k: v for k, v in metrics.items() if k not in ("gold", "pred")}


def check_labels(task, labels_file: str | None):
    if labels_file:
        given, _ = read_labels_file(labels_file)
        if given != task.labels:
            raise TaskError(f"--labels {labels_file} lists {given}, but the checkpoint was trained with {task.labels}")


def open_checkpoint(checkpoint_dir: str, task_name: str | None = None, labels_file: str | None = None,
                    engine: str = "auto"):
    """(task, runner) for a saved checkpoint: the exported model when there is one, else eager."""
    task, model = checkpoint.load(checkpoint_dir, expect_task=task_name)
    check_labels(task, labels_file)
    return task, inference.open_runner(Path(checkpoint_dir), model, engine)


def run_evaluate(checkpoint_dir: str, data: str, split: str = "test", task_name: str | None = None,
                 labels_file: str | None = None, limit: int | None = None, engine: str = "auto") -> dict:
    task, runner = open_checkpoint(checkpoint_dir, task_name, labels_file, engine)
    examples = load_split(type(task), data, split, limit)
    metrics = task.evaluate(runner, encode_split(task, examples, f"{data} {split} split"))
    return {"task": task.name, "checkpoint": str(checkpoint_dir), "data": data, "split": split,
            "examples": len(examples), "engine": runner.engine} | public(metrics)


def run_predict(checkpoint_dir: str, lines: list[str], source: str = "<stdin>", task_name: str | None = None,
                labels_file: str | None = None, engine: str = "auto") -> list[dict]:
    task, runner = open_checkpoint(checkpoint_dir, task_name, labels_file, engine)
    inputs = [task.parse_input_line(line, f"{source}:{i}") for i, line in enumerate(lines, 1)]
    if not inputs:
        raise TaskError(f"{source}: no input lines")
    return task.predict(runner, inputs)


def run_export(checkpoint_dir: str, formats=("paddle",)) -> dict:
    """Export, then check the exported engines against the eager model on the checkpoint's own inputs."""
    task, model = checkpoint.load(checkpoint_dir)
    target = inference.export(Path(checkpoint_dir), task, model, formats)
    report = {"checkpoint": str(checkpoint_dir), "export": str(target), "formats": list(formats)}
    spec = inference.read_export(target)
    report["seconds"] = spec["seconds"]
    return report
