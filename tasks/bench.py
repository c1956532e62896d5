"""Throughput benchmark: training and inference examples/s and tokens/s, peak memory, metric.

`python -m tasks bench` runs the measurement twice in fresh processes, once with
Paddle's default CPU settings and once with the package's tuned ones (they must
be set before paddle is imported, hence the subprocesses), and writes both side
by side as JSON.
"""
from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from tasks.cpu import TUNED_ENV_KEYS

REPO_ROOT = Path(__file__).resolve().parent.parent


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def real_tokens(batch: dict, pad_id: int) -> int:
    return int(sum(int((batch[k] != pad_id).sum()) for k in ("input_ids", "a_ids", "b_ids") if k in batch))


def measure(task: str, model: str, train_steps: int, batch_size: int, max_length: int,
            infer_examples: int, data: str = "offline") -> dict:
    import paddle

    from tasks.engine.batching import iterate_in_order, make_loader
    from tasks.engine.runner import load_split, labels_for, task_class
    from tasks.engine.trainer import TrainConfig, make_optimizer

    task_name, model_name = task, model
    task_cls = task_class(task_name)
    train_ex = load_split(task_cls, data, "train", limit=train_steps * batch_size + 2 * batch_size)
    dev_ex = load_split(task_cls, data, "dev", limit=infer_examples)
    task = task_cls(model_name, labels_for(task_cls, train_ex), max_length)
    train_f, dev_f = task.encode_all(train_ex), task.encode_all(dev_ex)
    paddle.seed(0)
    model = task.build_model(model_name)
    config = TrainConfig(max_steps=train_steps + 2, batch_size=batch_size, progress=False)
    optimizer, schedule = make_optimizer(model, config, config.max_steps)
    loader, _ = make_loader(train_f, task.collate_fn(), batch_size, shuffle=True)
    model.train()
    examples = tokens = 0
    started = None
    for step, batch in enumerate(loader):
        if step == 2:  # the first steps pay one-off allocation costs
            started = time.perf_counter()
        loss = task.loss(model, batch)
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.clear_grad()
        if step >= 2:
            examples += len(next(iter(batch.values())))
            tokens += real_tokens(batch, task.pad_id)
        if step + 1 >= config.max_steps:
            break
    train_s = time.perf_counter() - started

    model.eval()
    collate = task.collate_fn()
    infer_tokens = 0
    t = time.perf_counter()
    with paddle.no_grad():
        for _, batch in iterate_in_order(dev_f, collate, 64):
            (task.embed_ids(model, batch["a_ids"]) if task_name == "dual_tower" else
             task.emissions(model, batch) if task_name == "ner" else task.logits(model, batch))
            infer_tokens += real_tokens(batch, task.pad_id)
    infer_s = time.perf_counter() - t
    metrics = task.evaluate(model, dev_f)
    return {
        "train_examples_per_s": round(examples / train_s, 2), "train_tokens_per_s": round(tokens / train_s, 1),
        "train_steps_timed": config.max_steps - 2,
        "infer_examples_per_s": round(len(dev_f) / infer_s, 2), "infer_tokens_per_s": round(infer_tokens / infer_s, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "metric_name": task.main_metric, "metric_after_timed_steps": round(float(metrics[task.main_metric]), 4),
        "metric_note": f"dev subset of {len(dev_f)} after {config.max_steps} training steps: a sanity check, not a result",
        "cpu_env": {k: os.environ.get(k) for k in TUNED_ENV_KEYS},
    }


def run_bench(args):
    out = Path(args.out or REPO_ROOT / "runs" / "bench" / f"{args.task}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    spec = {"task": args.task, "model": args.model, "train_steps": args.train_steps, "batch_size": args.batch_size,
            "max_length": args.max_length, "infer_examples": args.infer_examples}
    settings = {"tuned": {}} if args.no_compare else {"paddle_defaults": {"COURSE_CPU_DEFAULTS": "1"}, "tuned": {}}
    report = {"spec": spec, "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                                        "python": platform.python_version()}}
    for label, extra_env in settings.items():
        env = {k: v for k, v in os.environ.items() if k not in TUNED_ENV_KEYS and k != "COURSE_CPU_DEFAULTS"}
        env.update(extra_env)
        print(f"bench {args.task} / {args.model}: {label} CPU settings ...", file=sys.stderr, flush=True)
        proc = subprocess.run([sys.executable, "-m", "tasks.bench", json.dumps(spec)], env=env, cwd=REPO_ROOT,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"bench worker failed ({label}):\n{proc.stderr[-3000:]}")
        report[label] = json.loads(proc.stdout.strip().splitlines()[-1])
    if "paddle_defaults" in report:
        report["speedup_train"] = round(report["tuned"]["train_examples_per_s"] / report["paddle_defaults"]["train_examples_per_s"], 2)
        report["speedup_infer"] = round(report["tuned"]["infer_examples_per_s"] / report["paddle_defaults"]["infer_examples_per_s"], 2)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(out)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    print(out)


if __name__ == "__main__":  # worker: python -m tasks.bench '<spec json>'
    import tasks  # noqa: F401  (applies or skips the CPU settings before paddle)
    from tasks.cli import quiet_logs

    quiet_logs(False)
    result = measure(**json.loads(sys.argv[1]))
    print(json.dumps(result))
