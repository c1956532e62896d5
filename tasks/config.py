"""Every setting in one place: dataclasses whose fields carry their default, help and limits.

The command line is generated from them (``add_arguments`` / ``from_args``), so a default
lives only here. ``TrainConfig`` drives the training loop, ``RunConfig`` says what to train
on and where, and each task folder declares its own ``Options`` dataclass the same way.
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from tasks.errors import TaskError

DEFAULT_MODEL = "e5-small-zh"
TASK_NAMES = ("classification", "ner", "single_tower", "dual_tower")
ENGINES = ("auto", "eager", "paddle-inference", "onnx")  # see tasks/engine/inference.py


def setting(default: Any, help: str, *, flag: str | None = None, choices=None, minimum=None, above=None,
            required: bool = False, cli: bool = True):
    """A dataclass field with what the command line and the validation need to know."""
    meta = {"help": help, "flag": flag, "choices": choices, "minimum": minimum, "above": above,
            "required": required, "cli": cli}
    return field(default=default, metadata=meta)


def flag_of(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def _type_of(f: dataclasses.Field):
    annotation = str(f.type).replace(" ", "")
    for name, kind in (("float", float), ("int", int), ("bool", bool)):
        if annotation.startswith(name):
            return kind
    return str


def validate(obj) -> None:
    """Bounds and choices from the field metadata; the error names the command-line flag."""
    for f in dataclasses.fields(obj):
        value, meta = getattr(obj, f.name), f.metadata
        if value is None:
            continue
        where = flag_of(f)
        if meta.get("choices") is not None and value not in meta["choices"]:
            raise TaskError(f"{where} {value!r}: expected one of {', '.join(map(str, meta['choices']))}")
        if meta.get("minimum") is not None and value < meta["minimum"]:
            raise TaskError(f"{where} {value}: expected a value >= {meta['minimum']}")
        if meta.get("above") is not None and value <= meta["above"]:
            raise TaskError(f"{where} {value}: expected a value > {meta['above']}")


def add_arguments(parser, cls, title: str | None = None, recipe_defaults: bool = False, exclude=(),
                  defaults: dict | None = None) -> None:
    """One flag per field of ``cls`` (but those named in ``exclude``); defaults and help come from the
    dataclass, or from ``defaults`` (a recipe's values, shown as such). With ``recipe_defaults`` a flag
    not given is left unset, so the caller can take it from a recipe (tasks/recipes.py) before falling
    back to the dataclass."""
    group = parser.add_argument_group(title) if title else parser
    defaults = defaults or {}
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if not meta.get("cli", True) or f.name in exclude:
            continue
        kind = _type_of(f)
        kwargs = {"dest": f.name, "help": meta.get("help", "")}
        value = defaults.get(f.name, f.default)
        source = ", the task's README recipe" if f.name in defaults and f.name != "task" else ""
        default = argparse.SUPPRESS if recipe_defaults and not meta.get("required") else value
        if kind is bool:
            shown = "on" if value else "off"
            kwargs["help"] += (f" (default: the task's recipe, else {shown})" if recipe_defaults
                               else f" (default: {shown}{source})")
            group.add_argument(flag_of(f), action=_BooleanFlag, default=default, **kwargs)
            continue
        if meta.get("required") and f.name not in defaults:
            kwargs["required"] = True
        else:
            kwargs["default"] = default
            if value not in (None, ""):
                kwargs["help"] += (f" (default: the task's recipe, else {value})" if recipe_defaults
                                   else f" (default: {value}{source})")
        if meta.get("choices") is not None:
            kwargs["choices"] = meta["choices"]
        group.add_argument(flag_of(f), type=kind, **kwargs)


class _BooleanFlag(argparse.BooleanOptionalAction):
    """--x / --no-x, with the default written into the help by add_arguments (not appended again)."""

    def format_usage(self):
        return " | ".join(self.option_strings)

    def __init__(self, *args, help=None, **kwargs):
        super().__init__(*args, help=help, **kwargs)
        self.help = help  # BooleanOptionalAction appends its own "(default: ...)"


def given(cls, args: argparse.Namespace) -> dict:
    """The fields of ``cls`` set on the command line (parsed with recipe_defaults)."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}


def from_args(cls, args: argparse.Namespace, **override):
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    return cls(**(values | override))


def from_dict(cls, values: dict | None, where: str = ""):
    """Rebuild settings saved as a dict (a checkpoint); unknown keys are an error, missing ones take defaults."""
    values = dict(values or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise TaskError(f"{where}: unknown settings {unknown}; expected some of {sorted(names)}")
    return cls(**values)


@dataclass
class TrainConfig:
    """How to train: the optimiser, the schedule, evaluation and checkpoints."""
    epochs: float = setting(3.0, "passes over the training data", above=0)
    max_steps: int = setting(0, "> 0: train exactly this many steps (overrides --epochs)", minimum=0)
    batch_size: int = setting(32, "examples per step", minimum=1)
    learning_rate: float = setting(5e-5, "peak learning rate (AdamW)", flag="--lr", above=0)
    warmup: float = setting(0.1, "linear warmup: < 1 a proportion of the steps, >= 1 a number of steps", minimum=0)
    weight_decay: float = setting(0.01, "AdamW weight decay (not on biases and LayerNorm)", minimum=0)
    max_grad_norm: float = setting(1.0, "clip gradients to this global norm", above=0)
    eval_every: int = setting(100, "evaluate on dev every N steps", minimum=1)
    save_every: int = setting(0, "resume point every N steps (0: at each evaluation)", minimum=0)
    early_stop: int = setting(0, "stop after N evaluations without improvement (0: never)", minimum=0)
    seed: int = setting(42, "random seed (data order, dropout, initialisation)")
    eval_batch_size: int = setting(64, "examples per evaluation batch", minimum=1)
    freeze_embeddings: bool = setting(False, "do not train the word-embedding matrix (about 1.5x faster on CPU)")
    train_layers: int = setting(0, "train only the top K encoder layers and the head; the layers below are "
                                   "computed once per text and cached (0: fine-tune every layer)", minimum=0)
    dropout: float = setting(None, "dropout rate of the hidden states and the head (default: the model's own, "
                                   "0.1 for BERT / ERNIE)", minimum=0)
    attention_dropout: bool = setting(False, "dropout on the attention probabilities (off by default: on CPU "
                                             "its serial random numbers cost more than a layer's matrix products)")
    stop_at: float = setting(None, "stop once the dev metric reaches this value (e.g. 0.9)")
    budget_minutes: float = setting(0.0, "fit the run into this many minutes: before training, a timing probe "
                                         "that changes nothing plans fewer steps if needed (0: no limit)",
                                    minimum=0)
    cache_dir: str = setting("~/.cache/paddle-course/frozen", "where --train-layers keeps the frozen layers' "
                                                              "outputs between runs ('' : memory only)")
    cache_gb: float = setting(8.0, "disk budget of --cache-dir in GB (least recently used entries go first)",
                              minimum=0)
    device: str = setting("auto", "cpu | gpu | gpu:N | auto (a GPU when paddlepaddle-gpu sees one, else the CPU)")
    amp: str = setting("off", "automatic mixed precision on a GPU (paddle.amp): fp16 with loss scaling, or bf16",
                       choices=("off", "fp16", "bf16"))
    progress: bool = setting(True, "progress bar on a terminal")
    visualdl: bool = setting(False, "also log loss, learning rate and dev metric to VisualDL "
                                    "(open with: visualdl --logdir RUN/visualdl)")

    def __post_init__(self):
        validate(self)

    def total_steps(self, steps_per_epoch: int) -> int:
        return self.max_steps if self.max_steps > 0 else max(1, round(self.epochs * steps_per_epoch))

    def warmup_steps(self, total: int) -> int:
        return int(self.warmup) if self.warmup >= 1 else int(self.warmup * total)


@dataclass
class RunConfig:
    """What to train, on which data, and where the run goes."""
    task: str = setting(None, "the task", choices=TASK_NAMES, required=True)
    model: str = setting(DEFAULT_MODEL, "e5-small-zh[@layers] | tiny-bert | tiny-ernie | a PaddleNLP name | "
                                        "a local save_pretrained directory")
    data: str = setting("offline", "offline | chnsenticorp / lcqmc / msra_ner (online) | "
                                   "a directory holding train/dev/test files")
    out: str = setting(None, "run directory", required=True)
    max_length: int = setting(128, "tokens per example (longer ones are cut and counted)", minimum=8)
    limit_train: int = setting(None, "train on a fixed random subset of this size", minimum=1)
    limit_dev: int = setting(None, "a fixed random subset of dev", minimum=1)
    limit_test: int = setting(None, "a fixed random subset of test", minimum=1)
    labels: str = setting(None, "file with one label per line, optionally label<TAB>name "
                                "(default: the labels seen in train)")
    nproc: int = setting(1, "data-parallel training on N processes (CPU: gloo; GPUs: one per process) through "
                            "paddle.distributed.launch; --batch-size stays the global batch", minimum=1)
    dedup_train: bool = setting(True, "drop repeated rows of the training split (counted in the log); dev and "
                                      "test are always scored row for row as given")
    resume: bool = setting(False, "continue an interrupted run in --out")
    overwrite: bool = setting(False, "replace a finished run in --out (kept until the new run has a checkpoint)")

    def __post_init__(self):
        validate(self)

    @property
    def limits(self) -> dict:
        return {"train": self.limit_train, "dev": self.limit_dev, "test": self.limit_test}


# -- each task's own options (stored in its checkpoints) ---------------------------------
@dataclass
class ClassificationOptions:
    pooling: str = setting("auto", "classification / single_tower: [CLS] pooler, mean of the tokens, or (text "
                                   "pairs) each text's mean compared as [u, v, |u-v|, u*v], or (align, with --joint-layers) that "
                                   "plus how well each token finds its twin in the other text (auto: mean for "
                                   "e5-small-zh, else cls)",
                        choices=("auto", "cls", "mean", "pair", "align"))

    def __post_init__(self):
        validate(self)


@dataclass
class SingleTowerOptions(ClassificationOptions):
    joint_layers: int = setting(0, "single_tower: the texts meet in the top N encoder layers; below them each "
                                   "text runs alone, once per text (0: one joint input from the embeddings up, "
                                   "[CLS] a [SEP] b [SEP]); --max-length then counts each text", minimum=0)
    negatives: int = setting(0, "single_tower with --joint-layers: other texts of the batch each matching pair "
                                "is also scored against (through the joint layers only), ranked below its own",
                             minimum=0)

    def __post_init__(self):
        validate(self)
        if self.negatives and not self.joint_layers:
            raise TaskError("--negatives needs --joint-layers: without a join, each extra pair costs a whole "
                            "encoder pass")
        if self.pooling == "align" and not self.joint_layers:
            raise TaskError("--pooling align compares each token with its twin after the texts meet in the top "
                            "layers: it needs --joint-layers N (the late-join cross-encoder)")


@dataclass
class NerOptions:
    crf: bool = setting(False, "ner: CRF layer + Viterbi decoding instead of a per-word softmax")
    crf_lr: float = setting(100.0, "ner: the CRF transitions' learning rate as a multiple of --lr "
                                   "(PaddleNLP's default 0.1 leaves them near their random start)", above=0)

    def __post_init__(self):
        validate(self)


@dataclass
class DualTowerOptions:
    objective: str = setting("both", "dual_tower: training objective", choices=("sbert", "contrastive", "both"))
    temperature: float = setting(0.05, "dual_tower: softmax temperature of the in-batch contrastive loss", above=0)

    def __post_init__(self):
        validate(self)


TASK_OPTIONS = {"classification": ClassificationOptions, "single_tower": SingleTowerOptions,
                "ner": NerOptions, "dual_tower": DualTowerOptions}
