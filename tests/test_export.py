"""Engine v2: models own their forward, exported inference agrees with eager, config has one source,
retrieval over an index, and the bad inputs of export / index / search."""
import ast
import dataclasses
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tasks import config
from tasks.cli import build_parser, parse_args
from tasks.cli import main as cli
from tasks.engine import checkpoint, inference
from tasks.engine.runner import run_evaluate, run_export, run_predict, run_train
from tasks.errors import CourseError, DataError, TaskError

pytestmark = pytest.mark.usefixtures("offline_data", "encoder_dir")
SMALL = {"train": 96, "dev": 48, "test": 64}
TASKS = ("classification", "ner", "single_tower", "dual_tower")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny checkpoint per task (the NER one with a CRF), exported in both formats."""
    runs = {}
    for task in TASKS:
        out = tmp_path_factory.mktemp(task)
        options = {"crf": True} if task == "ner" else None
        cfg = config.TrainConfig(max_steps=8, batch_size=16, learning_rate=3e-3, eval_every=4, progress=False)
        run_train(task, "tiny-bert", "offline", out, cfg, max_length=48, options=options, limits=SMALL)
        run_export(str(out / "best"), formats=("paddle", "onnx"))
        runs[task] = out / "best"
    return runs


def test_onnx_export_installs_nothing(trained, tmp_path, monkeypatch):
    """paddle2onnx's default graph optimiser (polygraphy) pip-installs onnx_graphsurgeon on first use,
    which upgraded the pinned numpy 1.26.4 to 2.x inside the venv (under pytest-xdist, while other
    workers were importing it). Export must not start pip, nor leave polygraphy allowed to."""
    commands = []
    real_popen = subprocess.Popen

    class RecordingPopen(real_popen):
        def __init__(self, args, *rest, **kwargs):
            commands.append(args)
            super().__init__(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", RecordingPopen)
    monkeypatch.delenv("POLYGRAPHY_AUTOINSTALL_DEPS", raising=False)
    copy = tmp_path / "best"
    shutil.copytree(trained["classification"], copy)
    shutil.rmtree(copy / inference.EXPORT_DIR)
    run_export(str(copy), formats=("paddle", "onnx"))
    assert (copy / inference.EXPORT_DIR / "export.json").is_file()
    assert not [c for c in commands if "pip" in str(c)]
    assert os.environ.get("POLYGRAPHY_AUTOINSTALL_DEPS", "0") == "0"
    pinned = next(line.split("==")[1] for line in (Path(__file__).parents[1] / "requirements.txt").read_text().splitlines()
                  if line.startswith("numpy=="))
    assert importlib.metadata.version("numpy") == pinned


@pytest.mark.parametrize("task", TASKS)
def test_exported_engines_agree_with_eager(trained, task):
    best = trained[task]
    eager = run_evaluate(str(best), "offline", "test", limit=SMALL["test"], engine="eager")
    for engine in ("paddle-inference", "onnx"):
        other = run_evaluate(str(best), "offline", "test", limit=SMALL["test"], engine=engine)
        assert other["engine"] == engine
        for key, value in eager.items():
            if key in ("engine",):
                continue
            if isinstance(value, float):
                assert other[key] == pytest.approx(value, abs=1e-6), (engine, key)
            else:
                assert other[key] == value, (engine, key)
    # the raw outputs (logits / emissions / embeddings) within 1e-4
    task_obj, model = checkpoint.load(best)
    examples = __import__("tasks.engine.runner", fromlist=["load_split"]).load_split(
        type(task_obj), "offline", "test", 32)
    features = task_obj.encode_all(examples)
    from tasks.tools.bench import inference_batches

    batches = inference_batches(task_obj, features)
    reference = [inference.EagerRunner(model)(b) for b in batches]
    for engine in ("paddle-inference", "onnx"):
        runner = inference.open_runner(best, model, engine)
        for batch, ref in zip(batches, reference):
            for a, b in zip(ref, runner(batch)):
                assert np.abs(a - b).max() <= 1e-4


def test_ner_spans_identical_and_auto_uses_an_exported_engine(trained):
    best = str(trained["ner"])
    sentences = ["张三在北京大学工作。", "李四去了上海。", "中国人民银行发布公告"]
    eager = run_predict(best, sentences, engine="eager")
    for engine in ("paddle-inference", "onnx", "auto"):
        assert run_predict(best, sentences, engine=engine) == eager
    task, model = checkpoint.load(best)
    assert inference.open_runner(Path(best), model, "auto").engine in inference.AUTO_ORDER


def test_predict_with_an_export_builds_no_eager_model_and_hashes_no_weights(trained, monkeypatch):
    best = str(trained["ner"])
    sentences = ["张三在北京大学工作。"]
    expected = run_predict(best, sentences, engine="eager")

    def refuse(*args, **kwargs):
        raise AssertionError("called while an exported engine serves")

    monkeypatch.setattr(checkpoint, "load_model", refuse)
    monkeypatch.setattr(checkpoint, "sha256_file", refuse)  # the export's stored hash holds: files unchanged
    assert run_predict(best, sentences, engine="auto") == expected
    with pytest.raises(AssertionError, match="called while"):
        run_predict(best, sentences, engine="eager")


def test_crf_decoding_equals_paddlenlp_viterbi():
    import paddle
    from paddlenlp.layers import ViterbiDecoder

    from tasks.engine.modeling import viterbi_decode

    rng = np.random.default_rng(0)
    emissions = rng.standard_normal((5, 9, 7)).astype("float32")
    transitions = rng.standard_normal((7, 7)).astype("float32")
    lengths = np.array([9, 1, 4, 7, 2])
    _, paths = ViterbiDecoder(paddle.to_tensor(transitions), with_start_stop_tag=False)(
        paddle.to_tensor(emissions), paddle.to_tensor(lengths))
    ours = viterbi_decode(emissions, lengths, transitions.astype("float64"))
    for row, n in enumerate(lengths):
        assert ours[row, :n].tolist() == paths.numpy()[row, :n].tolist()


def test_stale_export_is_not_used(trained, tmp_path):
    best = tmp_path / "best"
    shutil.copytree(trained["classification"], best)
    (best / "head.pdparams").write_bytes((best / "head.pdparams").read_bytes() + b"\0")  # other weights
    task, model = checkpoint.load(trained["classification"])
    assert inference.open_runner(best, model, "auto").engine == "eager"
    with pytest.raises(TaskError, match="exported from other weights"):
        inference.open_runner(best, model, "paddle-inference")


def test_dual_tower_index_and_search(trained, tmp_path):
    from tasks.retrieval import build_index, search_lines

    corpus = tmp_path / "corpus.txt"
    texts = ["房间很干净，服务也很好", "早餐种类很多", "交通不方便，离地铁很远", "价格偏贵但是值得"]
    corpus.write_text("\n".join(texts) + "\n", encoding="utf-8")
    report = build_index(str(trained["dual_tower"]), str(corpus), str(tmp_path / "index"))
    assert report["texts"] == 4 and report["texts_per_s"] > 0
    result = search_lines(str(tmp_path / "index"), ["早餐种类很多"], "<stdin>", top_k=2,
                          rerank=str(trained["single_tower"]))
    hits = result[0]["hits"]
    assert len(hits) == 2 and all("rerank_score" in h for h in hits)
    plain = search_lines(str(tmp_path / "index"), ["早餐种类很多"], "<stdin>", top_k=4)[0]["hits"]
    assert plain[0]["text"] == "早餐种类很多" and plain[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert [h["score"] for h in plain] == sorted((h["score"] for h in plain), reverse=True)


def test_index_bad_inputs(trained, tmp_path):
    from tasks.retrieval import build_index, search_lines

    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="empty corpus"):
        build_index(str(trained["dual_tower"]), str(empty), str(tmp_path / "i0"))
    hole = tmp_path / "hole.txt"
    hole.write_text("第一行\n\n第三行\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"hole.txt:2: empty line"):
        build_index(str(trained["dual_tower"]), str(hole), str(tmp_path / "i1"))
    good = tmp_path / "good.txt"
    good.write_text("第一行\n第二行\n", encoding="utf-8")
    build_index(str(trained["dual_tower"]), str(good), str(tmp_path / "i2"))
    with pytest.raises(TaskError, match="whose weights differ"):
        search_lines(str(tmp_path / "i2"), ["查询"], "<stdin>", checkpoint=str(trained["single_tower"]))
    with pytest.raises(TaskError, match="not a checkpoint of task|checkpoint of task 'classification'"):
        build_index(str(trained["classification"]), str(good), str(tmp_path / "i3"))


def test_export_of_a_directory_that_is_not_a_checkpoint(tmp_path, capsys):
    assert cli(["export", "--checkpoint", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not a checkpoint" in err and "Traceback" not in err


def test_train_settings_are_the_flags_over_the_readme_recipe_over_the_dataclasses():
    from tasks import recipes
    from tasks.cli import train_settings

    recipe = recipes.get("ner", "readme")
    run, train, options = train_settings(parse_args(["train", "--task", "ner", "--out", "x"]))
    assert (run.model, run.max_length) == (recipe.model, recipe.max_length)
    assert train == recipe.train_config() and options == recipe.task_options()
    assert train.weight_decay == config.TrainConfig().weight_decay  # not in the recipe: the dataclass default
    args = parse_args(["train", "--task", "ner", "--out", "x", "--lr", "1e-3", "--no-crf", "--model", "tiny-bert",
                       "--max-length", "40"])
    run, train, options = train_settings(args)
    assert train.learning_rate == 1e-3 and train.epochs == recipe.train["epochs"] and not options.crf
    assert (run.model, run.max_length) == ("tiny-bert", 40)


def test_train_help_shows_the_task_recipes_values_and_other_tasks_options_are_errors(capsys):
    from tasks import recipes

    recipe = recipes.get("ner", "readme")
    with pytest.raises(SystemExit):
        cli(["train", "--help", "--task", "ner"])
    text = " ".join(capsys.readouterr().out.split())
    for flag, value in (("--model MODEL", recipe.model), ("--lr LEARNING_RATE", recipe.train["learning_rate"]),
                        ("--train-layers TRAIN_LAYERS", recipe.train["train_layers"]),
                        ("--budget-minutes BUDGET_MINUTES", recipe.train["budget_minutes"])):
        help_text = text[text.index(flag, text.index("options:")):][:400]  # past the usage lines
        assert f"(default: {value}, the task's README recipe)" in help_text, (flag, help_text)
    assert "--crf, --no-crf" in text and "(default: on, the task's README recipe)" in text
    assert "--pooling" not in text and "--joint-layers" not in text  # other tasks' options are not flags here
    assert cli(["train", "--task", "classification", "--crf", "--out", "x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --crf is an option of --task ner; --task classification does not take it")
    assert cli(["train", "--task", "ner", "--joint-layers", "1", "--out", "x"]) == 2
    assert "--joint-layers is an option of --task single_tower" in capsys.readouterr().err


def test_no_task_name_branches_in_the_shared_commands(repo_root):
    """bench, predict, evaluate and export never ask which task they have."""
    names = set(TASKS)
    for module in ("tasks/tools/bench.py", "tasks/engine/runner.py", "tasks/engine/inference.py", "tasks/cli.py"):
        tree = ast.parse((repo_root / module).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Compare, ast.If, ast.IfExp)):
                constants = {c.value for c in ast.walk(node) if isinstance(c, ast.Constant)}
                assert not constants & names, f"{module}:{node.lineno} branches on a task name"


def test_every_user_error_shares_one_base():
    from tasks import models
    from tasks.data import datasets
    from tasks.models import offline_encoder

    for error in (TaskError, DataError, datasets.OfflineError, models.ModelError, offline_encoder.SourceError):
        assert issubclass(error, CourseError)


def test_commands_print_no_paddle_startup_warning(repo_root, tmp_path):
    for args in (["--help"], ["train", "--task", "classification", "--model", "tiny-bert", "--out", str(tmp_path / "r"),
                              "--max-steps", "1", "--limit-train", "8", "--limit-dev", "8", "--limit-test", "8",
                              "--no-progress"]):
        proc = subprocess.run([sys.executable, "-m", "tasks", *args], cwd=repo_root, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "OMP_NUM_THREADS" not in proc.stderr and "PLEASE USE" not in proc.stderr


def test_predictions_print_class_names(trained, capsys, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("房间很干净\n", encoding="utf-8")
    assert cli(["predict", "--checkpoint", str(trained["classification"]), "--input", str(src)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.split("\t")[0] in ("负面 negative", "正面 positive")
