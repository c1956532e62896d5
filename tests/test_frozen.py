"""--train-layers K: the cached bottom gives the same numbers as the whole encoder, only the top
layers learn, the saved model predicts as it did in training, and a second run reads the cache."""
import numpy as np
import paddle
import pytest

from tasks.config import TrainConfig
from tasks.engine import checkpoint
from tasks.engine.frozen import CachedRunner, FrozenBottom
from tasks.engine.inference import EagerRunner
from tasks.engine.runner import load_split, run_train, task_class
from tasks.errors import TaskError

LIMITS = {"train": 48, "dev": 24, "test": 24}


def build(task_name, data="offline", options=None):
    cls = task_class(task_name)
    examples = load_split(cls, data, "dev", 24)
    labels = sorted({e["label"] for e in examples}) if cls.data_kind != "ner" else None
    if labels is None:
        from tasks import datasets

        labels = datasets.label_list("ner", examples)
    task = cls("tiny-bert", labels, 64, options)
    paddle.seed(0)
    model = task.build_model("tiny-bert")
    return task, model, task.encode_all(examples)


@pytest.mark.parametrize("task_name", ["classification", "ner", "single_tower", "dual_tower"])
def test_cached_bottom_gives_the_whole_encoders_outputs(task_name, tmp_path):
    task, model, features = build(task_name)
    model.eval()
    frozen = FrozenBottom(model, 1, cache_dir=str(tmp_path))
    frozen.fill(features, progress=False)
    assert frozen.stats["source"] == "paddle-inference"
    inputs, collate = task.inference_features(features)
    cached, whole = task.run_batches(CachedRunner(model, frozen), inputs, 16, collate), \
        task.run_batches(EagerRunner(model), inputs, 16, collate)
    diff = max(float(np.abs(a[0] - b[0]).max()) for a, b in zip(cached, whole))
    assert diff < 1e-2, diff  # fp16 cache of the bottom's output


def test_only_the_top_layers_learn_and_the_cache_is_reused(tmp_path):
    config = TrainConfig(max_steps=6, batch_size=8, eval_every=3, learning_rate=1e-3, train_layers=1,
                         cache_dir=str(tmp_path / "cache"), progress=False)
    run_train("classification", "tiny-bert", "offline", tmp_path / "run", config, max_length=64, limits=LIMITS)
    task, trained = checkpoint.load(tmp_path / "run" / "best")
    paddle.seed(42)
    initial = task.build_model("tiny-bert")
    before, after = initial.state_dict(), trained.state_dict()
    changed = {k for k in after if not np.array_equal(before[k].numpy(), after[k].numpy())}
    top = len(trained.layers) - 1
    assert changed, "nothing trained"
    assert all(k.startswith(f"encoder.encoder.layers.{top}.") or not k.startswith("encoder.")
               or k.startswith("encoder.pooler") for k in changed), sorted(changed)
    assert any(k.startswith(f"encoder.encoder.layers.{top}.") for k in changed)
    entries = list((tmp_path / "cache").iterdir())
    assert len(entries) == 1
    # a second run on the same model, data and max_length reads the cached bottom from disk
    frozen = FrozenBottom(initial, 1, cache_dir=str(tmp_path / "cache"))
    features = {s: task.encode_all(load_split(task_class("classification"), "offline", s, LIMITS[s], 42))
                for s in ("train", "dev")}
    assert frozen.fill(features["train"], features["dev"], progress=False)["source"] == "disk"


def test_the_saved_model_predicts_as_the_cached_one(tmp_path):
    config = TrainConfig(max_steps=4, batch_size=8, eval_every=4, learning_rate=1e-3, train_layers=1,
                         cache_dir="", progress=False)
    results = run_train("classification", "tiny-bert", "offline", tmp_path / "run", config, max_length=64,
                        limits=LIMITS)
    assert results["best_dev"] == pytest.approx(results["dev"]["accuracy"])
    task, model = checkpoint.load(tmp_path / "run" / "best")
    dev = task.encode_all(load_split(task_class("classification"), "offline", "dev", LIMITS["dev"], 42))
    assert task.evaluate(model, dev)["accuracy"] == pytest.approx(results["best_dev"])


def test_train_layers_beyond_the_depth_is_a_clear_error(tmp_path):
    _, model, _ = build("classification")
    with pytest.raises(TaskError, match="--train-layers 9: expected 1 to"):
        FrozenBottom(model, 9)


def test_a_time_budget_cuts_the_planned_steps(tmp_path):
    config = TrainConfig(max_steps=5000, batch_size=8, eval_every=1000, learning_rate=1e-3, budget_minutes=0.1,
                         progress=False)
    results = run_train("classification", "tiny-bert", "offline", tmp_path / "run", config, max_length=32,
                        limits=LIMITS)
    assert 20 < results["steps"] < 5000
    assert results["train_minutes"] < 0.5


def test_the_budget_keeps_time_for_the_final_test_evaluation():
    from tasks.engine.trainer import steps_within_budget

    config = TrainConfig(budget_minutes=10.0, eval_every=100)
    # 600 s budget, 60 s gone, 1 s a step, 10 s an evaluation (0.1 s a step averaged)
    plan = dict(step=20, total=10_000, elapsed_s=60.0, step_s=1.0, eval_s=10.0)
    assert steps_within_budget(config, **plan, final_evals=0.0) == 20 + int(540 / 1.1)
    assert steps_within_budget(config, **plan, final_evals=2.0) == 20 + int(520 / 1.1)
    assert steps_within_budget(config, **plan | {"total": 300}) == 300  # it fits: nothing cut


def test_pair_pooling_compares_the_two_texts_and_exports(tmp_path):
    from tasks.engine.inference import export, open_runner

    config = TrainConfig(max_steps=4, batch_size=8, eval_every=4, learning_rate=1e-3, train_layers=1, cache_dir="",
                         progress=False)
    results = run_train("single_tower", "tiny-bert", "offline", tmp_path / "run", config, max_length=48,
                        options={"pooling": "pair"}, limits=LIMITS)
    task, model = checkpoint.load(tmp_path / "run" / "best")
    assert task.options.pooling == "pair" and model.classifier.weight.shape[0] == 4 * model.hidden_size
    dev = task.encode_all(load_split(task_class("single_tower"), "offline", "dev", LIMITS["dev"], 42))
    assert task.evaluate(model, dev)["accuracy"] == pytest.approx(results["best_dev"], abs=0.05)
    export(tmp_path / "run" / "best", task, model)
    exported = task.run_batches(open_runner(tmp_path / "run" / "best", model, "paddle-inference"), dev)
    eager = task.run_batches(model, dev)
    assert max(float(np.abs(a[0] - b[0]).max()) for a, b in zip(exported, eager)) < 1e-4
    with pytest.raises(TaskError, match="--pooling pair"):
        task_class("classification")("tiny-bert", ["0", "1"], 32, {"pooling": "pair"})


def test_late_join_cross_encoder_caches_each_text_trains_and_exports(tmp_path):
    """--joint-layers: each text's frozen bottom is cached alone, the cached model scores as the whole
    one, training with in-batch negatives runs, and the exported graph scores as the eager model."""
    from tasks.engine.inference import export, open_runner

    options = {"pooling": "pair", "joint_layers": 1, "negatives": 2}
    task, model, features = build("single_tower", options=task_class("single_tower").Options(**options))
    model.eval()
    frozen = FrozenBottom(model, 1, cache_dir=str(tmp_path / "cache"))
    frozen.fill(features, progress=False)
    assert frozen.stats["texts"] == len({tuple(f[k]) for f in features for k in ("a_ids", "b_ids")})
    cached, whole = task.run_batches(CachedRunner(model, frozen), features, 8), task.run_batches(model, features, 8)
    assert max(float(np.abs(a[0] - b[0]).max()) for a, b in zip(cached, whole)) < 1e-2

    config = TrainConfig(max_steps=4, batch_size=8, eval_every=4, learning_rate=1e-3, train_layers=1, cache_dir="",
                         progress=False)
    run_train("single_tower", "tiny-bert", "offline", tmp_path / "run", config, max_length=32, options=options,
              limits=LIMITS)
    task, model = checkpoint.load(tmp_path / "run" / "best")
    assert task.options.joint_layers == 1 and model.joint_layers == 1
    dev = task.encode_all(load_split(task_class("single_tower"), "offline", "dev", LIMITS["dev"], 42))
    export(tmp_path / "run" / "best", task, model)
    exported = task.run_batches(open_runner(tmp_path / "run" / "best", model, "paddle-inference"), dev)
    eager = task.run_batches(model, dev)
    assert max(float(np.abs(a[0] - b[0]).max()) for a, b in zip(exported, eager)) < 1e-4


def test_in_batch_negatives_rank_each_pair_above_other_texts_but_never_its_own_twin():
    options = task_class("single_tower").Options(pooling="pair", joint_layers=1, negatives=3)
    task, model, features = build("single_tower", options=options)
    positive = task.label_to_id["1"]
    rows = [f for f in features if f["label"] == positive][:4]
    batch = task.collate_fn()(rows)
    outputs = model(batch["a_ids"], batch["b_ids"])
    pairwise = float(paddle.nn.functional.cross_entropy(outputs[0], batch["label"]))
    assert float(task.loss(outputs, batch, model)) > pairwise  # the ranking term adds to it
    twins = task.collate_fn()([dict(r, b_ids=rows[0]["b_ids"]) for r in rows])  # every row: the same second text
    outputs = model(twins["a_ids"], twins["b_ids"])
    pairwise = float(paddle.nn.functional.cross_entropy(outputs[0], twins["label"]))
    assert float(task.loss(outputs, twins, model)) == pytest.approx(pairwise, abs=1e-5)  # no negative left


def test_late_join_settings_that_cannot_work_are_clear_errors():
    Options = task_class("single_tower").Options
    with pytest.raises(TaskError, match="--negatives needs --joint-layers"):
        Options(pooling="pair", negatives=2)
    with pytest.raises(TaskError, match="--pooling pair"):
        build("single_tower", options=Options(pooling="mean", joint_layers=1))
    task, model, _ = build("single_tower", options=Options(pooling="pair", joint_layers=2))
    with pytest.raises(TaskError, match="--train-layers 1 is below --joint-layers 2"):
        FrozenBottom(model, 1)
