"""The training engine on tiny random models and small slices of the real offline data."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tasks.cli import main as cli
from tasks.engine.runner import load_checkpoint, load_split, run_evaluate, run_predict, run_train
from tasks.errors import TaskError
from tasks.io import existing_dir
from tasks.engine.trainer import TrainConfig

pytestmark = pytest.mark.usefixtures("offline_data", "encoder_dir")
SMALL = {"train": 256, "dev": 64, "test": 64}


def read_log(run_dir):
    import csv

    with (run_dir / "log.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def classification_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cls")
    config = TrainConfig(max_steps=60, batch_size=16, learning_rate=3e-3, warmup=0.25, eval_every=15, progress=False)
    results = run_train("classification", "tiny-bert", "offline", out, config, max_length=64, limits=SMALL)
    return out, results


def test_classification_loss_goes_down_and_warmup_schedule(classification_run):
    out, results = classification_run
    rows = read_log(out)
    losses = [float(r["loss"]) for r in rows]
    assert len(losses) == 60
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.15
    lrs = [float(r["lr"]) for r in rows]
    peak = int(np.argmax(lrs))
    assert lrs[0] == 0.0 and peak == 15  # 25% of 60 steps warm up linearly from 0 ...
    assert lrs[peak] == pytest.approx(3e-3)
    assert all(a < b for a, b in zip(lrs[:peak], lrs[1:peak + 1]))
    assert all(a > b for a, b in zip(lrs[peak:], lrs[peak + 1:]))  # ... then decay linearly to 0
    assert lrs[-1] == pytest.approx(3e-3 / 45)
    assert results["metric_name"] == "accuracy" and results["metric"] == results["test"]["accuracy"]
    assert {"accuracy", "macro_f1"} <= set(results["test"])
    # the reported test accuracy is the saved best checkpoint's, scored again from disk
    task, model = load_checkpoint(out / "best")
    test = task.encode_all(load_split(type(task), "offline", "test", SMALL["test"], seed=42))  # the run's subset
    assert task.evaluate(model, test)["accuracy"] == pytest.approx(results["metric"])
    for png in ("curves.png", "confusion.png"):
        assert (out / png).stat().st_size > 5000


def test_reload_gives_identical_predictions(classification_run):
    out, _ = classification_run
    texts = ["这家酒店的服务很好，房间干净。", "质量太差了，再也不会买。", "一般般吧"]
    first = run_predict(str(out / "best"), texts)
    task, model = load_checkpoint(out / "best")
    again = task.predict(model, [{"text": t} for t in texts])
    assert [r["label"] for r in first] == [r["label"] for r in again]
    assert [r["probability"] for r in first] == [r["probability"] for r in again]
    evaluated = run_evaluate(str(out / "best"), "offline", "test", limit=SMALL["test"])
    evaluated_again = run_evaluate(str(out / "best"), "offline", "test", limit=SMALL["test"])
    assert evaluated["accuracy"] == evaluated_again["accuracy"]


def test_training_is_deterministic(tmp_path):
    config = dict(max_steps=6, batch_size=8, eval_every=3, progress=False)
    a = run_train("classification", "tiny-ernie", "offline", tmp_path / "a", TrainConfig(**config), max_length=48,
                  limits={"train": 64, "dev": 32, "test": 32})
    b = run_train("classification", "tiny-ernie", "offline", tmp_path / "b", TrainConfig(**config), max_length=48,
                  limits={"train": 64, "dev": 32, "test": 32})
    assert [r["loss"] for r in read_log(tmp_path / "a")] == [r["loss"] for r in read_log(tmp_path / "b")]
    assert a["test"] == b["test"]


def test_ner_with_crf_trains_and_predicts_entities(tmp_path):
    config = TrainConfig(max_steps=30, batch_size=16, learning_rate=2e-3, eval_every=15, progress=False)
    results = run_train("ner", "tiny-bert", "offline", tmp_path, config, max_length=64, options={"crf": True},
                        limits=SMALL)
    losses = [float(r["loss"]) for r in read_log(tmp_path)]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert set(results["test"]) >= {"precision", "recall", "f1", "per_type"}
    task, model = load_checkpoint(tmp_path / "best")
    assert task.options.crf and model.crf.transitions.shape == [7, 7]
    report = results["crf_transitions"]
    assert report["labels"] == task.labels and np.allclose(report["matrix"], model.crf.transitions.numpy(), atol=1e-3)
    assert results["test"]["invalid_sequences"] >= 0
    out = run_predict(str(tmp_path / "best"), ["张三在北京大学工作。"])
    assert out[0]["text"] == "张三在北京大学工作。" and len(out[0]["tags"]) == 10
    for entity in out[0]["entities"]:
        assert out[0]["text"][entity["start"]:entity["end"]] == entity["text"]


def test_dual_tower_threshold_from_dev_and_retrieval(tmp_path):
    config = TrainConfig(max_steps=12, batch_size=16, eval_every=6, progress=False)
    results = run_train("dual_tower", "tiny-bert", "offline", tmp_path, config, max_length=48, limits=SMALL)
    test = results["test"]
    assert {"accuracy", "recall@1", "recall@10", "mrr", "threshold"} <= set(test)
    assert 0 <= test["recall@1"] <= test["recall@10"] <= 1
    _, model = load_checkpoint(tmp_path / "best")  # the threshold is saved with the model, fixed on dev
    assert float(model.scorer.threshold) == pytest.approx(test["threshold"])
    assert test["threshold"] == pytest.approx(results["dev"]["threshold_tuned_here"])
    scored = run_predict(str(tmp_path / "best"), ["今天天气很好\t今天天气不错"])
    # the score is the cosine of the two texts' embeddings, the label that cosine against the saved threshold
    task, _ = load_checkpoint(tmp_path / "best")
    u, v = task.embed_texts(model, ["今天天气很好", "今天天气不错"])
    assert scored[0]["score"] == pytest.approx(float(u @ v), abs=1e-4)
    assert (scored[0]["label"] == task.labels[task.positive]) == (float(u @ v) >= test["threshold"])


def test_single_tower_trains(tmp_path):
    config = TrainConfig(max_steps=8, batch_size=16, eval_every=4, progress=False)
    results = run_train("single_tower", "tiny-ernie", "offline", tmp_path, config, max_length=64, limits=SMALL)
    assert results["metric_name"] == "accuracy" and results["train_examples"] == SMALL["train"]
    out = run_predict(str(tmp_path / "best"), ["房间很大\t服务很好"])
    # the score is the model's match probability for [CLS] a [SEP] b [SEP], the label its argmax
    import paddle
    import paddle.nn.functional as F

    task, model = load_checkpoint(tmp_path / "best")
    feature = task.encode({"text_a": "房间很大", "text_b": "服务很好"}, with_label=False)
    probs = F.softmax(model(paddle.to_tensor([feature["input_ids"]]), paddle.to_tensor([feature["token_type_ids"]])))
    match = float(probs[0, task.positive])
    assert out[0]["score"] == pytest.approx(match, abs=1e-4)
    assert out[0]["label"] == task.labels[int(probs.argmax(-1)[0])]


# --- bad input -------------------------------------------------------------
def test_predict_with_checkpoint_of_another_task(classification_run):
    out, _ = classification_run
    with pytest.raises(TaskError, match="checkpoint of task 'classification', not 'ner'"):
        run_predict(str(out / "best"), ["张三"], task_name="ner")


def test_empty_input_line_names_the_line(classification_run, capsys):
    out, _ = classification_run
    with pytest.raises(TaskError, match=r"<stdin>:2: empty line"):
        run_predict(str(out / "best"), ["很好", "   ", "不好"])


def test_label_file_that_disagrees(classification_run, tmp_path):
    out, _ = classification_run
    labels = tmp_path / "labels.txt"
    labels.write_text("neg\npos\n", encoding="utf-8")
    with pytest.raises(TaskError, match="checkpoint was trained with"):
        run_predict(str(out / "best"), ["很好"], labels_file=str(labels))


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(TaskError, match="does not exist"):
        run_predict(str(tmp_path / "nope"), ["很好"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(TaskError, match="not a checkpoint"):
        run_predict(str(tmp_path / "empty"), ["很好"])


def test_long_text_is_truncated_and_reported_once(classification_run, caplog):
    out, _ = classification_run
    with caplog.at_level("WARNING", logger="tasks"):
        result = run_predict(str(out / "best"), ["很好" * 400, "不好" * 400, "一般"])
    assert len(result) == 3
    warnings = [r.message for r in caplog.records if "truncated" in r.getMessage()]
    assert len(warnings) == 1 and "2 of 3" in caplog.records[-1].getMessage()


def test_resume_errors(tmp_path, capsys):
    args = ["train", "--task", "classification", "--model", "tiny-bert", "--out", str(tmp_path), "--max-steps", "4",
            "--limit-train", "32", "--limit-dev", "16", "--limit-test", "16", "--no-progress"]
    assert cli(args + ["--resume"]) == 2
    assert "no resume point" in capsys.readouterr().err
    assert cli(args + ["--eval-every", "2"]) == 0
    assert cli(args + ["--resume", "--batch-size", "8"]) == 2
    assert "batch_size=32, this run has 8" in capsys.readouterr().err
    assert cli(args[:4] + ["tiny-ernie"] + args[5:] + ["--resume"]) == 2
    assert "model='tiny-bert'" in capsys.readouterr().err


def test_cli_errors_are_one_line(capsys):
    assert cli(["train", "--task", "classification", "--model", "no-such-model", "--out", "/tmp/x", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "'no-such-model'" in err and "e5-small-zh" in err and "Traceback" not in err


# --- SIGKILL and resume ----------------------------------------------------
def train_cmd(out, *extra):
    return [sys.executable, "-m", "tasks", "train", "--task", "classification", "--model", "tiny-bert",
            "--out", str(out), "--max-steps", "36", "--batch-size", "8", "--eval-every", "12", "--save-every", "4",
            "--limit-train", "160", "--limit-dev", "48", "--limit-test", "48", "--max-length", "48",
            "--no-progress", *extra]


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path, repo_root):
    env = dict(os.environ)
    full = subprocess.run(train_cmd(tmp_path / "full"), cwd=repo_root, env=env, capture_output=True, text=True)
    assert full.returncode == 0, full.stderr[-2000:]

    killed_dir = tmp_path / "killed"
    proc = subprocess.Popen(train_cmd(killed_dir), cwd=repo_root, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    state_file = killed_dir / "last" / "trainer_state.json"
    deadline = time.time() + 240
    while time.time() < deadline:
        try:
            if json.loads(state_file.read_text())["state"]["step"] >= 16:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # a kill between replace_dir's two renames leaves last.old only; --resume reads that one too
    killed_at = json.loads((existing_dir(killed_dir / "last") / "trainer_state.json").read_text())["state"]["step"]
    assert 16 <= killed_at < 36, "the run must be killed mid-training"

    resumed = subprocess.run(train_cmd(killed_dir, "--resume"), cwd=repo_root, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a = json.loads((tmp_path / "full" / "results.json").read_text())
    b = json.loads((killed_dir / "results.json").read_text())
    assert b["steps"] == a["steps"] == 36
    assert b["best_dev"] == a["best_dev"] and b["best_step"] == a["best_step"]
    assert b["test"] == a["test"]
    assert [r["loss"] for r in read_log(killed_dir)] == [r["loss"] for r in read_log(tmp_path / "full")]


# --- the course's real dataset formats, given as local paths ---------------
@pytest.mark.parametrize("task,folder", [("classification", "chnsenticorp"), ("single_tower", "lcqmc"),
                                         ("dual_tower", "lcqmc"), ("ner", "msra_ner")])
def test_each_task_trains_on_local_files_in_the_course_formats(task, folder, repo_root, tmp_path):
    data = repo_root / "tests" / "fixtures" / "data" / folder
    config = TrainConfig(max_steps=2, batch_size=4, eval_every=1, progress=False)
    results = run_train(task, "tiny-bert", str(data), tmp_path, config, max_length=32)
    assert results["data"] == str(data) and results["train_examples"] >= 2
    # the test metric is the best checkpoint's on the fixture's test file, and evaluating it again agrees
    evaluated = run_evaluate(str(tmp_path / "best"), str(data), "test", engine="eager")
    assert evaluated["examples"] == results["test_examples"] >= 2
    assert evaluated[results["metric_name"]] == pytest.approx(results["metric"])


def test_visualdl_log_has_the_csv_scalars(tmp_path):
    from visualdl import LogReader

    config = TrainConfig(max_steps=4, batch_size=8, eval_every=2, progress=False, visualdl=True)
    run_train("classification", "tiny-bert", "offline", tmp_path, config, max_length=32,
              limits={"train": 32, "dev": 16, "test": 16})
    files = list((tmp_path / "visualdl").glob("vdlrecords.*"))
    assert len(files) == 1
    reader = LogReader(file_path=str(files[0]))
    losses = [(r.id, round(r.value, 4)) for r in reader.get_data("scalar", "train/loss")]
    rows = read_log(tmp_path)
    assert losses == [(int(r["step"]), round(float(r["loss"]), 4)) for r in rows]
    dev = [r.id for r in reader.get_data("scalar", "dev/accuracy")]
    assert dev == [2, 4]
