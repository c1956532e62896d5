"""train / evaluate / predict for any task: the glue between data, task, trainer and plots."""
from __future__ import annotations

import importlib
import json
import logging
import time
from pathlib import Path

import numpy as np
import paddle

from tasks import datasets, models
from tasks.engine import plots
from tasks.engine.task import Task, TaskError, read_task_file
from tasks.engine.trainer import BEST_DIR, LOG_FILE, TrainConfig, train

log = logging.getLogger("tasks")
TASK_NAMES = ("classification", "ner", "single_tower", "dual_tower")
TASK_FOLDER = {name: f"tasks.{name}" for name in TASK_NAMES}


def task_class(name: str) -> type[Task]:
    if name not in TASK_FOLDER:
        raise TaskError(f"unknown task {name!r}; expected one of {', '.join(TASK_NAMES)}")
    return importlib.import_module(TASK_FOLDER[name]).TASK


def load_split(task_cls, data: str, split: str, limit: int | None = None, seed: int = 0) -> list[dict]:
    examples = datasets.load_examples(task_cls.data_kind, data, split)
    if limit and len(examples) > limit:
        rng = np.random.default_rng(seed)  # a fixed random subset, not the first rows (files may be sorted)
        examples = [examples[i] for i in sorted(rng.choice(len(examples), limit, replace=False))]
    return examples


def labels_for(task_cls, examples: list[dict], labels_file: str | None = None) -> list[str]:
    if labels_file:
        path = Path(labels_file)
        if not path.is_file():
            raise TaskError(f"--labels {path}: file not found (expected one label per line)")
        labels = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(set(labels)) != len(labels):
            raise TaskError(f"--labels {path}: duplicate labels")
        return labels
    return datasets.label_list(task_cls.data_kind, examples)


def run_train(task_name: str, model_name: str, data: str, out_dir: Path, config: TrainConfig, *,
              max_length: int = 128, options: dict | None = None, limits: dict | None = None,
              labels_file: str | None = None, resume: bool = False) -> dict:
    """Train, keep the best dev checkpoint, evaluate it on test, write results.json and plots."""
    limits = limits or {}
    out_dir = Path(out_dir)
    started = time.time()
    task_cls = task_class(task_name)
    train_ex = load_split(task_cls, data, "train", limits.get("train"), config.seed)
    dev_ex = load_split(task_cls, data, "dev", limits.get("dev"), config.seed)
    test_ex = load_split(task_cls, data, "test", limits.get("test"), config.seed)
    if test_ex and all(e.get("label") == "" for e in test_ex):  # e.g. PaddleNLP's ChnSentiCorp test
        log.warning("the test split of %s has no labels; the result has no test metric", data)
        test_ex = []
    labels = labels_for(task_cls, train_ex, labels_file)
    task = task_cls(model_name, labels, max_length, options)
    train_f = task.encode_all(train_ex, what="training examples")
    dev_f = task.encode_all(dev_ex, what="dev examples")
    test_f = task.encode_all(test_ex, what="test examples")
    paddle.seed(config.seed)
    model = task.build_model(model_name)
    state = train(task, model, train_f, dev_f, out_dir, config, resume=resume)
    train_minutes = (time.time() - started) / 60

    best = load_checkpoint(out_dir / BEST_DIR, expect_task=task_name)
    best_task, best_model = best
    if hasattr(best_task, "finalize") and dev_f:
        best_task.finalize(best_model, dev_f)
        best_task.save(best_model, out_dir / BEST_DIR)  # store what finalize fixed (e.g. a threshold)
    test_metrics = best_task.evaluate(best_model, test_f) if test_f else {}
    results = {
        "task": task_name, "model": model_name, "data": data,
        "train_examples": len(train_ex), "dev_examples": len(dev_ex), "test_examples": len(test_ex),
        "steps": state.step, "best_step": state.best_step, "best_dev": state.best_value,
        "stopped_early": state.stopped_early, "metric_name": task.main_metric,
        "metric": test_metrics.get(task.main_metric), "test": public(test_metrics),
        "minutes": round((time.time() - started) / 60, 2), "train_minutes": round(train_minutes, 2),
        "config": vars(config) | {"max_length": max_length, "options": task.options},
        "checkpoint": str(out_dir / BEST_DIR),
    }
    write_json(out_dir / "results.json", results)
    plots.training_curves(out_dir / LOG_FILE, out_dir / "curves.png", title=f"{task_name} / {model_name}")
    if "gold" in test_metrics:
        plots.confusion_matrix(test_metrics["gold"], test_metrics["pred"], best_task.labels, out_dir / "confusion.png",
                               title=f"{task_name} test confusion matrix")
    return results


def public(metrics: dict) -> dict:
    """Metrics without the per-example arrays."""
    return {k: v for k, v in metrics.items() if k not in ("gold", "pred")}


def write_json(path: Path, data):
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=float), encoding="utf-8")
    tmp.replace(path)


def load_checkpoint(directory, expect_task: str | None = None) -> tuple[Task, object]:
    directory = Path(directory)
    if not directory.is_dir():
        raise TaskError(f"checkpoint {directory} does not exist (expected a directory written by `train`, e.g. runs/.../best)")
    meta = read_task_file(directory)
    if expect_task and meta.get("task") != expect_task:
        raise TaskError(f"{directory} is a checkpoint of task {meta.get('task')!r}, not {expect_task!r}; "
                        f"use `--task {meta.get('task')}` or a checkpoint trained for {expect_task}")
    task = task_class(meta["task"])(str(directory), meta["labels"], meta["max_length"], meta.get("options"),
                                    tokenizer=models.load_tokenizer(str(directory)))
    task.model_name = meta["model"]
    model = task.build_model(str(directory))
    model.load_extra(directory)
    model.eval()
    return task, model


def check_labels(task: Task, labels_file: str | None):
    if labels_file:
        given = labels_for(type(task), [], labels_file)
        if given != task.labels:
            raise TaskError(f"--labels {labels_file} lists {given}, but the checkpoint was trained with {task.labels}")


def run_evaluate(checkpoint: str, data: str, split: str = "test", task_name: str | None = None,
                 labels_file: str | None = None, limit: int | None = None) -> dict:
    task, model = load_checkpoint(checkpoint, expect_task=task_name)
    check_labels(task, labels_file)
    examples = load_split(type(task), data, split, limit)
    metrics = task.evaluate(model, task.encode_all(examples))
    return {"task": task.name, "checkpoint": str(checkpoint), "data": data, "split": split,
            "examples": len(examples)} | public(metrics)


def run_predict(checkpoint: str, lines: list[str], source: str = "<stdin>", task_name: str | None = None,
                labels_file: str | None = None) -> list[dict]:
    task, model = load_checkpoint(checkpoint, expect_task=task_name)
    check_labels(task, labels_file)
    inputs = [task.parse_input_line(line, f"{source}:{i}") for i, line in enumerate(lines, 1)]
    if not inputs:
        raise TaskError(f"{source}: no input lines")
    return task.predict(model, inputs)
