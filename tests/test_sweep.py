"""The recipe sweep records runs and marks the best dev metric per budget; the baseline fits a
logistic regression on the frozen encoder's features."""
import json

from tasks import recipes
from tasks.tools import sweep
from tasks.config import TrainConfig
from tasks.engine.runner import run_train

LIMITS = {"train": 48, "dev": 24, "test": 24}


def test_a_recorded_run_lands_in_the_table(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "RECORD", tmp_path / "recipes.json")
    monkeypatch.setattr(sweep, "TABLE", tmp_path / "recipes.md")
    for name, lr in (("slow", 1e-5), ("fast", 1e-3)):
        config = TrainConfig(max_steps=4, batch_size=8, eval_every=2, learning_rate=lr, progress=False)
        run_train("classification", "tiny-bert", "offline", tmp_path / name, config, max_length=32, limits=LIMITS)
        sweep.add_run(tmp_path / name)
    rows = json.loads((tmp_path / "recipes.json").read_text())
    assert [r["candidate"] for r in rows] == ["slow", "fast"]
    assert {r["settings"]["learning_rate"] for r in rows} == {1e-5, 1e-3}
    best = max(rows, key=lambda r: r["dev"])
    table = (tmp_path / "recipes.md").read_text()
    assert "## classification" in table and f"**{best['dev']:.4f}**" in table
    sweep.add_run(tmp_path / "fast")  # recording the same run again replaces its row
    assert len(json.loads((tmp_path / "recipes.json").read_text())) == 2


def test_candidates_change_one_setting_of_the_readme_recipe():
    readme = recipes.get("ner", "readme")
    found = recipes.candidates("ner")
    assert found["readme"] == readme and "demo" in found
    assert found["readme-lr1e-4"].train["learning_rate"] == 1e-4
    assert found["readme-len64"].max_length == 64 and found["readme-len64"].train == readme.train


def test_baseline_fits_on_frozen_features(tmp_path):
    from tasks.baselines import C_GRID, frozen_features_baseline

    result = frozen_features_baseline("classification", "tiny-bert", limits={"train": 96, "dev": 32, "test": 32},
                                      max_length=32, progress=False, cache_dir=str(tmp_path))
    assert result["C"] in C_GRID and result["train_examples"] == 96
    # C is the grid value with the best dev accuracy, and the test accuracy is a count of the 32 test rows
    assert result["dev_accuracy"] == max(result["dev_by_C"].values()) == result["dev_by_C"][str(result["C"])]
    assert abs(result["test_accuracy"] * 32 - round(result["test_accuracy"] * 32)) < 0.01  # (rounded to 4 digits)
