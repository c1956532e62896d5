"""train / evaluate / predict / export for any task: the glue between data, task, trainer and plots."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import paddle

from tasks.data import datasets
from tasks.config import TrainConfig
from tasks.engine import checkpoint, distributed, inference, plots
from tasks.engine.callbacks import LOG_FILE
from tasks.engine.checkpoint import BEST_DIR, RESUME_DIR, task_class  # noqa: F401  (task_class re-exported)
from tasks.engine.frozen import freeze_for_training
from tasks.engine.trainer import train
from tasks.errors import TaskError
from tasks.io import write_json

log = logging.getLogger("tasks")
RESULTS_FILE = "results.json"
load_checkpoint = checkpoint.load  # (task, model) of a saved checkpoint


def load_split(task_cls, data: str, split: str, limit: int | None = None, seed: int = 0,
               labels: list | None = None, dedup_train: bool = True) -> list[dict]:
    """A split's examples; ``labels`` (from --labels) replaces the reader's default label set.
    Repeated rows are dropped (and counted) from the training split only."""
    examples = datasets.load_examples(task_cls.data_kind, data, split, labels=labels,
                                      dedup=dedup_train and split == "train")
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


def prepare_run_folder(out_dir: Path):
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise TaskError(f"--out {out_dir}: cannot write there ({err.strerror or err}); "
                        "expected a writable directory") from None


def check_max_length(model, max_length: int, model_name: str):
    limit = model.encoder.config.max_position_embeddings
    if max_length > limit:
        raise TaskError(f"--max-length {max_length}: model {model_name} takes at most {limit} tokens "
                        f"(its position embeddings); use --max-length {limit} or less")


def run_train(task_name: str, model_name: str, data: str, out_dir: Path, config: TrainConfig, *,
              max_length: int = 128, options=None, limits: dict | None = None,
              labels_file: str | None = None, resume: bool = False, overwrite: bool = False,
              dedup_train: bool = True, limits_seed: int | None = None) -> dict:
    """Train, keep the best dev checkpoint, evaluate it on test, write results.json and plots.
    ``limits_seed``: draws the ``limits`` subsets (default: the training seed), so that runs with
    different training seeds can see the same examples."""
    limits = limits or {}
    out_dir = Path(out_dir)
    check_run_folder(out_dir, resume, overwrite)
    if resume and overwrite:
        raise TaskError("--resume and --overwrite: choose one (continue the run in --out, or replace it)")
    if Path(str(data)).expanduser().is_file():
        raise TaskError(f"--data {data}: is a file; training needs a directory holding train, dev and test files "
                        "(a single file would serve as all three and the test score would be on training data)")
    distributed.check_device(config)
    started = time.time()
    task_cls = task_class(task_name)
    given_labels = read_labels_file(labels_file)[0] if labels_file else None
    subset_seed = config.seed if limits_seed is None else limits_seed
    splits = {split: load_split(task_cls, data, split, limits.get(split), subset_seed, given_labels, dedup_train)
              for split in ("train", "dev", "test")}
    if splits["test"] and all(e.get("label") == "" for e in splits["test"]):  # e.g. PaddleNLP's ChnSentiCorp test
        log.warning("the test split of %s has no labels; the result has no test metric", data)
        splits["test"] = []
    labels, names = labels_for(task_cls, splits["train"], labels_file, data)
    task = task_cls(model_name, labels, max_length, options, label_names=names)
    for split in ("train", "dev"):
        datasets.check_label_variety(task_cls.data_kind, splits[split], f"{data} {split} split")
    features = {split: encode_split(task, examples, f"{data} {split} split") for split, examples in splits.items()}
    prepare_run_folder(out_dir)
    paddle.seed(config.seed)
    model = task.build_model(model_name)
    check_max_length(model, max_length, model_name)
    # the test evaluation exports the saved model and runs the test split: about two dev evaluations' worth each
    final_evals = 2.0 * max(1.0, len(features["test"]) / max(1, len(features["dev"])))
    state = train(task, model, features["train"], features["dev"], out_dir, config, resume=resume, started=started,
                  final_evals=final_evals if features["test"] else 0.0)
    if not distributed.is_main():  # rank 0 evaluates on test and writes the results
        return {}
    train_minutes = (time.time() - started) / 60

    best_task, best_model = checkpoint.load(out_dir / BEST_DIR, expect_task=task_name)
    test_metrics = {}
    if features["test"]:
        # --train-layers: the saved model's own frozen layers run once per text through Paddle Inference and
        # only its top layers eagerly (the whole eager model's numbers, to the fp16 rounding of the cache);
        # kept on disk like train and dev, so the next seed of a comparison reads them
        freeze_for_training(best_model, config, features["test"])
        test_metrics = best_task.evaluate(best_model, features["test"])
    results = {
        "task": task_name, "model": model_name, "data": data,
        **{f"{split}_examples": len(examples) for split, examples in splits.items()},
        "steps": state.step, "plan": state.plan, "best_step": state.best_step, "best_dev": state.best_value, "dev": state.best_metrics,
        "stopped_early": state.stopped_early, "metric_name": task.main_metric,
        "metric": test_metrics.get(task.main_metric), "test": public(test_metrics),
        "minutes": round((time.time() - started) / 60, 2), "train_minutes": round(train_minutes, 2),
        "config": vars(config) | {"max_length": max_length}, "options": task.describe()["options"],
        "checkpoint": str(out_dir / BEST_DIR), **best_task.model_report(best_model),
    }
    write_json(out_dir / RESULTS_FILE, results)
    plots.training_curves(out_dir / LOG_FILE, out_dir / "curves.png", title=f"{task_name} / {model_name}")
    if "gold" in test_metrics:
        plots.confusion_matrix(test_metrics["gold"], test_metrics["pred"],
                               [best_task.label_name(label) for label in best_task.labels], out_dir / "confusion.png",
                               title=f"{task_name} 测试集混淆矩阵")
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
    """(task, runner) for a saved checkpoint: the exported model when there is one (no eager model is
    built then), else eager."""
    task = checkpoint.load_task(checkpoint_dir, expect_task=task_name)
    check_labels(task, labels_file)
    return task, inference.open_runner(Path(checkpoint_dir), lambda: checkpoint.load_model(task, checkpoint_dir),
                                       engine)


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
    return predict_lines(task, runner, lines, source)


def predict_lines(task, runner, lines: list[str], source: str) -> list[dict]:
    """Input lines (errors name source:line) -> the task's predictions."""
    inputs = [task.parse_input_line(line, f"{source}:{i}") for i, line in enumerate(lines, 1)]
    if not inputs:
        raise TaskError(f"{source}: no input lines")
    return task.predict(runner, inputs)


PREDICTION_KEYS = ("label", "tags", "entities")  # what a prediction decides (scores may differ in the 4th digit)


def run_export(checkpoint_dir: str, formats=("paddle",), check_data: str | None = None, split: str = "test",
               limit: int | None = None) -> dict:
    """Export; with ``check_data``, compare every exported engine with the eager model on that split:
    the largest difference of the raw outputs, and whether every prediction is the same."""
    task, model = checkpoint.load(checkpoint_dir)
    target = inference.export(Path(checkpoint_dir), task, model, formats)
    report = {"checkpoint": str(checkpoint_dir), "export": str(target), "formats": list(formats),
              "seconds": inference.read_export(target)["seconds"]}
    if check_data:
        examples = load_split(type(task), check_data, split, limit)
        features = encode_split(task, examples, f"{check_data} {split} split")
        runners = {"eager": inference.EagerRunner(model)}
        runners |= {e: inference.open_runner(Path(checkpoint_dir), model, e) for e in inference.AUTO_ORDER
                    if inference.candidate_ready(inference.read_export(target), e)}
        outputs, predictions, seconds = {}, {}, {}
        for name, runner in runners.items():
            started = time.perf_counter()
            infer_features, collate = task.inference_features(features)
            outputs[name] = task.run_batches(runner, infer_features, collate=collate)
            predictions[name] = [{k: p.get(k) for k in PREDICTION_KEYS} for p in task.predict(runner, examples)]
            seconds[name] = round(time.perf_counter() - started, 2)
        report["check"] = {"data": check_data, "split": split, "examples": len(examples), "seconds": seconds}
        for name in runners:
            if name == "eager":
                continue
            diff = max(float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).max())
                       for ref, out in zip(outputs["eager"], outputs[name]) for a, b in zip(ref, out))
            same = sum(a == b for a, b in zip(predictions["eager"], predictions[name]))
            report["check"][name] = {"max_abs_diff": diff, "identical_predictions": same,
                                     "all_identical": same == len(examples)}
    return report
