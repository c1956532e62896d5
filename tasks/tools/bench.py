"""Benchmark: training and inference throughput, eager vs exported engines, peak memory,
agreement of the engines' outputs, and (dual tower) retrieval latency.

`python -m tasks.tools bench` runs the measurement in fresh processes, once with Paddle's default CPU
settings and once with the package's tuned ones (they must be set before paddle is imported), and
writes both side by side as JSON. Nothing here asks which task it measures: every task's model is
trained with the trainer's own ``train_step`` over its frozen prefix, as the task's recipe says
(tasks/recipes.py: model, max length, options, trained layers), and run through the same runners
as `predict`.
"""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tasks.config import TASK_NAMES, setting
from tasks.cpu import TUNED_ENV_KEYS
from tasks.recipes import BUDGETS
from tasks.io import REPO_ROOT



@dataclass
class BenchSpec:
    task: str = setting("classification", "task to measure", choices=TASK_NAMES)
    recipe: str = setting("demo", "the recipe (tasks/recipes.py) whose model, max length, task options, batch "
                                  "size and trained layers are measured", choices=BUDGETS)
    model: str = setting(None, "another model than the recipe's")
    train_steps: int = setting(20, "timed training steps", minimum=1)
    batch_size: int = setting(None, "another training batch size than the recipe's", minimum=1)
    max_length: int = setting(None, "another max length than the recipe's", minimum=8)
    infer_examples: int = setting(512, "dev examples run through each inference engine", minimum=1)
    retrieval_sizes: str = setting("10000,100000", "dual_tower: candidate counts for the search latency")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def real_tokens(batch: dict, pad_id: int, model, inputs) -> int:
    """Non-padding tokens of every text the model encodes in ``batch`` (fields of ``inputs``)."""
    return int(sum(int((np.asarray(batch[ids]) != pad_id).sum()) for ids, _ in model.text_inputs
                   if ids in inputs and ids in batch))


def measure_training(task, model, features, config) -> dict:
    """``train_step`` (tasks/engine/trainer.py) timed over ``config.max_steps - 2`` steps, with the
    recipe's frozen prefix cached first (its caching time is reported apart)."""
    from tasks.engine.batching import make_loader
    from tasks.engine.frozen import freeze_for_training
    from tasks.engine.losses import WithLoss
    from tasks.engine.trainer import drop_attention_dropout, make_optimizer, train_step

    begun = time.perf_counter()
    prefix = freeze_for_training(model, config, features, cache=False)
    caching = time.perf_counter() - begun
    drop_attention_dropout(model)
    optimizer, schedule = make_optimizer(model, config, config.max_steps)
    trainable = WithLoss(model, task.build_loss(model))
    loader, _ = make_loader(features, task.collate_fn(), config.batch_size, shuffle=True)
    model.train()
    examples = tokens = 0
    started = None
    for step, batch in enumerate(loader):
        if step == 2:  # the first steps pay one-off allocation costs
            started = time.perf_counter()
        train_step(trainable, batch, optimizer, schedule)
        if step >= 2:
            examples += len(batch[model.train_inputs[0]])
            tokens += real_tokens(batch, task.pad_id, model, model.train_inputs)
        if step + 1 >= config.max_steps:
            break
    seconds = time.perf_counter() - started
    return {"examples_per_s": round(examples / seconds, 2), "tokens_per_s": round(tokens / seconds, 1),
            "steps_timed": config.max_steps - 2, "trained_layers": config.train_layers or len(model.layers),
            "frozen_prefix_seconds": round(caching, 2) if prefix else None,
            "peak_rss_mb_after": round(peak_rss_mb(), 1)}


def inference_batches(task, features, batch_size: int = 64) -> list[dict]:
    """The runner inputs of the dev features, length-sorted as evaluation batches them."""
    from tasks.engine.batching import iterate_in_order

    features, collate = task.inference_features(features)
    return [b for _, b in iterate_in_order(features, collate, batch_size)]


def measure_engine(runner, batches, pad_id: int, model) -> tuple[dict, list]:
    runner(batches[0])  # warm-up: graph optimisation, oneDNN primitive creation
    outputs, examples, tokens = [], 0, 0
    started = time.perf_counter()
    for batch in batches:
        outputs.append(runner(batch))
        examples += len(batch[model.infer_inputs[0]])
        tokens += real_tokens(batch, pad_id, model, model.infer_inputs)
    seconds = time.perf_counter() - started
    return ({"examples_per_s": round(examples / seconds, 2), "tokens_per_s": round(tokens / seconds, 1),
             "peak_rss_mb_after": round(peak_rss_mb(), 1)}, outputs)


def agreement(reference: list, other: list) -> dict:
    diffs, same = [], True
    for ref_batch, out_batch in zip(reference, other):
        for ref, out in zip(ref_batch, out_batch):
            if np.issubdtype(ref.dtype, np.floating):
                diffs.append(float(np.abs(ref - out).max()))
            else:
                same &= bool(np.array_equal(ref, out))
    return {"max_abs_diff": max(diffs) if diffs else 0.0, "integer_outputs_identical": same}


def measure_retrieval(task, runner, sizes, dim: int, queries: list[str]) -> dict:
    from tasks.retrieval import Index

    rng = np.random.default_rng(0)
    out = {}
    for size in sizes:
        index = Index.__new__(Index)
        vectors = rng.standard_normal((size, dim)).astype(np.float32)
        index.vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        task.embed_texts(runner, queries[:1])  # warm-up
        started = time.perf_counter()
        for q in queries:
            index.top_k(task.embed_texts(runner, [q]), 10)
        per_query = (time.perf_counter() - started) / len(queries)
        started = time.perf_counter()
        for q in queries:
            index.top_k(np.asarray(index.vectors[:1]), 10)
        search_only = (time.perf_counter() - started) / len(queries)
        out[str(size)] = {"ms_per_query": round(per_query * 1000, 2), "ms_top10_only": round(search_only * 1000, 2)}
    return out


def measure(spec: dict, data: str = "offline") -> dict:
    import paddle

    from tasks import recipes
    from tasks.engine import checkpoint, inference
    from tasks.engine.checkpoint import task_class
    from tasks.engine.runner import labels_for, load_split

    spec = BenchSpec(**spec)
    recipe = recipes.get(spec.task, spec.recipe)
    model, max_length = spec.model or recipe.model, spec.max_length or recipe.max_length
    config = recipe.train_config(max_steps=spec.train_steps + 2, cache_dir="", progress=False,
                                 **({"batch_size": spec.batch_size} if spec.batch_size else {}))
    task, infer_examples, retrieval_sizes = spec.task, spec.infer_examples, spec.retrieval_sizes
    task_cls = task_class(task)
    train_ex = load_split(task_cls, data, "train", limit=config.max_steps * config.batch_size)
    dev_ex = load_split(task_cls, data, "dev", limit=infer_examples)
    labels, names = labels_for(task_cls, train_ex, data=data)
    task_obj = task_cls(model, labels, max_length, recipe.task_options(), label_names=names)
    train_f, dev_f = task_obj.encode_all(train_ex), task_obj.encode_all(dev_ex)
    paddle.seed(0)
    trained = task_obj.build_model(model)
    result = {"train": measure_training(task_obj, trained, train_f, config)}

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint.save(task_obj, trained, Path(tmp))
        _, net = checkpoint.load(Path(tmp))  # the whole model, as `predict` runs it (no prefix cache)
        formats = ("paddle", "onnx") if inference.engine_available("onnx") else ("paddle",)
        started = time.perf_counter()
        inference.export(Path(tmp), task_obj, net, formats)
        result["export_seconds"] = round(time.perf_counter() - started, 2)
        batches = inference_batches(task_obj, dev_f)
        engines = {"eager": inference.EagerRunner(net)}
        for name in inference.AUTO_ORDER:
            if name == "onnx" and "onnx" not in formats:
                continue
            engines[name] = inference.open_runner(Path(tmp), net, name)
        reference = None
        result["inference"] = {}
        for name, runner in engines.items():
            numbers, outputs = measure_engine(runner, batches, task_obj.pad_id, net)
            if reference is None:
                reference = outputs
            else:
                numbers |= agreement(reference, outputs)
                numbers["speedup_vs_eager"] = round(numbers["examples_per_s"] /
                                                    result["inference"]["eager"]["examples_per_s"], 2)
            result["inference"][name] = numbers
        metrics = task_obj.evaluate(engines["eager"], dev_f)
        if hasattr(task_obj, "embed_texts"):
            fastest = max(result["inference"], key=lambda n: result["inference"][n]["examples_per_s"])
            queries = [e["text_a"] for e in dev_ex[:50]]
            sizes = [int(s) for s in retrieval_sizes.split(",") if s.strip()]
            result["retrieval"] = {"engine": fastest, "queries": len(queries),
                                   "by_candidates": measure_retrieval(task_obj, engines[fastest], sizes,
                                                                      net.hidden_size, queries)}
    result.update({
        "metric_name": task_obj.main_metric, "metric_after_timed_steps": round(float(metrics[task_obj.main_metric]), 4),
        "metric_note": f"dev subset of {len(dev_f)} after {config.max_steps} training steps: a sanity check, not a "
                       "result", "recipe": {"name": spec.recipe, "model": model, "max_length": max_length,
                                            "batch_size": config.batch_size, "train_layers": config.train_layers,
                                            "options": recipe.options},
        "cpu_env": {k: os.environ.get(k) for k in TUNED_ENV_KEYS},
    })
    return result


def run_bench(args):
    from tasks.config import from_args
    from tasks.io import write_json

    spec = from_args(BenchSpec, args)
    out = Path(args.out or REPO_ROOT / "runs" / "bench" / f"{spec.task}.json")
    settings = {"tuned": {}} if args.no_compare else {"paddle_defaults": {"COURSE_CPU_DEFAULTS": "1"}, "tuned": {}}
    report = {"spec": dataclasses.asdict(spec),
              "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                          "python": platform.python_version()}}
    for label, extra_env in settings.items():
        env = {k: v for k, v in os.environ.items() if k not in TUNED_ENV_KEYS and k != "COURSE_CPU_DEFAULTS"}
        env.update(extra_env)
        print(f"bench {spec.task} / {spec.model}: {label} CPU settings ...", file=sys.stderr, flush=True)
        proc = subprocess.run([sys.executable, "-m", "tasks.tools.bench", json.dumps(dataclasses.asdict(spec))], env=env,
                              cwd=REPO_ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"bench worker failed ({label}):\n{proc.stderr[-3000:]}")
        report[label] = json.loads(proc.stdout.strip().splitlines()[-1])
    if "paddle_defaults" in report:
        report["speedup_tuned_cpu_settings"] = {
            part: round(report["tuned"][part]["examples_per_s"] / report["paddle_defaults"][part]["examples_per_s"], 2)
            for part in ("train",)} | {
            "inference_eager": round(report["tuned"]["inference"]["eager"]["examples_per_s"] /
                                     report["paddle_defaults"]["inference"]["eager"]["examples_per_s"], 2)}
    write_json(out, report)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    print(out)


if __name__ == "__main__":  # worker: python -m tasks.tools.bench '<spec json>'
    import tasks  # noqa: F401  (applies or skips the CPU settings before paddle)
    from tasks.cpu import quiet_logs

    quiet_logs(False)
    print(json.dumps(measure(json.loads(sys.argv[1]))))
