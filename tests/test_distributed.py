"""Data-parallel training on 2 CPU processes (paddle.distributed.launch, gloo) matches one process
with the same global batch: with dropout off, the same loss at every step and the same metrics."""
import csv
import json
import subprocess
import sys

import pytest

ARGS = ["train", "--task", "classification", "--model", "tiny-bert", "--limit-train", "256", "--limit-dev", "64",
        "--limit-test", "64", "--max-steps", "8", "--batch-size", "16", "--eval-every", "4", "--max-length", "48",
        "--train-layers", "0", "--no-progress", "--dropout", "0", "--cache-dir", ""]
TOLERANCE = 1e-4  # float sums in another order: the losses agree to about 1e-6


def losses(folder):
    with (folder / "log.csv").open(encoding="utf-8") as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


def test_two_processes_train_like_one(tmp_path, repo_root):
    for name, extra in (("one", []), ("two", ["--nproc", "2"])):
        proc = subprocess.run([sys.executable, "-m", "tasks", *ARGS, "--out", str(tmp_path / name), *extra],
                              cwd=repo_root, capture_output=True, text=True, timeout=280)
        assert proc.returncode == 0, proc.stderr[-3000:]
    one, two = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert len(one) == len(two) == 8  # rank 0 alone wrote the log
    assert max(abs(a - b) for a, b in zip(one, two)) < TOLERANCE, (one, two)
    r1, r2 = (json.loads((tmp_path / n / "results.json").read_text()) for n in ("one", "two"))
    assert r1["best_dev"] == pytest.approx(r2["best_dev"], abs=TOLERANCE)
    assert r1["metric"] == pytest.approx(r2["metric"], abs=TOLERANCE)
    assert (tmp_path / "two" / "launch-logs" / "workerlog.1").is_file()
    # --resume on 2 processes: both load rank 0's resume point (here: the finished run, nothing left to do)
    proc = subprocess.run([sys.executable, "-m", "tasks", *ARGS, "--out", str(tmp_path / "two"), "--nproc", "2",
                           "--resume"], cwd=repo_root, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert losses(tmp_path / "two") == two
    assert json.loads((tmp_path / "two" / "results.json").read_text())["metric"] == pytest.approx(r2["metric"])
