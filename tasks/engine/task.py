"""What every task shares. A task folder subclasses ``Task`` and says only what is particular to it:
how an example becomes features, which model it trains and the loss Layer built with it
(tasks/engine/losses.py), the metrics, and how a prediction is reported. The forward pass lives on the model
(tasks/engine/modeling.py); evaluation and prediction go through a runner (tasks/engine/inference.py),
so they work the same on the eager model and on an exported one.
"""
from __future__ import annotations

import dataclasses
import logging

import numpy as np
from tqdm.auto import tqdm

from tasks import config, models
from tasks.engine.batching import iterate_in_order, pad_collator
from tasks.engine.inference import as_runner
from tasks.engine.losses import IGNORE_INDEX  # noqa: F401  (the tasks' padding label)
from tasks.errors import TaskError

log = logging.getLogger("tasks")


@dataclasses.dataclass
class NoOptions:
    pass


class Task:
    name = ""               # cli name, also stored in the checkpoint
    data_kind = ""          # example format the loaders produce: classification | ner | matching
    main_metric = ""        # reported on test
    selection_metric = ""   # chooses the best dev checkpoint (default: main_metric)
    Options = NoOptions     # the task's own settings: a dataclass declared with tasks.config.setting

    def __init__(self, model_name: str, labels: list[str], max_length: int = 128, options=None,
                 tokenizer=None, label_names: dict | None = None):
        self.model_name = model_name
        self.labels = list(labels)
        self.label_to_id = {label: i for i, label in enumerate(self.labels)}
        self.label_names = dict(label_names or {})
        self.max_length = max_length
        if isinstance(options, self.Options):
            self.options = options
        else:
            self.options = config.from_dict(self.Options, options, f"{self.name} options")
        config.validate(self.options)
        self.tokenizer = tokenizer or models.load_tokenizer(model_name)
        self.truncated = 0

    # -- what a task folder fills in -------------------------------------
    def encode(self, example: dict, with_label: bool = True) -> dict:
        raise NotImplementedError

    def build_model(self, encoder_name: str):
        """The task's model (tasks/engine/modeling.py) around the encoder named ``encoder_name``."""
        raise NotImplementedError

    def build_loss(self, model):
        """The training loss, a Layer (tasks/engine/losses.py): ``loss(model(*batch[model.train_inputs]),
        batch)``."""
        raise NotImplementedError

    def evaluate(self, runner, features: list[dict], batch_size: int = 64) -> dict:
        raise NotImplementedError

    def predict(self, runner, inputs: list[dict], batch_size: int = 64) -> list[dict]:
        raise NotImplementedError

    def format_prediction(self, result: dict) -> str:
        """One readable line of `predict` output."""
        raise NotImplementedError

    def on_new_best(self, model, metrics: dict):
        """Called before a new best checkpoint is saved (the dual tower stores its threshold)."""

    def model_report(self, model) -> dict:
        """What a trained model has learned that results.json should show (the CRF's transitions)."""
        return {}

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

    def load_encoder(self, name: str):
        return models.load_model(name, "encoder")

    def collate_fn(self):
        return pad_collator({"input_ids": self.pad_id, "token_type_ids": 0})

    def label_id(self, example: dict, where: str = "") -> int:
        label = str(example["label"])
        if label not in self.label_to_id:
            where = where or example.get("where") or "example"
            raise TaskError(f"{where}: label {label!r} is not in this model's label set {self.labels} "
                            "(labels come from the training split, or from --labels)")
        return self.label_to_id[label]

    def label_name(self, label: str) -> str:
        return self.label_names.get(label, label)

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

    def encode_pair_apart(self, example: dict, with_label: bool = True) -> dict:
        """A text pair with each text tokenised alone (``a_ids``, ``b_ids``, max_length tokens each): the
        input of models that encode the two texts apart (dual tower, late-join cross-encoder)."""
        feature = {"a_ids": self.tokenize(example["text_a"])["input_ids"],
                   "b_ids": self.tokenize(example["text_b"])["input_ids"]}
        if with_label:
            feature["label"] = self.label_id(example)
        return feature

    def pair_apart_collator(self):
        return pad_collator({"a_ids": self.pad_id, "b_ids": self.pad_id})

    def encode_all(self, examples: list[dict], with_label: bool = True, what: str = "examples") -> list[dict]:
        self.truncated = 0
        features = []
        for example in examples:
            feature = self.encode(example, with_label=with_label)
            feature["length"] = len(feature.get("input_ids") or feature["a_ids"]) + len(feature.get("b_ids", []))
            features.append(feature)
        if self.truncated:
            log.warning("%d of %d %s are longer than max_length=%d tokens and were truncated",
                        self.truncated, len(examples), what, self.max_length)
        return features

    def inference_features(self, features: list[dict]) -> tuple[list[dict], object]:
        """(features, collate_fn) whose batches hold what ``model.infer`` takes (a task whose training
        features differ, like the dual tower's pairs, maps them here)."""
        return features, self.collate_fn()

    def run_batches(self, runner, features: list[dict], batch_size: int = 64, collate=None) -> list[tuple]:
        """``runner(batch)`` over length-sorted batches; per feature, the tuple of its output rows,
        in the original order."""
        runner = as_runner(runner)
        outputs = [None] * len(features)
        # a bar on a terminal only (disable=None), gone when done: evaluation, prediction, export checks
        bar = tqdm(total=len(features), desc=f"{self.name}: {runner.engine}", disable=None, leave=False,
                   dynamic_ncols=True, unit="ex")
        for idx, batch in iterate_in_order(features, collate or self.collate_fn(), batch_size):
            arrays = runner(batch)
            for row, i in enumerate(idx):
                outputs[i] = tuple(a[row] for a in arrays)
            bar.update(len(idx))
        bar.close()
        return outputs

    def describe(self) -> dict:
        return {"task": self.name, "model": self.model_name, "labels": self.labels,
                "label_names": self.label_names, "max_length": self.max_length,
                "options": dataclasses.asdict(self.options)}


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
