"""What every task shares: the model wrapper, tokenisation helpers, checkpoints.

A task folder subclasses ``Task`` and says only what is particular to it:
how an example becomes features, the loss, the evaluation and the prediction format.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import paddle

from tasks import models
from tasks.engine.batching import iterate_in_order, pad_collator
from tasks.errors import TaskError  # noqa: F401  (re-exported for task folders)

log = logging.getLogger("tasks")
IGNORE_INDEX = -100
TASK_FILE = "task.json"
HEAD_FILE = "head.pdparams"


class TaskModel(paddle.nn.Layer):
    """A PaddleNLP model (``backbone``) plus any extra layers a task adds (CRF, pair classifier).

    Saved as: backbone.save_pretrained(dir) + the extra layers' weights in head.pdparams.
    """

    def __init__(self, backbone, **extra_layers):
        super().__init__()
        self.backbone = backbone
        for name, layer in extra_layers.items():
            setattr(self, name, layer)

    def extra_state(self) -> dict:
        return {k: v for k, v in self.state_dict().items() if not k.startswith("backbone.")}

    def save(self, directory: Path):
        self.backbone.save_pretrained(str(directory))
        extra = self.extra_state()
        if extra:
            paddle.save(extra, str(directory / HEAD_FILE))

    def load_extra(self, directory: Path):
        extra = self.extra_state()
        if extra:
            path = directory / HEAD_FILE
            if not path.is_file():
                raise TaskError(f"{directory}: checkpoint lacks {HEAD_FILE} (the task's extra layers)")
            self.set_state_dict(paddle.load(str(path)))


class Task:
    name = ""            # cli name, also stored in the checkpoint
    data_kind = ""       # example format the loaders produce: classification | ner | matching
    head = "encoder"     # registry head: encoder | sequence | token
    main_metric = ""
    option_defaults: dict = {}   # task options (stored in the checkpoint) and their defaults
    option_choices: dict = {}    # option -> allowed values

    def __init__(self, model_name: str, labels: list[str], max_length: int = 128, options: dict | None = None,
                 tokenizer=None):
        self.model_name = model_name
        self.labels = list(labels)
        self.label_to_id = {label: i for i, label in enumerate(self.labels)}
        self.max_length = max_length
        self.options = {**self.option_defaults, **(options or {})}
        for key, allowed in self.option_choices.items():
            if self.options[key] not in allowed:
                raise TaskError(f"{self.name} option {key}={self.options[key]!r}: expected one of {allowed}")
        self.tokenizer = tokenizer or models.load_tokenizer(model_name)
        self.truncated = 0
        self._model = None

    # -- what a task folder fills in -------------------------------------
    def encode(self, example: dict, with_label: bool = True) -> dict:
        raise NotImplementedError

    def build_model(self, backbone_name: str) -> TaskModel:
        return TaskModel(models.load_model(backbone_name, self.head, num_labels=len(self.labels)))

    def loss(self, model: TaskModel, batch: dict):
        raise NotImplementedError

    def evaluate(self, model: TaskModel, features: list[dict], batch_size: int = 64) -> dict:
        raise NotImplementedError

    def predict(self, model: TaskModel, inputs: list[dict], batch_size: int = 64) -> list[dict]:
        raise NotImplementedError

    def parse_input_line(self, line: str, where: str) -> dict:
        """One line of `predict` input -> an example (without label)."""
        text = line.strip()
        if not text:
            raise TaskError(f"{where}: empty line; expected one text per line")
        return {"text": text}

    # -- shared helpers --------------------------------------------------
    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id

    def collate_fn(self):
        return pad_collator({"input_ids": self.pad_id, "token_type_ids": 0})

    def label_id(self, example: dict, where: str = "") -> int:
        label = str(example["label"])
        if label not in self.label_to_id:
            raise TaskError(f"{where or 'example'}: label {label!r} is not in this model's label set {self.labels}")
        return self.label_to_id[label]

    def tokenize(self, text: str, text_pair: str | None = None) -> dict:
        """input_ids / token_type_ids, truncated to max_length (counted, reported once by encode_all)."""
        enc = self.tokenizer(text, text_pair=text_pair, max_length=self.max_length, truncation=True)
        ids = enc["input_ids"]
        if len(ids) >= self.max_length:
            full = self.tokenizer(text, text_pair=text_pair)["input_ids"]
            if len(full) > self.max_length:
                self.truncated += 1
        types = enc.get("token_type_ids") or [0] * len(ids)
        return {"input_ids": list(ids), "token_type_ids": list(types)}

    def encode_all(self, examples: list[dict], with_label: bool = True, what: str = "examples") -> list[dict]:
        self.truncated = 0
        features = []
        for i, example in enumerate(examples):
            feature = self.encode(example, with_label=with_label)
            feature["length"] = len(feature.get("input_ids") or feature["a_ids"]) + len(feature.get("b_ids", []))
            features.append(feature)
        if self.truncated:
            log.warning("%d of %d %s are longer than max_length=%d tokens and were truncated",
                        self.truncated, len(examples), what, self.max_length)
        return features

    def forward_batches(self, model: TaskModel, features: list[dict], step_fn, batch_size: int = 64, collate=None):
        """Run ``step_fn(model, batch) -> np.ndarray`` over features in length-sorted batches,
        returning per-feature outputs in the original order."""
        model.eval()
        outputs = [None] * len(features)
        with paddle.no_grad():
            for idx, batch in iterate_in_order(features, collate or self.collate_fn(), batch_size):
                for i, out in zip(idx, step_fn(model, batch)):
                    outputs[i] = out
        model.train()
        return outputs

    # -- checkpoints -----------------------------------------------------
    def describe(self) -> dict:
        return {"task": self.name, "model": self.model_name, "labels": self.labels,
                "max_length": self.max_length, "options": self.options}

    def save(self, model: TaskModel, directory: Path):
        """Atomic: written into a temp dir beside the target, then renamed over it."""
        directory = Path(directory)
        tmp = directory.with_name(directory.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        model.save(tmp)
        self.tokenizer.save_pretrained(str(tmp))
        (tmp / TASK_FILE).write_text(json.dumps(self.describe(), ensure_ascii=False, indent=2), encoding="utf-8")
        replace_dir(tmp, directory)


def replace_dir(new: Path, target: Path):
    """Swap a fully written directory into place; a crash leaves either the old or the new one."""
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def read_task_file(directory: Path) -> dict:
    directory = Path(directory)
    path = directory / TASK_FILE
    if not path.is_file():
        old = directory.with_name(directory.name + ".old") / TASK_FILE
        if old.is_file():  # crashed between the two renames of replace_dir
            path = old
        else:
            raise TaskError(f"{directory}: not a checkpoint of this package (no {TASK_FILE}); "
                            "expected a directory written by `python -m tasks train`")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise TaskError(f"{path}: corrupt checkpoint description ({err})") from None


def mean_pool(sequence, mask):
    """Average of the token vectors where mask is 1 (e5 and Sentence-BERT pooling)."""
    mask = mask.astype(sequence.dtype).unsqueeze(-1)
    return (sequence * mask).sum(1) / mask.sum(1)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
