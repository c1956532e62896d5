"""--train-layers K: the cached frozen prefix gives the same numbers as the whole encoder, only the top
layers learn, the saved model predicts as it did in training, a second run reads the cache, and the
step plan (--budget-minutes) is made once, before training, without changing the run."""
from pathlib import Path

import numpy as np
import paddle
import pytest

from tasks.config import TrainConfig
from tasks.engine import checkpoint
from tasks.engine.frozen import freeze_for_training, graph_runner
from tasks.engine.runner import load_split, run_train, task_class
from tasks.errors import TaskError

LIMITS = {"train": 48, "dev": 24, "test": 24}


def build(task_name, data="offline", options=None):
    cls = task_class(task_name)
    examples = load_split(cls, data, "dev", 24)
    labels = sorted({e["label"] for e in examples}) if cls.data_kind != "ner" else None
    if labels is None:
        from tasks.data import datasets

        labels = datasets.label_list("ner", examples)
    task = cls("tiny-bert", labels, 64, options)
    paddle.seed(0)
    model = task.build_model("tiny-bert")
    return task, model, task.encode_all(examples)


@pytest.mark.parametrize("task_name", ["classification", "ner", "single_tower", "dual_tower"])
def test_cached_prefix_gives_the_whole_encoders_outputs(task_name, tmp_path):
    task, model, features = build(task_name)
    model.eval()
    inputs, collate = task.inference_features(features)
    whole = task.run_batches(model, inputs, 16, collate)
    prefix = model.freeze_prefix(len(model.layers) - 1)
    prefix.fill(features, cache_dir=str(tmp_path), progress=False)
    assert prefix.stats["source"] == "paddle-inference"
    cached_texts = dict(prefix.store)
    cached = task.run_batches(model, inputs, 16, collate)
    assert prefix.store.keys() == cached_texts.keys()  # every text came from the cache, none was computed again
    diff = max(float(np.abs(a[0] - b[0]).max()) for a, b in zip(cached, whole))
    assert 0 < diff < 1e-2, diff  # the fp16 cache of the prefix's output


def test_the_graph_runner_gives_every_layers_output_as_the_eager_model_and_keeps_its_mode():
    task, model, features = build("ner")
    model.train()
    run, engine = graph_runner(model, lambda ids, types: paddle.stack(model.hidden_states(ids, types), axis=2), "test")
    assert engine == "paddle-inference" and model.training  # exported, and left in training mode
    ids = np.array([f["input_ids"][:12] for f in features[:4]], dtype="int64")
    types = np.zeros_like(ids)
    model.eval()
    with paddle.no_grad():
        eager = paddle.stack(model.hidden_states(paddle.to_tensor(ids), paddle.to_tensor(types)), axis=2).numpy()
    graph = run(ids, types)
    assert graph.shape == eager.shape == (4, 12, len(model.layers) + 1, eager.shape[-1])
    assert np.abs(graph - eager).max() < 1e-4


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
    assert len(entries) == 2  # train and dev together; test
    # a second run on the same model, data and max_length reads the cached prefix from disk, test included
    features = {s: task.encode_all(load_split(task_class("classification"), "offline", s, LIMITS[s], 42))
                for s in ("train", "dev", "test")}
    prefix = initial.freeze_prefix(len(initial.layers) - 1)
    assert prefix.fill(features["train"], features["dev"], cache_dir=str(tmp_path / "cache"),
                       progress=False)["source"] == "disk"
    prefix = initial.freeze_prefix(len(initial.layers) - 1)
    assert prefix.fill(features["test"], cache_dir=str(tmp_path / "cache"), progress=False)["source"] == "disk"


def test_the_saved_model_predicts_as_the_cached_one(tmp_path):
    config = TrainConfig(max_steps=4, batch_size=8, eval_every=4, learning_rate=1e-3, train_layers=1,
                         cache_dir="", progress=False)
    results = run_train("classification", "tiny-bert", "offline", tmp_path / "run", config, max_length=64,
                        limits=LIMITS)
    assert results["best_dev"] == pytest.approx(results["dev"]["accuracy"])
    task, model = checkpoint.load(tmp_path / "run" / "best")
    dev = task.encode_all(load_split(task_class("classification"), "offline", "dev", LIMITS["dev"], 42))
    assert task.evaluate(model, dev)["accuracy"] == pytest.approx(results["best_dev"])


def test_a_frozen_prefix_deeper_than_the_encoder_is_a_clear_error_and_train_layers_beyond_it_trains_all():
    _, model, _ = build("classification")
    with pytest.raises(TaskError, match="expected 1 to 2 for a 2-layer encoder"):
        model.freeze_prefix(3)
    assert freeze_for_training(model, TrainConfig(train_layers=9, progress=False)) is None
    assert all(not p.stop_gradient for p in model.parameters())


def test_a_time_budget_cuts_the_planned_steps_before_training(tmp_path):
    config = TrainConfig(max_steps=5000, batch_size=8, eval_every=1000, learning_rate=1e-3, budget_minutes=0.1,
                         progress=False)
    results = run_train("classification", "tiny-bert", "offline", tmp_path / "run", config, max_length=32,
                        limits=LIMITS)
    # how many steps fit depends on the machine and its load; that the plan was cut and then kept does not
    assert 2 <= results["steps"] < 5000 and results["plan"]["steps"] == results["steps"]
    assert results["plan"]["reason"].startswith("--budget-minutes 0.1")
    assert results["plan"]["step_s"] > 0 and results["train_minutes"] < 0.5
    # the learning rate decays to 0 over the planned steps: planned once, never re-fitted
    import csv

    with (tmp_path / "run" / "log.csv").open() as f:
        lrs = [float(r["lr"]) for r in csv.DictReader(f)]
    assert len(lrs) == results["steps"] and lrs[-1] == pytest.approx(1e-3 / (results["steps"] * 0.9), rel=0.05)


def test_a_budget_the_run_fits_in_gives_the_same_run():
    """The timing probe (training steps at a learning rate of 0 on an optimiser of its own, forward
    passes over dev) changes nothing: same losses at every step, same checkpoint, same metrics."""
    import tempfile

    runs = {}
    for budget in (0.0, 30.0):
        with tempfile.TemporaryDirectory() as tmp:
            config = TrainConfig(max_steps=8, batch_size=8, eval_every=4, learning_rate=1e-3, train_layers=1,
                                 budget_minutes=budget, cache_dir="", progress=False)
            results = run_train("single_tower", "tiny-bert", "offline", tmp, config, max_length=32, limits=LIMITS,
                                options={"pooling": "pair", "joint_layers": 1, "negatives": 2})
            import csv

            with (Path(tmp) / "log.csv").open() as f:
                results["losses"] = [r["loss"] for r in csv.DictReader(f)]
            runs[budget] = results
    assert "step_s" in runs[30.0]["plan"] and "step_s" not in runs[0.0]["plan"]
    assert runs[30.0]["steps"] == runs[0.0]["steps"] == 8
    assert runs[30.0]["losses"] == runs[0.0]["losses"]
    assert runs[30.0]["dev"] == runs[0.0]["dev"] and runs[30.0]["test"] == runs[0.0]["test"]


def test_the_budget_keeps_time_for_the_final_test_evaluation():
    from tasks.engine.trainer import steps_within_budget

    config = TrainConfig(budget_minutes=10.0, eval_every=100)
    # 600 s budget, 60 s gone, 1 s a step, 10 s an evaluation (0.1 s a step averaged)
    plan = dict(total=10_000, elapsed_s=60.0, step_s=1.0, eval_s=10.0)
    assert steps_within_budget(config, **plan, final_evals=0.0) == int(540 / 1.1)
    assert steps_within_budget(config, **plan, final_evals=2.0) == int(520 / 1.1)
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


@pytest.mark.parametrize("pooling", ["pair", "align"])
def test_late_join_cross_encoder_caches_each_text_trains_and_exports(tmp_path, pooling):
    """--joint-layers: each text's frozen bottom is cached alone, the cached model scores as the whole
    one, training with in-batch negatives runs, and the exported graph scores as the eager model."""
    from tasks.engine.inference import export, open_runner

    options = {"pooling": pooling, "joint_layers": 1, "negatives": 2}
    task, model, features = build("single_tower", options=task_class("single_tower").Options(**options))
    model.eval()
    whole = task.run_batches(model, features, 8)
    prefix = model.freeze_prefix(len(model.layers) - 1)
    prefix.fill(features, cache_dir=str(tmp_path / "cache"), progress=False)
    assert prefix.stats["texts"] == len({tuple(f[k]) for f in features for k in ("a_ids", "b_ids")})
    cached = task.run_batches(model, features, 8)
    assert max(float(np.abs(a[0] - b[0]).max()) for a, b in zip(cached, whole)) < 1e-2

    config = TrainConfig(max_steps=4, batch_size=8, eval_every=4, learning_rate=1e-3, train_layers=1, cache_dir="",
                         progress=False)
    run_train("single_tower", "tiny-bert", "offline", tmp_path / "run", config, max_length=32, options=options,
              limits=LIMITS)
    task, model = checkpoint.load(tmp_path / "run" / "best")
    assert task.options.joint_layers == 1 and model.joint_layers == 1 and model.align == (pooling == "align")
    if model.align:  # standardised by the first batch, and its weights learned from zero
        assert float(model.align_std.numpy().min()) > 0 and float(np.abs(model.aligner.weight.numpy()).sum()) > 0
    dev = task.encode_all(load_split(task_class("single_tower"), "offline", "dev", LIMITS["dev"], 42))
    export(tmp_path / "run" / "best", task, model)
    exported = task.run_batches(open_runner(tmp_path / "run" / "best", model, "paddle-inference"), dev)
    eager = task.run_batches(model, dev)
    assert max(float(np.abs(a[0] - b[0]).max()) for a, b in zip(exported, eager)) < 1e-4


def test_alignment_finds_each_token_twin_and_ignores_padding():
    from tasks.engine.modeling import LateJoinCrossEncoder

    rng = np.random.default_rng(0)
    a = rng.normal(size=(1, 5, 8)).astype("float32")
    b = a[:, [3, 1, 4, 0, 2]]  # the same tokens, reordered
    pads = rng.normal(size=(1, 2, 8)).astype("float32")  # padding of b: never anyone's twin
    real_a, real_b = paddle.ones([1, 5], "int64"), paddle.to_tensor([[1, 1, 1, 1, 1, 0, 0]])
    same = LateJoinCrossEncoder.alignment(paddle.to_tensor(np.concatenate([a, b, pads], 1)), real_a, real_b)
    assert np.allclose(same.numpy(), 1.0, atol=1e-5)  # mean, lowest three, minimum: every token has its twin
    changed = b.copy()
    changed[0, 2] = rng.normal(size=8)  # one token of b replaced
    other = LateJoinCrossEncoder.alignment(paddle.to_tensor(np.concatenate([a, changed, pads], 1)), real_a, real_b)
    mean, low, minimum = other.numpy()[0]
    assert minimum < low < mean < 1.0
    swapped = LateJoinCrossEncoder.alignment(paddle.to_tensor(np.concatenate([changed, a], 1)),
                                             paddle.ones([1, 5], "int64"), paddle.ones([1, 5], "int64"))
    assert np.allclose(swapped.numpy(), other.numpy(), atol=1e-5)  # the order of the texts does not matter


def test_in_batch_negatives_rank_each_pair_above_other_texts_but_never_its_own_twin():
    options = task_class("single_tower").Options(pooling="pair", joint_layers=1, negatives=3)
    task, model, features = build("single_tower", options=options)
    positive = task.label_to_id["1"]
    rows = [f for f in features if f["label"] == positive][:4]
    batch = task.collate_fn()(rows)
    loss = task.build_loss(model)
    outputs = model(batch["a_ids"], batch["b_ids"])
    pairwise = float(paddle.nn.functional.cross_entropy(outputs[0], batch["label"]))
    assert float(loss(outputs, batch)) > pairwise  # the ranking term adds to it
    twins = task.collate_fn()([dict(r, b_ids=rows[0]["b_ids"]) for r in rows])  # every row: the same second text
    outputs = model(twins["a_ids"], twins["b_ids"])
    pairwise = float(paddle.nn.functional.cross_entropy(outputs[0], twins["label"]))
    assert float(loss(outputs, twins)) == pytest.approx(pairwise, abs=1e-5)  # no negative left


def test_late_join_settings_that_cannot_work_are_clear_errors():
    Options = task_class("single_tower").Options
    with pytest.raises(TaskError, match="--negatives needs --joint-layers"):
        Options(pooling="pair", negatives=2)
    with pytest.raises(TaskError, match="--pooling pair"):
        build("single_tower", options=Options(pooling="mean", joint_layers=1))
    with pytest.raises(TaskError, match="--pooling align .* needs --joint-layers"):
        Options(pooling="align")
    task, model, _ = build("single_tower", options=Options(pooling="pair", joint_layers=2))
    assert type(task).__name__ == "LateJoinSingleTowerTask"
    with pytest.raises(TaskError, match="--train-layers 1 is below --joint-layers 2"):
        model.freeze_prefix(len(model.layers) - 1)
