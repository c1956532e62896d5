"""Training recipes per task and time budget: the one place the demo, the lessons and the README take
their settings from.

``quick``   a smoke test on the tiny random model (a minute for all four tasks)
``demo``    `bash run.sh demo`: about 3-4 minutes per task on 2 CPU cores
``readme``  `python -m tasks train --task T` with no other flag: the whole training split (20 minutes,
            NER 30, on 2 cores; ``budget_minutes`` plans fewer steps where a dataset is larger)
``full``    for students with more time: twice the trained layers, one more epoch, no time budget

All but ``quick`` use the pretrained 12-layer encoder, cut where linear probes of its
layers score best for the task when that helps (``e5-small-zh@10`` for sentiment, ``@8`` for NER),
and train its top ``train_layers`` over the cached frozen prefix (tasks/engine/frozen.py).
`python -m tasks.tools sweep` trains the candidates around each README recipe and records the
measurements in benchmarks/recipes.md.
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


# The demo: the full-depth encoder, its top layers trained over the cached frozen prefix (tasks/engine/frozen.py),
# a few thousand training examples; test scored on the whole split (NER: 2,000 of its 5,000 sentences).
# No time budget: one epoch, the same steps on every machine, so its numbers (and the two towers', trained
# for the same 125 steps) do not depend on the machine's speed.
DEMO_TRAIN = dict(epochs=1, batch_size=32, learning_rate=3e-4, eval_every=40)
RECIPES = {
    "demo": {
        # 800 dev reviews: with 400 the best-dev step was picked on noise (best at step 80 of 125)
        "classification": Recipe("classification", "e5-small-zh@10", 128, {"train": 4000, "dev": 800}, {},
                                 DEMO_TRAIN | dict(train_layers=2)),
        "ner": Recipe("ner", "e5-small-zh@8", 128, {"train": 8000, "dev": 500, "test": 2000}, {"crf": True},
                      DEMO_TRAIN | dict(batch_size=16, eval_every=125, train_layers=4)),
        "single_tower": Recipe("single_tower", "e5-small-zh", 64, {"train": 4000, "dev": 400},
                               {"pooling": "pair", "joint_layers": 1, "negatives": 3}, DEMO_TRAIN | dict(train_layers=2)),
        "dual_tower": Recipe("dual_tower", "e5-small-zh", 64, {"train": 4000, "dev": 400}, {"objective": "both"},
                             DEMO_TRAIN | dict(learning_rate=2e-4, train_layers=2)),
    },
}
QUICK_LIMITS = {"train": 64, "dev": 32, "test": 32}
QUICK_TRAIN = dict(max_steps=4, batch_size=16, eval_every=2, freeze_embeddings=True, train_layers=1, cache_dir="")
RECIPES["quick"] = {task: dataclasses.replace(r, model="tiny-bert", limits=QUICK_LIMITS, train=QUICK_TRAIN)
                    for task, r in RECIPES["demo"].items()}
# `python -m tasks train --task T` with no other flag: the whole training split, the encoder cut per
# task, top layers trained over the cached frozen prefix (tasks/engine/frozen.py)
RECIPES["readme"] = {
    # sentiment: the first 10 layers (mean-pooled features peak at layer 10), layers 7-10 trained
    "classification": Recipe("classification", "e5-small-zh@10", 160, {}, {},
                             dict(epochs=1.5, batch_size=32, learning_rate=2e-4, eval_every=200, train_layers=4,
                                  budget_minutes=20.0)),
    # NER: the encoder's first 8 layers (token features peak at layer 8; measured: test F1 0.790 with
    # layers 5-8 trained against 0.746 with layers 9-12 of the whole encoder, same steps, softmax);
    # CRF, every character scored at its rank in its piece: test F1 0.872 in 24.7 min
    "ner": Recipe("ner", "e5-small-zh@8", 128, {}, {"crf": True},
                  dict(epochs=1, batch_size=16, learning_rate=3e-4, eval_every=700, train_layers=4,
                       budget_minutes=30.0)),
    # matching, cross-encoder: each text alone through layers 1-11 (cached), the two texts together in
    # layer 12, 3 in-batch negatives per pair; max_length counts each text. Measured: test 0.783 in
    # 10.3 min, against 0.736 for one joint input with layers 11-12 trained (pooling pair), 0.695 mean
    "single_tower": Recipe("single_tower", "e5-small-zh", 64, {}, {"pooling": "pair", "joint_layers": 1, "negatives": 3},
                           dict(epochs=1, batch_size=32, learning_rate=2e-4, eval_every=200, train_layers=2,
                                budget_minutes=20.0)),
    "dual_tower": Recipe("dual_tower", "e5-small-zh", 64, {}, {"objective": "both"},
                         dict(epochs=1, batch_size=32, learning_rate=2e-4, eval_every=200, train_layers=2,
                              budget_minutes=20.0)),
}
RECIPES["full"] = {
    task: dataclasses.replace(r, train=r.train | {"train_layers": 2 * r.train["train_layers"],
                                                  "epochs": r.train["epochs"] + 1, "budget_minutes": 0.0})
    for task, r in RECIPES["readme"].items()}
BUDGETS = tuple(RECIPES)
DEFAULT_BUDGET = "readme"


# The sweep (`python -m tasks.tools sweep`, tasks/tools/sweep.py): each budget's recipe, and the README recipe
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
