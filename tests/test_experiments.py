"""`python -m tasks experiment`: each experiment runs in quick mode, compares at equal steps over
several seeds, and writes its table, figure and results."""
import csv
import json
import subprocess
import sys

import pytest

from tasks import experiments
from tasks.experiments import towers

pytestmark = pytest.mark.usefixtures("offline_data", "encoder_dir")


def test_list_names_the_experiments(repo_root):
    proc = subprocess.run([sys.executable, "-m", "tasks", "experiment", "--list"], cwd=repo_root,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [line.split()[0] for line in proc.stdout.strip().splitlines()] == experiments.names()
    proc = subprocess.run([sys.executable, "-m", "tasks", "experiment", "no-such"], cwd=repo_root,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "expected one of crf_softmax" in proc.stderr


def read(out):
    result = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert (out / "figure.png").stat().st_size > 10_000
    assert result["table"] in (out / "results.md").read_text(encoding="utf-8")
    return result


def test_crf_softmax_trains_both_heads_for_the_same_steps_on_every_seed(tmp_path):
    out = experiments.run_experiment("crf_softmax", quick=True, out=tmp_path)
    result = read(out.parent)
    rows = result["rows"]
    assert [(r["head"], r["seed"]) for r in rows] == [(h, s) for s in result["seeds"] for h in ("softmax", "CRF")]
    assert len(result["seeds"]) >= 2 and len({r["steps"] for r in rows}) == 1
    f1 = [r["f1"] for r in rows if r["head"] == "CRF"]
    assert result["summary"]["CRF"]["f1"]["mean"] == pytest.approx(sum(f1) / len(f1), abs=1e-4)
    assert result["summary"]["transitions"]["mean_illegal"] == pytest.approx(
        json.loads((tmp_path / "runs" / f"CRF-seed{result['seeds'][0]}" / "results.json").read_text())
        ["crf_transitions"]["mean_illegal"])
    assert f"{result['summary']['crf_minus_softmax_f1']['mean']:+.4f}" in result["conclusion"]


def test_warmup_changes_only_the_warmup(tmp_path):
    out = experiments.run_experiment("warmup", quick=True, out=tmp_path)
    result = read(out.parent)
    rows = result["rows"]
    assert len(rows) == 2 * 2 * len(result["seeds"]) and len({r["steps"] for r in rows}) == 1
    for row in rows:
        folder = tmp_path / "runs" / f"lr{row['learning_rate']:g}-warmup{row['warmup']:g}-seed{row['seed']}"
        with (folder / "log.csv").open() as f:
            lrs = [float(r["lr"]) for r in csv.DictReader(f)]
        config = json.loads((folder / "results.json").read_text())["config"]
        assert config["warmup"] == row["warmup"] and config["learning_rate"] == row["learning_rate"]
        if row["warmup"] == 0:
            assert lrs[0] == pytest.approx(row["learning_rate"])  # the peak rate from the first step
        else:
            assert lrs[0] == 0.0 and max(lrs) == pytest.approx(row["learning_rate"])  # warms up from 0
    rates = {r["learning_rate"] for r in rows}
    assert max(rates) == pytest.approx(10 * min(rates))


def test_feature_mix_compares_frozen_layers_with_fine_tuning_on_three_tasks(tmp_path):
    out = experiments.run_experiment("feature_mix", quick=True, out=tmp_path)
    result = read(out.parent)
    assert set(result["per_task"]) == {"classification", "ner", "dual_tower"}
    for name, task in result["per_task"].items():
        rows = [r for r in result["rows"] if r["task"] == name]
        assert sorted({(r["method"], r["seed"]) for r in rows}) == sorted(
            (m, s) for m in ("top", "best", "mix", "finetune") for s in result["seeds"])
        assert {r["steps"] for r in rows} == {task["steps"]}  # heads and fine-tuning: equal steps
        assert task["head_lr_dev"][f"{task['head_lr']:g}"] == max(task["head_lr_dev"].values())  # chosen on dev
        assert task["probe_dev_by_layer"][task["best_layer"]] == max(task["probe_dev_by_layer"])
        assert len(task["mix_weights_mean"]) == task["layers"] and sum(task["mix_weights_mean"]) == pytest.approx(1, abs=1e-3)
        for seed in result["seeds"]:  # fine-tuning saw the heads' training examples
            tuned = json.loads((tmp_path / "runs" / f"{name}-finetune-seed{seed}" / "results.json").read_text())
            assert tuned["train_examples"] == task["examples"]["train"] and tuned["config"]["seed"] == seed


def test_towers_train_a_real_cross_encoder_and_the_dual_tower_for_the_same_steps(tmp_path):
    out = experiments.run_experiment("towers", quick=True, out=tmp_path)
    result = read(out.parent)
    rows = result["rows"]
    assert {(r["tower"], r["seed"]) for r in rows} == {(t, seed) for t in ("single", "dual") for seed in result["seeds"]}
    used = result["recipes"]
    assert used["single"]["options"]["joint_layers"] == 0  # one joint input through every layer
    assert used["single"]["max_length"] == 2 * used["dual"]["max_length"]  # the pair, and each text
    assert used["single"]["train"] == used["dual"]["train"] and len({r["steps"] for r in rows}) == 1
    first = json.loads((tmp_path / "runs" / f"halves-single-seed{result['seeds'][0]}" / "results.json").read_text())
    assert first["options"]["joint_layers"] == 0 and first["task"] == "single_tower"
    r = result["retrieval"]
    assert 0 <= r["dual"]["recall@1"] <= r["dual"]["recall@10"] <= 1
    assert 0 <= r["dual_then_single"]["recall@1"] <= r["dual_then_single"]["recall@10"] <= 1
    assert r["ms_per_query"]["single"] > 0 and r["ms_per_query"]["dual"] > 0
    assert f"{result['summary']['single_minus_dual']['mean']:+.4f}" in result["conclusion"]


def test_word_order_compares_the_towers_on_pairs_of_the_same_characters(tmp_path):
    from tasks.engine.checkpoint import task_class
    from tasks.engine.runner import load_split

    out = experiments.run_experiment("word_order", quick=True, out=tmp_path)
    result = read(out.parent)
    assert {(r["tower"], r["seed"]) for r in result["rows"]} == {
        (t, seed) for t in ("single", "dual") for seed in result["seeds"]}
    run = json.loads((tmp_path / "runs" / f"word_order-single-seed{result['seeds'][0]}" / "results.json").read_text())
    assert run["data"].endswith("matching_word_order")
    used = result["recipes"]  # the texts meet in every trained layer, tokens compared with their twins
    assert used["single"]["options"]["pooling"] == "align"
    assert used["single"]["options"]["joint_layers"] == used["single"]["train"]["train_layers"] >= 1
    assert used["single"]["train"] == used["dual"]["train"] and len({r["steps"] for r in result["rows"]}) == 1
    assert used["single"]["max_length"] == used["dual"]["max_length"]  # each text alone below the join
    test = load_split(task_class("dual_tower"), towers.SETS["word_order"][0], "test",
                      result["recipes"]["dual"]["limits"]["test"], result["seeds"][0])
    assert all(sorted(e["text_a"]) == sorted(e["text_b"]) for e in test)
    share = round(sum(e["label"] == "1" for e in test) / len(test), 4)
    assert result["baselines"]["overlap"] in (share, 1 - share)  # same characters: it can only guess one label
    assert set(result["baselines"]) == {"chance", "overlap", "changed_positions"}


def test_pretraining_compares_the_same_architecture_from_two_starts_at_equal_steps(tmp_path):
    out = experiments.run_experiment("pretraining", quick=True, out=tmp_path)
    result = read(out.parent)
    rows = result["rows"]
    for task in ("classification", "ner"):
        for size in result["sizes"]:
            at = [r for r in rows if r["task"] == task and r["size"] == size]
            assert sorted((r["init"], r["seed"]) for r in at) == sorted(
                [("ngram", 0)] + [(i, s) for i in ("pretrained", "scratch") for s in result["seeds"]])
            assert len({r["steps"] for r in at if r["init"] != "ngram"}) == 1  # equal steps at each size
            for r in at:
                if r["init"] == "ngram":
                    assert 0 <= r["metric"] <= 1
                    continue
                run = json.loads((tmp_path / "runs" / f"{task}-{size}-{r['init']}-seed{r['seed']}" / "results.json")
                                 .read_text())
                assert run["train_examples"] == size and run["config"]["seed"] == r["seed"]
                assert run["model"] == ("random:" if r["init"] == "scratch" else "") + result["model"]
                assert run["config"]["train_layers"] == 0  # every layer trains, from either start


def test_pretraining_vectors_trains_the_character_vectors_in_both_starts(tmp_path):
    from tasks.experiments import pretraining_vectors

    out = experiments.run_experiment("pretraining_vectors", quick=True, out=tmp_path)
    result = read(out.parent)
    rows = result["rows"]
    assert sorted((r["size"], r["init"], r["seed"]) for r in rows) == sorted(
        (size, init, seed) for size in result["sizes"] for init in ("pretrained", "scratch") for seed in result["seeds"])
    assert len({r["steps"] for r in rows}) == 1  # the same steps at every size
    for r in rows:
        run = json.loads((tmp_path / "runs" / f"ner-{r['size']}-{r['init']}-seed{r['seed']}" / "results.json").read_text())
        assert run["config"]["freeze_embeddings"] is False and run["train_examples"] == r["size"]
        assert run["config"]["learning_rate"] == pretraining_vectors.LEARNING_RATES[r["init"]]
    gap = result["summary"][str(result["sizes"][0])]["pretrained_minus_scratch"]["mean"]
    assert f"{gap:+.4f}" in result["conclusion"]


def test_runs_side_by_side_give_the_results_of_runs_one_after_another(tmp_path):
    """Default mode runs an experiment's runs in worker processes (one thread each): the same metrics, in the
    order of the list, as one after the other in this process."""
    import dataclasses

    from tasks import recipes

    recipe = recipes.get("classification", "quick")
    jobs = {mode: [experiments.Run(dataclasses.replace(recipe, train=recipe.train | {"seed": seed}),
                                   tmp_path / mode / f"seed{seed}", {"overwrite": True}) for seed in (3, 1, 2)]
            for mode in ("serial", "parallel")}
    serial = experiments.run_all(jobs["serial"], side_by_side=False)
    parallel = experiments.run_all(jobs["parallel"], side_by_side=True)
    assert [r["config"]["seed"] for r in parallel] == [3, 1, 2]
    assert [r["metric"] for r in parallel] == [r["metric"] for r in serial]
    assert [r["dev"] for r in parallel] == [r["dev"] for r in serial]
    assert all((tmp_path / "parallel" / f"seed{seed}" / "best").is_dir() for seed in (1, 2, 3))


def test_masking_continues_pretraining_three_ways_and_fine_tunes_each_result(tmp_path):
    from tasks.experiments import masking

    out = experiments.run_experiment("masking", quick=True, out=tmp_path)
    result = read(out.parent)
    assert set(result["pretrained"]) == {"char", "word", "entity"}
    for scheme, p in result["pretrained"].items():
        assert set(p["held_out_accuracy"]) == {"char", "word", "entity"}
        assert all(0 <= v <= 1 for v in p["held_out_accuracy"].values())
        assert (tmp_path / "models" / masking.model_name(scheme) / "config.json").is_file()
        for task in ("ner", "classification"):
            runs = [r for r in result["rows"] if (r["scheme"], r["task"]) == (scheme, task)]
            assert [r["seed"] for r in runs] == result["seeds"] and len({r["steps"] for r in runs}) == 1


def test_masking_units_are_whole_words_and_entities(encoder_dir):
    import numpy as np

    from tasks import recipes
    from tasks.engine.checkpoint import task_class
    from tasks.experiments import masking

    task = task_class("ner")("e5-small-zh", ["O"], 64, recipes.get("ner", "quick").task_options())
    text = {"chars": list("新华社记者在北京大学附属医院采访了患者"), "entities": [(0, 3), (6, 14)]}
    chars = masking.units(text, "char")
    words = masking.units(text, "word")
    entities = masking.units(text, "entity")
    assert len(chars) == len(text["chars"]) and all(b - a == 1 for a, b in chars)
    assert all(span in entities for span in text["entities"])  # an entity is one unit, however jieba cuts it
    assert (6, 14) not in words and (6, 10) in words and len(words) < len(chars)  # jieba: 北京大学/附属/医院
    feature = masking.encode(task, text, "entity")
    pieces = [p for u in feature["units"] for p in u]
    assert len(pieces) == len(set(pieces))  # every piece in one unit
    tokenizer = task.tokenizer
    rng = np.random.default_rng(0)
    ids, positions, originals = masking.mask(feature, rng, len(tokenizer), tokenizer.mask_token_id,
                                             set(tokenizer.all_special_ids))
    assert positions and [feature["input_ids"][p] for p in positions] == originals
    masked_units = [u for u in feature["units"] if set(u) & set(positions)]
    assert all(set(u) <= set(positions) for u in masked_units)  # whole units only
    assert abs(len(positions) - 0.15 * (len(ids) - 2)) <= max(len(u) for u in feature["units"])
