"""Training recipes per task and time budget: the one place the demo, the lessons and the README take
their settings from.

``quick``  a smoke test on the tiny random model (a minute for all four tasks)
``demo``   the README's `bash run.sh demo`: about 15 minutes for the four tasks on 2 CPU cores
``lesson`` the lessons' default mode (notebooks/lessons/03-05), each lesson under 10 minutes

The demo settings were chosen by measurement on a 2-core CPU: a 2-layer encoder with a higher
learning rate gets much further within a few minutes than the 4-layer one; classification is
cheap enough for 4 layers.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from tasks.config import TASK_NAMES, TASK_OPTIONS, TrainConfig
from tasks.errors import TaskError


@dataclass(frozen=True)
class Recipe:
    task: str
    model: str
    max_length: int
    limits: dict = field(default_factory=dict)      # split -> examples (a fixed random subset)
    options: dict = field(default_factory=dict)     # the task's Options fields
    train: dict = field(default_factory=dict)       # TrainConfig fields

    def train_config(self, **override) -> TrainConfig:
        return TrainConfig(**(self.train | override))

    def with_options(self, **options) -> "Recipe":
        """The same recipe with some task options changed (e.g. the CRF head)."""
        return dataclasses.replace(self, options=self.options | options)

    def task_options(self):
        return TASK_OPTIONS[self.task](**self.options)

    def run_train(self, out_dir, data: str = "offline", model: str | None = None, **kwargs) -> dict:
        from tasks.engine.runner import run_train

        return run_train(self.task, model or self.model, data, out_dir, self.train_config(),
                         max_length=self.max_length, options=self.task_options(), limits=self.limits, **kwargs)


EVAL_SUBSET = {"dev": 300, "test": 1000}
RECIPES = {
    "demo": {
        "classification": Recipe("classification", "e5-small-zh@4", 96, {"train": 2560, **EVAL_SUBSET}, {},
                                 dict(epochs=1, batch_size=32, learning_rate=3e-4, eval_every=20, freeze_embeddings=True)),
        "ner": Recipe("ner", "e5-small-zh@2", 96, {"train": 2560, **EVAL_SUBSET}, {"crf": False},
                      dict(epochs=1, batch_size=16, learning_rate=1e-3, eval_every=40, freeze_embeddings=True)),
        "single_tower": Recipe("single_tower", "e5-small-zh@2", 128, {"train": 2048, **EVAL_SUBSET}, {},
                               dict(epochs=1, batch_size=32, learning_rate=1e-4, eval_every=25, freeze_embeddings=True)),
        "dual_tower": Recipe("dual_tower", "e5-small-zh@2", 64, {"train": 2560, **EVAL_SUBSET}, {"objective": "both"},
                             dict(epochs=1, batch_size=32, learning_rate=1e-4, eval_every=20, freeze_embeddings=True)),
    },
}
RECIPES["lesson"] = {
    "classification": RECIPES["demo"]["classification"],
    "ner": Recipe("ner", "e5-small-zh@2", 64, {"train": 3600, "dev": 200, "test": 1000}, {"crf": False},
                  dict(epochs=1, batch_size=8, learning_rate=5e-4, eval_every=150, freeze_embeddings=True)),
    "single_tower": Recipe("single_tower", "e5-small-zh@2", 96, {"train": 4000, **EVAL_SUBSET}, {},
                           dict(epochs=1, batch_size=16, learning_rate=2e-4, eval_every=50, freeze_embeddings=True)),
    "dual_tower": Recipe("dual_tower", "e5-small-zh@2", 48, {"train": 4000, **EVAL_SUBSET}, {"objective": "both"},
                         dict(epochs=1, batch_size=32, learning_rate=1e-4, eval_every=25, freeze_embeddings=True)),
}
QUICK_LIMITS = {"train": 64, "dev": 32, "test": 32}
QUICK_TRAIN = dict(max_steps=4, batch_size=16, eval_every=2, freeze_embeddings=True)
RECIPES["quick"] = {task: dataclasses.replace(r, model="tiny-bert", limits=QUICK_LIMITS, train=QUICK_TRAIN)
                    for task, r in RECIPES["demo"].items()}
# `python -m tasks train --task T` with no other flag: the whole training split, full-depth encoder,
# top layers trained over the cached bottom (tasks/engine/frozen.py)
RECIPES["readme"] = {
    "classification": Recipe("classification", "e5-small-zh", 128, {}, {},
                             dict(epochs=2, batch_size=32, learning_rate=2e-4, eval_every=100, train_layers=2)),
    "ner": Recipe("ner", "e5-small-zh", 128, {}, {"crf": True},
                  dict(epochs=1, batch_size=16, learning_rate=3e-4, eval_every=700, train_layers=2)),
    "single_tower": Recipe("single_tower", "e5-small-zh", 128, {}, {},
                           dict(epochs=1, batch_size=32, learning_rate=2e-4, eval_every=200, train_layers=2)),
    "dual_tower": Recipe("dual_tower", "e5-small-zh", 64, {}, {"objective": "both"},
                         dict(epochs=1, batch_size=32, learning_rate=2e-4, eval_every=200, train_layers=2)),
}
BUDGETS = tuple(RECIPES)
DEFAULT_BUDGET = "readme"


# The sweep (`python -m tasks sweep`, tasks/sweep.py): each budget's recipe, and the README recipe
# with one setting changed at a time.
VARIANTS = {
    "k1": {"train": {"train_layers": 1}}, "k4": {"train": {"train_layers": 4}},
    "lr1e-4": {"train": {"learning_rate": 1e-4}}, "lr5e-4": {"train": {"learning_rate": 5e-4}},
    "epochs+1": {"epochs": 1.0}, "len64": {"max_length": 64}, "len160": {"max_length": 160},
}


def candidates(task: str) -> dict[str, Recipe]:
    readme = get(task, "readme")
    found = {budget: get(task, budget) for budget in ("demo", "readme", "full")}
    for name, change in VARIANTS.items():
        recipe = dataclasses.replace(readme, train=readme.train | change.get("train", {}))
        if "epochs" in change:
            recipe = dataclasses.replace(recipe, train=recipe.train | {"epochs": readme.train["epochs"] + change["epochs"]})
        if "max_length" in change:
            recipe = dataclasses.replace(recipe, max_length=change["max_length"])
        if recipe != readme:
            found[f"readme-{name}"] = recipe
    return found


def get(task: str, budget: str = "demo") -> Recipe:
    if budget not in RECIPES:
        raise TaskError(f"recipe budget {budget!r}: expected one of {', '.join(BUDGETS)}")
    if task not in TASK_NAMES:
        raise TaskError(f"unknown task {task!r}; expected one of {', '.join(TASK_NAMES)}")
    return RECIPES[budget][task]
