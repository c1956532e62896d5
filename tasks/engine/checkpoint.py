"""The two checkpoint folders of a run, in one place.

``best/``  what `evaluate`, `predict` and `export` load: the encoder's save_pretrained files, the
           heads (head.pdparams), the tokenizer, and task.json (task, labels, options).
``last/``  the resume point: all weights, the optimiser and scheduler state, the trainer's position.
Both are written into a temp folder and swapped into place (tasks.io.atomic_dir).
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
from pathlib import Path

import paddle

from tasks import models
from tasks.config import TASK_NAMES
from tasks.errors import TaskError
from tasks.io import atomic_dir, existing_dir, sha256_file, sha256_text

BEST_DIR = "best"
RESUME_DIR = "last"
TASK_FILE = "task.json"
STATE_FILE = "trainer_state.json"
WEIGHTS_FILE = "model.pdparams"
OPTIMIZER_FILE = "optimizer.pdopt"
REQUIRED_KEYS = ("task", "model", "labels", "max_length")


def task_class(name: str):
    if name not in TASK_NAMES:
        raise TaskError(f"unknown task {name!r}; expected one of {', '.join(TASK_NAMES)}")
    return importlib.import_module(f"tasks.{name}").TASK


# -- best/ --------------------------------------------------------------------
@contextlib.contextmanager
def writing(directory: Path, what: str):
    """A checkpoint written in a temp folder; a failed write (disk full) is one clear error and the
    previous checkpoint stays in place."""
    try:
        with atomic_dir(directory) as tmp:
            yield tmp
    except OSError as err:
        raise TaskError(f"{directory}: could not write the {what} ({err.strerror or err}); the previous one "
                        "is kept. Free some space, then continue with --resume") from None


def save(task, model, directory: Path):
    with writing(directory, "checkpoint") as tmp:
        model.save(tmp)
        task.tokenizer.save_pretrained(str(tmp))
        (tmp / TASK_FILE).write_text(json.dumps(task.describe(), ensure_ascii=False, indent=2), encoding="utf-8")


def _read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise TaskError(f"{path}: corrupt {what} ({err}); the run folder is damaged") from None
    if not isinstance(data, dict):
        raise TaskError(f"{path}: corrupt {what} (expected a JSON object)")
    return data


def read_task_file(directory: Path) -> dict:
    directory = existing_dir(Path(directory))
    path = directory / TASK_FILE
    if not path.is_file():
        raise TaskError(f"{directory}: not a checkpoint of this package (no {TASK_FILE}); "
                        "expected a directory written by `python -m tasks train`, e.g. runs/NAME/best")
    meta = _read_json(path, "checkpoint description")
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise TaskError(f"{path}: lacks {', '.join(missing)}; expected a task.json written by `train`")
    return meta


def load(directory, expect_task: str | None = None):
    """(task, model) of a saved checkpoint, model in eval mode."""
    task = load_task(directory, expect_task)
    return task, load_model(task, directory)


def load_task(directory, expect_task: str | None = None):
    """The task of a saved checkpoint (its labels, options and tokenizer), without building the model."""
    directory = Path(directory)
    if not directory.is_dir() and not existing_dir(directory).is_dir():
        raise TaskError(f"checkpoint {directory} does not exist (expected a directory written by `train`, "
                        "e.g. runs/NAME/best)")
    meta = read_task_file(directory)
    directory = existing_dir(directory)
    if expect_task and meta["task"] != expect_task:
        raise TaskError(f"{directory} is a checkpoint of task {meta['task']!r}, not {expect_task!r}; "
                        f"use `--task {meta['task']}` or a checkpoint trained for {expect_task}")
    task = task_class(meta["task"])(str(directory), meta["labels"], meta["max_length"], meta.get("options"),
                                    tokenizer=models.load_tokenizer(str(directory)),
                                    label_names=meta.get("label_names"))
    task.model_name = meta["model"]
    return task


def load_model(task, directory):
    """The model of a saved checkpoint, in eval mode."""
    directory = existing_dir(Path(directory))
    model = task.build_model(str(directory))
    model.load_head(directory)
    model.eval()
    return model


def weight_files(directory: Path) -> list[Path]:
    directory = Path(directory)
    return sorted(directory.glob("*.pdparams")) + sorted(directory.glob("*.safetensors"))


def weights_fingerprint(directory: Path) -> str:
    """sha256 over every weight file of a checkpoint: an export or an index made from it is only
    used with exactly these weights."""
    return sha256_text("".join(f"{p.name}:{sha256_file(p)}" for p in weight_files(directory)))


def weights_stat(directory: Path) -> dict:
    """Name -> [size, modification time in ns] of the weight files: while these are unchanged, the
    fingerprint computed when they were last hashed still holds (an export stores both)."""
    return {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in weight_files(directory)}


# -- last/ --------------------------------------------------------------------
def save_resume_point(out_dir: Path, model, optimizer, state, train_config, task):
    with writing(Path(out_dir) / RESUME_DIR, "resume point") as tmp:
        paddle.save(model.state_dict(), str(tmp / WEIGHTS_FILE))
        paddle.save(optimizer.state_dict(), str(tmp / OPTIMIZER_FILE))
        meta = {"state": dataclasses.asdict(state), "config": dataclasses.asdict(train_config),
                "task": task.describe()}
        (tmp / STATE_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")


RESUME_MUST_MATCH = ("batch_size", "seed", "learning_rate", "max_steps", "epochs", "warmup", "train_layers")


def read_resume_point(out_dir: Path, train_config, task) -> tuple[Path, dict]:
    """(its folder, the trainer state saved there) of the resume point in ``out_dir``, once its
    settings are checked against this run's."""
    out_dir = Path(out_dir)
    where = existing_dir(out_dir / RESUME_DIR)
    if not (where / STATE_FILE).is_file():
        raise TaskError(f"--resume: no resume point in {out_dir} (expected {out_dir / RESUME_DIR}/{STATE_FILE}); "
                        "run without --resume to start fresh")
    meta = _read_json(where / STATE_FILE, "resume point")
    saved, current = meta.get("task", {}), task.describe()
    for key in ("task", "model", "labels", "max_length", "options"):
        if saved.get(key) != current.get(key):
            raise TaskError(f"--resume: {where} was written for {key}={saved.get(key)!r}, "
                            f"this run has {key}={current.get(key)!r}; use the same settings or a new --out")
    for key in RESUME_MUST_MATCH:
        if meta.get("config", {}).get(key) != getattr(train_config, key):
            raise TaskError(f"--resume: {where} used {key}={meta['config'].get(key)!r}, this run has "
                            f"{getattr(train_config, key)!r}; resuming with other settings would not reproduce the run")
    return where, meta["state"]


def restore_resume_point(where: Path, model, optimizer):
    """Weights and optimiser state (its learning-rate schedule included) of a resume point."""
    for name, target in ((WEIGHTS_FILE, model), (OPTIMIZER_FILE, optimizer)):
        path = where / name
        try:
            target.set_state_dict(paddle.load(str(path)))
        except Exception as err:  # a truncated file raises several kinds inside paddle
            raise TaskError(f"{path}: cannot be read ({type(err).__name__}); the resume point is damaged, "
                            "start again without --resume (use --overwrite)") from None
