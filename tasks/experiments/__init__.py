"""The course's claims as experiments a student runs: `python -m tasks experiment NAME [--quick]`.

Each experiment trains what it compares with the package's own engine, at equal steps and over
several seeds (the spread is part of the result), and writes under ``runs/experiments/NAME/``
(``NAME-quick`` in quick mode): ``results.json`` (every run and the summary), ``results.md`` (the
table) and ``figure.png`` (Chinese labels). Quick mode runs the same code on the tiny random model
and a few examples, to check that it runs (CI); its numbers mean nothing.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable

from tasks.errors import TaskError
from tasks.io import REPO_ROOT, write_json, write_text

EXPERIMENTS = {  # name -> (module, what it shows)
    "crf_softmax": ("tasks.experiments.crf_softmax",
                    "序列标注：CRF 与逐字 softmax 输出层，步数相同，多个种子（F1、非法序列、转移矩阵）"),
    "feature_mix": ("tasks.experiments.feature_mix",
                    "基于特征与微调：冻结编码器的最上层、最好的单层、ELMo 式加权混合各层，对比微调最上面几层"
                    "（情感、NER、匹配；画出各任务学到的层权重）"),
    "masking": ("tasks.experiments.masking",
                "ERNIE 式掩码与逐字掩码：用三种掩码（逐片段、jieba 整词、MSRA 实体）继续预训练同样的步数，"
                "比较留出文本的 MLM 准确率，再各自微调 NER 与情感"),
    "pretraining": ("tasks.experiments.pretraining",
                    "预训练与从零训练：同一结构（编码器第 1 层），预训练权重与随机初始化，250 / 1000 / 4000 个训练样本，"
                    "外加字符 n-gram 逻辑回归（情感、NER；数据效率曲线）"),
    "pretraining_vectors": ("tasks.experiments.pretraining_vectors",
                            "从零训练要学字向量：NER 上字向量也参与训练，预训练与随机初始化在 250 与 4000 个训练样本、"
                            "相同步数下的差距"),
    "towers": ("tasks.experiments.towers",
               "单塔（真正的交叉编码器）与双塔：同一编码器、同样的数据和步数，评论前后半句；每个查询的耗时；"
               "双塔召回、单塔重排"),
    "warmup": ("tasks.experiments.warmup",
               "学习率预热：只改 warmup（0 与 10%），在配方学习率和一个偏大的学习率下，多个种子（损失曲线、最终准确率）"),
    "word_order": ("tasks.experiments.word_order",
                   "单塔与双塔在词序数据上（两段话的字完全相同，只对调了两个实体）：同样的模型、步数和种子，"
                   "字符重合与改动位置两个基线"),
}


def names() -> list[str]:
    return list(EXPERIMENTS)


def describe() -> str:
    return "\n".join(f"{name:14s} {what}" for name, (_, what) in EXPERIMENTS.items())


def spread(values: list[float]) -> dict:
    """Mean, sample standard deviation, min and max of a metric over seeds."""
    values = [float(v) for v in values]
    return {"mean": round(statistics.fmean(values), 4),
            "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
            "min": round(min(values), 4), "max": round(max(values), 4), "n": len(values)}


def gap_text(gap: dict) -> str:
    """A difference over seeds (a ``spread``) as the conclusions print it: mean and per-seed range."""
    return f"{gap['mean']:+.4f}（逐种子 {gap['min']:+.4f} 到 {gap['max']:+.4f}）"


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c])
                                       for c in columns) + " |")
    return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run of an experiment: ``recipe.run_train(out, **options)``. Picklable, so that it can
    run in a worker process (``run_all``)."""
    recipe: Any
    out: Path
    options: dict = dataclasses.field(default_factory=dict)

    def __call__(self) -> dict:
        return self.recipe.run_train(self.out, **self.options)


def run_all(jobs: list[Callable[[], Any]], side_by_side: bool) -> list:
    """The results of independent jobs (picklable callables), in the list's order.

    ``side_by_side``: one worker process per core, each with one thread. For small models (measured
    2026-12-03 on 2 cores: two one-layer training runs side by side took 29 s, one after the other with two
    threads each 57 s, with the same metrics): their matrix products gain nothing from a second thread, and
    a run's Python work (reading, encoding, saving) uses one core anyway. Every run takes one thread, so a
    seed gives the same metric whatever the core count. Not for the 12-layer towers (two side by side:
    3.5 minutes, about 2.7 one after the other), nor in quick mode (CI already runs one worker per core).
    Otherwise, or on one core: one after the other in this process."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    import multiprocessing

    from tasks.cpu import physical_cores

    workers = min(len(jobs), physical_cores())
    if not side_by_side or workers <= 1:
        return [job() for job in jobs]
    results = [None] * len(jobs)
    with _one_thread_env(), ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_quiet_worker) as pool:
        futures = {pool.submit(job): k for k, job in enumerate(jobs)}
        for done, future in enumerate(as_completed(futures), 1):
            k = futures[future]
            results[k] = future.result()
            name = jobs[k].out.name if isinstance(jobs[k], Run) else repr(jobs[k])
            print(f"[{done}/{len(jobs)}] {name}", flush=True)
    return results


@contextlib.contextmanager
def _one_thread_env():
    """Worker processes start with one thread each (read by MKL / OpenMP when paddle loads)."""
    keys = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: "1" for k in keys})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _quiet_worker():
    """A worker's own logs, progress bars and lines would interleave with the others': logged errors only
    (a failed run raises in the parent, with its message)."""
    import logging
    import sys
    import warnings

    from tasks.cpu import quiet_paddle

    logging.basicConfig(level=logging.ERROR)  # its handler keeps the real stderr
    warnings.simplefilter("ignore")  # import-time notices (setuptools' distutils shim), once per worker
    quiet_paddle()
    sys.stdout = sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115  (the worker's life)


def run_experiment(name: str, quick: bool = False, out: Path | None = None) -> Path:
    """Run an experiment; its results.json path."""
    if name not in EXPERIMENTS:
        raise TaskError(f"experiment {name!r}: expected one of {', '.join(EXPERIMENTS)} "
                        "(python -m tasks experiment --list)")
    module = importlib.import_module(EXPERIMENTS[name][0])
    out = Path(out or REPO_ROOT / "runs" / "experiments" / (f"{name}-quick" if quick else name))
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    result = module.run(quick, out)
    result |= {"experiment": name, "mode": "quick" if quick else "default",
               "minutes": round((time.time() - started) / 60, 2)}
    write_json(out / "results.json", result)
    write_text(out / "results.md", f"# {EXPERIMENTS[name][1]}\n\n{result['table']}\n\n{result['conclusion']}\n\n"
                                   f"({result['mode']} mode, {result['minutes']} min)\n")
    print(result["table"])
    print(result["conclusion"])
    print(f"{result['minutes']} min; figure: {out / 'figure.png'}")
    return out / "results.json"


def read_results(name: str, quick: bool = False) -> dict:
    path = REPO_ROOT / "runs" / "experiments" / (f"{name}-quick" if quick else name) / "results.json"
    return json.loads(path.read_text(encoding="utf-8"))
