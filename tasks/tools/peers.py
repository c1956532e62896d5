"""This engine against its peers, same model, same data, same run: `python -m tasks.tools bench-peers`.

Three ways to fine-tune the offline encoder (the 12-layer e5-small-zh as a BERT) for sentiment
classification on the offline data, each in a fresh process, one after another:

  engine      this package's README recipe (`train --task classification`: top layers trained
              over the cached frozen bottom)
  paddlenlp   PaddleNLP's reference example loop (examples/text_classification): every layer
              fine-tuned, AutoModelForSequenceClassification, DataCollatorWithPadding,
              DataLoader + BatchSampler, LinearDecayWithWarmup, AdamW without decay on bias and
              norm, evaluation every N steps
  hf-torch    Hugging Face transformers + PyTorch (CPU) with the same weights converted to
              BertForSequenceClassification, AdamW + get_linear_schedule_with_warmup; runs in
              its own virtualenv (requirements-bench.txt), never a dependency of the package

Each evaluates on the same fixed dev subset every ``eval_every`` steps and stops at the target
dev accuracy or after ``minutes``. Reported: training tokens/s and the training wall time to
reach the target (evaluation time excluded for everyone), written to benchmarks/peers.json.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from tasks.io import REPO_ROOT

BENCH_PYTHON = REPO_ROOT / ".venv-bench" / "bin" / "python"
DEV_SUBSET = 600
MAX_LENGTH = 128
BATCH = 32
LR = 5e-5  # full fine-tuning rate of PaddleNLP's and HF's classification examples
EVAL_EVERY = 25


def prepare(folder: Path) -> dict:
    """Token ids of train and the dev subset (the engine's own tokenisation), and the encoder's
    weights under Hugging Face BertModel names."""
    import paddle

    from tasks.engine.runner import labels_for, load_split, task_class

    cls = task_class("classification")
    splits = {"train": load_split(cls, "offline", "train"), "dev": load_split(cls, "offline", "dev", DEV_SUBSET, 42)}
    labels, _ = labels_for(cls, splits["train"])
    task = cls("e5-small-zh", labels, MAX_LENGTH)
    arrays = {}
    for split, examples in splits.items():
        features = task.encode_all(examples)
        arrays[f"{split}_ids"] = np.concatenate([f["input_ids"] for f in features]).astype(np.int64)
        arrays[f"{split}_offsets"] = np.cumsum([0] + [len(f["input_ids"]) for f in features]).astype(np.int64)
        arrays[f"{split}_labels"] = np.array([f["label"] for f in features], dtype=np.int64)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "data.npz", **arrays)
    model_dir = REPO_ROOT / "data" / "models" / "e5-small-zh"
    state = paddle.load(str(model_dir / "model_state.pdparams"))
    np.savez(folder / "hf_weights.npz", **hf_state(state))
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return {"train_examples": len(arrays["train_labels"]), "dev_examples": len(arrays["dev_labels"]),
            "pad_id": task.pad_id}


def hf_state(state: dict) -> dict:
    """Paddle BertModel names and [in, out] Linear weights -> HF BertModel names and [out, in]."""
    out = {}
    names = {"self_attn.q_proj": "attention.self.query", "self_attn.k_proj": "attention.self.key",
             "self_attn.v_proj": "attention.self.value", "self_attn.out_proj": "attention.output.dense",
             "linear1": "intermediate.dense", "linear2": "output.dense",
             "norm1": "attention.output.LayerNorm", "norm2": "output.LayerNorm"}
    for key, value in state.items():
        array = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
        if key.startswith("embeddings."):
            out["bert." + key.replace("layer_norm", "LayerNorm")] = array
        elif key.startswith("encoder.layers."):
            _, _, index, rest = key.split(".", 3)
            module, kind = rest.rsplit(".", 1)
            is_linear = kind == "weight" and not module.startswith("norm")
            out[f"bert.encoder.layer.{index}.{names[module]}.{kind}"] = array.T if is_linear else array
        elif key.startswith("pooler."):
            out["bert." + key] = array.T if key.endswith("weight") else array
    return out


def batches(ids, offsets, labels, order, pad_id):
    for start in range(0, len(order), BATCH):
        rows = order[start:start + BATCH]
        width = max(offsets[i + 1] - offsets[i] for i in rows)
        batch = np.full((len(rows), width), pad_id, dtype=np.int64)
        for j, i in enumerate(rows):
            batch[j, :offsets[i + 1] - offsets[i]] = ids[offsets[i]:offsets[i + 1]]
        yield batch, labels[rows]


class Clock:
    """Training wall time with the evaluations left out; the target check after each evaluation."""

    def __init__(self, target: float, minutes: float):
        self.target, self.limit = target, minutes * 60
        self.train_s, self.tokens, self.history = 0.0, 0, []
        self.reached_s = None

    def record(self, step: int, accuracy: float) -> bool:
        self.history.append({"step": step, "train_s": round(self.train_s, 1), "dev_accuracy": round(accuracy, 4)})
        print(json.dumps(self.history[-1]), flush=True)
        if self.reached_s is None and accuracy >= self.target:
            self.reached_s = self.train_s
        return self.reached_s is not None or self.train_s >= self.limit

    def result(self) -> dict:
        return {"train_seconds_to_target": None if self.reached_s is None else round(self.reached_s, 1),
                "reached": self.reached_s is not None, "train_seconds": round(self.train_s, 1),
                "tokens_per_s": round(self.tokens / max(self.train_s, 1e-9), 1), "history": self.history}


def run_paddlenlp_reference(folder: Path, target: float, minutes: float) -> dict:
    """PaddleNLP's text-classification example loop, as written there."""
    import paddle
    import paddle.nn.functional as F
    from paddlenlp.data import DataCollatorWithPadding
    from paddlenlp.transformers import AutoModelForSequenceClassification, LinearDecayWithWarmup

    data = np.load(folder / "data.npz")
    pad_id = json.loads((folder / "config.json").read_text())["pad_token_id"]
    paddle.seed(42)
    model = AutoModelForSequenceClassification.from_pretrained(str(REPO_ROOT / "data/models/e5-small-zh"),
                                                               num_classes=2)

    def examples(split):
        ids, offsets, labels = data[f"{split}_ids"], data[f"{split}_offsets"], data[f"{split}_labels"]
        return [{"input_ids": ids[offsets[i]:offsets[i + 1]].tolist(),
                 "token_type_ids": [0] * int(offsets[i + 1] - offsets[i]), "labels": int(labels[i])}
                for i in range(len(labels))]

    from paddlenlp.datasets import MapDataset
    from paddlenlp.transformers import AutoTokenizer

    train_ds, dev_ds = MapDataset(examples("train")), MapDataset(examples("dev"))
    collate = DataCollatorWithPadding(AutoTokenizer.from_pretrained(str(REPO_ROOT / "data/models/e5-small-zh")))
    sampler = paddle.io.BatchSampler(train_ds, batch_size=BATCH, shuffle=True)
    loader = paddle.io.DataLoader(train_ds, batch_sampler=sampler, collate_fn=collate)
    dev_loader = paddle.io.DataLoader(dev_ds, batch_sampler=paddle.io.BatchSampler(dev_ds, batch_size=64),
                                      collate_fn=collate)
    total = len(loader)
    schedule = LinearDecayWithWarmup(LR, total, 0.1)
    decay = [p.name for n, p in model.named_parameters() if not any(nd in n for nd in ["bias", "norm"])]
    optimizer = paddle.optimizer.AdamW(learning_rate=schedule, parameters=model.parameters(), weight_decay=0.01,
                                       apply_decay_param_fun=lambda x: x in decay)
    clock = Clock(target, minutes)

    def evaluate():
        model.eval()
        correct = 0
        with paddle.no_grad():
            for batch in dev_loader:
                logits = model(batch["input_ids"], batch["token_type_ids"])
                correct += int((logits.argmax(-1) == batch["labels"]).sum())
        model.train()
        return correct / len(dev_ds)

    model.train()
    step = 0
    for batch in loader:
        started = time.perf_counter()
        logits = model(batch["input_ids"], batch["token_type_ids"])
        loss = F.cross_entropy(logits, batch["labels"])
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.clear_grad()
        float(loss)
        clock.train_s += time.perf_counter() - started
        clock.tokens += int((batch["input_ids"] != pad_id).sum())
        step += 1
        if step % EVAL_EVERY == 0 and clock.record(step, evaluate()):
            break
    return clock.result()


def run_engine(folder: Path, target: float, minutes: float) -> dict:
    """The README recipe through the package's own trainer; times read from its log.csv."""
    import csv
    import dataclasses

    from tasks import recipes

    recipe = recipes.get("classification", "readme")
    recipe = dataclasses.replace(recipe, limits={"dev": DEV_SUBSET},
                                 train=recipe.train | {"eval_every": EVAL_EVERY, "progress": False,
                                                       "stop_at": target, "cache_dir": ""})
    out = folder / "engine-run"
    results = recipe.run_train(out, overwrite=True)
    clock = Clock(target, minutes)
    with (out / "log.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["eval_value"]:
                clock.train_s = float(row["elapsed_s"]) - float(row["eval_s"])
                clock.record(int(row["step"]), float(row["eval_value"]))
    result = clock.result()
    steps = results["steps"]
    result["tokens_per_s"] = None  # the engine trains 2 of 12 layers: its token rate is not comparable
    result["note"] = (f"{steps} steps, frozen prefix computed once (included in the time); "
                      f"test accuracy {results['metric']:.4f}")
    return result


def run_peer(name: str, folder: Path, target: float, minutes: float) -> dict:
    """One peer in a fresh process (the HF one with the bench virtualenv's Python)."""
    if name == "hf-torch":
        if not BENCH_PYTHON.is_file():
            return {"skipped": f"{BENCH_PYTHON} missing: python -m venv .venv-bench && "
                               ".venv-bench/bin/pip install -r requirements-bench.txt"}
        command = [str(BENCH_PYTHON), str(REPO_ROOT / "tasks" / "tools" / "hf_peer.py"), str(folder), str(target), str(minutes),
                   str(BATCH), str(LR), str(EVAL_EVERY)]
    else:
        command = [sys.executable, "-m", "tasks.tools.peers", name, str(folder), str(target), str(minutes)]
    started = time.time()
    proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, env=os.environ.copy())
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_seconds"] = round(time.time() - started, 1)
    return result


def run(out: Path, target: float = 0.80, minutes: float = 15.0, peers=("engine", "paddlenlp", "hf-torch")) -> dict:
    from tasks.cpu import apply_cpu_settings

    settings = apply_cpu_settings()
    folder = REPO_ROOT / "runs" / "bench-peers"
    info = prepare(folder)
    results = {"task": "classification (offline sentiment)", "model": "e5-small-zh (12 layers)",
               "target_dev_accuracy": target, "dev_subset": DEV_SUBSET, "max_minutes": minutes,
               "batch_size": BATCH, "max_length": MAX_LENGTH, "peer_learning_rate": LR, "eval_every": EVAL_EVERY,
               "cpu_settings": settings, **info, "runs": {}}
    for name in peers:
        print(f"=== {name} ===", flush=True)
        results["runs"][name] = run_peer(name, folder, target, minutes)
    engine = results["runs"].get("engine", {}).get("train_seconds_to_target")
    for name in peers:
        if name == "engine":
            continue
        peer = results["runs"][name]
        if engine and peer.get("train_seconds_to_target"):
            results[f"speedup_vs_{name}"] = round(peer["train_seconds_to_target"] / engine, 2)
        elif engine and peer.get("train_seconds"):  # the peer never reached the target: a lower bound
            results[f"speedup_vs_{name}"] = f">= {peer['train_seconds'] / engine:.2f} (target not reached)"
    from tasks.io import write_json

    write_json(out, results)
    return results


if __name__ == "__main__":  # one peer, in its own process
    name, folder, target, minutes = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    from tasks.cpu import quiet_logs

    quiet_logs(False)
    runner = {"paddlenlp": run_paddlenlp_reference, "engine": run_engine}[name]
    print(json.dumps(runner(folder, target, minutes)))
