"""The demo's output contract and the benchmark's JSON, in their quick / tiny forms."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tasks import cpu, recipes
from tasks.tools.bench import measure

pytestmark = pytest.mark.usefixtures("offline_data", "encoder_dir")


def test_quick_demo_prints_table_and_ends_with_results_path(tmp_path, repo_root):
    proc = subprocess.run([sys.executable, "-m", "tasks", "demo", "--quick", "--out", str(tmp_path / "demo")],
                          cwd=repo_root, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last == str(tmp_path / "demo" / "results.json")
    rows = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert [r["task"] for r in rows] == ["classification", "ner", "single_tower", "dual_tower"]
    for row in rows:
        assert set(row) == {"task", "model", "train_examples", "minutes", "metric_name", "metric"}
        # the table's metric is the task's own results.json test metric, and each run took the quick plan
        results = json.loads((tmp_path / "demo" / row["task"] / "results.json").read_text())
        assert row["metric"] == results["metric"] == results["test"][results["metric_name"]]
        assert results["steps"] == results["plan"]["steps"] == recipes.get(row["task"], "quick").train["max_steps"]
    assert "| task | model |" in proc.stdout
    for task in ("classification", "ner", "single_tower", "dual_tower"):
        assert (tmp_path / "demo" / task / "curves.png").is_file()
    assert "recall@1" in (tmp_path / "demo" / "results.md").read_text()


@pytest.mark.parametrize("task", ["classification", "ner", "single_tower", "dual_tower"])
def test_bench_measures_every_task(task):
    result = measure({"task": task, "recipe": "quick", "train_steps": 2, "batch_size": 8, "max_length": 48,
                      "infer_examples": 32, "retrieval_sizes": "500,2000"})
    # the quick recipe's settings are what was measured: its model, options and one trained layer over
    # a cached frozen prefix; tokens are counted from every text the model encodes (a_ids / b_ids too)
    assert result["recipe"]["model"] == "tiny-bert" and result["recipe"]["train_layers"] == 1
    assert result["recipe"]["options"] == recipes.get(task, "quick").options
    assert result["train"]["trained_layers"] == 1 and result["train"]["frozen_prefix_seconds"] is not None
    assert result["train"]["examples_per_s"] > 0
    assert result["train"]["tokens_per_s"] > 5 * result["train"]["examples_per_s"]
    engines = result["inference"]
    assert set(engines) == {"eager", "paddle-inference", "onnx"}
    for name, numbers in engines.items():
        assert numbers["examples_per_s"] > 0 and numbers["peak_rss_mb_after"] > 0, name
        if name != "eager":
            assert numbers["max_abs_diff"] <= 1e-4 and numbers["integer_outputs_identical"], name
    assert ("retrieval" in result) == (task == "dual_tower")
    if task == "dual_tower":
        for size in ("500", "2000"):
            assert result["retrieval"]["by_candidates"][size]["ms_per_query"] > 0


def test_cpu_settings_respect_the_user(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert cpu.tuned_env()["OMP_NUM_THREADS"] == str(cpu.physical_cores())
    monkeypatch.delitem(sys.modules, "paddle", raising=False)  # pretend paddle is not imported yet
    applied = cpu.apply_cpu_settings()
    assert applied["OMP_NUM_THREADS"] == "1"  # the user's value wins
    assert ("MKL_DEBUG_CPU_TYPE" in cpu.tuned_env()) == cpu.is_amd_cpu()


MATMUL = """import tasks, numpy as np, paddle
rng = np.random.default_rng(0)
x, w = (paddle.to_tensor(rng.standard_normal(shape).astype("float32")) for shape in ((64, 384), (384, 1536)))
print(paddle.matmul(x, w).numpy().tobytes().hex())"""


def matmul_bits(**env) -> str:
    run_env = {k: v for k, v in os.environ.items() if k not in cpu.TUNED_ENV_KEYS} | env
    return subprocess.run([sys.executable, "-c", MATMUL], env=run_env, capture_output=True, text=True,
                          check=True, cwd=Path(__file__).resolve().parent.parent).stdout.strip()


def test_matmuls_round_as_on_an_avx2_cpu():
    """The same seed, the same metric on any machine: this CPU's matmuls under the package's settings give the
    bits of MKL's AVX2 path, the one AMD CPUs and AVX2 laptops take (emulated by MKL_ENABLE_INSTRUCTIONS)."""
    ours = matmul_bits()
    assert ours == matmul_bits(MKL_ENABLE_INSTRUCTIONS="AVX2")
    if not cpu.is_amd_cpu() and "avx512f" in cpu.cpu_flags():  # here MKL's own choice would differ
        assert ours != matmul_bits(MKL_CBWR="AUTO")
