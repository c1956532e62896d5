"""Where a training step's CPU time goes: `python -m tasks.tools bench-step`.

Times full fine-tuning steps of the whole 12-layer encoder (classification head, batch 32) at
sequence lengths 64 and 128, in two settings:

  before  attention-probability dropout on and a padded batch (so the additive attention mask is
          broadcast-added in every layer): what every step cost before the engine dropped both
  after   the engine's defaults: no attention dropout, exact-length batches without a mask

and reports tokens/s, the model FLOP rate as a share of the fp32 matrix-product peak measured in
the same process, and paddle.profiler's per-operator table of one "after" step.
"""
from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path

import numpy as np

from tasks.io import write_json

WARMUP, STEPS = 2, 5


def gemm_peak_gflops() -> dict:
    """fp32 matmul rate of eager paddle: a large square product and the encoder's own FFN shape."""
    import paddle

    out = {}
    for name, (m, k, n) in {"square_2048": (2048, 2048, 2048), "ffn_4096x384x1536": (4096, 384, 1536)}.items():
        a, b = paddle.randn([m, k]), paddle.randn([k, n])
        for _ in range(3):
            paddle.matmul(a, b)
        reps = 20
        started = time.perf_counter()
        for _ in range(reps):
            c = paddle.matmul(a, b)
        float(c[0, 0])
        out[name] = round(2 * m * k * n * reps / (time.perf_counter() - started) / 1e9, 1)
    return out


def flops_per_token(config, seq: int) -> float:
    """Training FLOPs per token (forward + backward = 3x forward) of the encoder's matrix products."""
    h, f, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    forward = layers * (2 * (4 * h * h + 2 * h * f) + 4 * seq * h)
    return 3.0 * forward


def measure(seq: int, batch: int, before: bool, model_name: str, profile: bool = False) -> dict:
    import paddle

    from tasks.config import TrainConfig
    from tasks.engine.modeling import SequenceClassifier
    from tasks.engine.losses import CrossEntropy, WithLoss
    from tasks.engine.trainer import drop_attention_dropout, make_optimizer, train_step
    from tasks import models

    paddle.seed(0)
    encoder = models.load_model(model_name, "encoder")
    pad = encoder.config.pad_token_id
    model = SequenceClassifier(encoder, pad, 2, "mean")
    if not before:
        drop_attention_dropout(model)
    config = TrainConfig(max_steps=WARMUP + STEPS, batch_size=batch, freeze_embeddings=True, progress=False)
    optimizer, schedule = make_optimizer(model, config, config.max_steps)
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 30000, size=(batch, seq)).astype("int64")
    ids[:, 0], ids[:, -1] = 0, 2
    if before:
        ids[0, -1] = pad  # one padded row: the mask is built and added in every layer, as before
    data = {"input_ids": paddle.to_tensor(ids), "token_type_ids": paddle.zeros([batch, seq], dtype="int64"),
            "label": paddle.to_tensor(rng.integers(0, 2, size=batch).astype("int64"))}
    trainable = WithLoss(model, CrossEntropy())
    model.train()

    def step():
        return float(train_step(trainable, data, optimizer, schedule))

    for _ in range(WARMUP):
        step()
    started = time.perf_counter()
    for _ in range(STEPS):
        step()
    seconds = (time.perf_counter() - started) / STEPS
    tokens = batch * seq
    result = {"seq": seq, "batch": batch, "setting": "before" if before else "after",
              "seconds_per_step": round(seconds, 3), "tokens_per_s": round(tokens / seconds, 1),
              "model_gflops": round(flops_per_token(encoder.config, seq) * tokens / seconds / 1e9, 1)}
    if profile:
        from paddle import profiler

        prof = profiler.Profiler(targets=[profiler.ProfilerTarget.CPU], on_trace_ready=lambda _: None)
        prof.start()
        step()
        prof.step()
        prof.stop()
        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            prof.summary(sorted_by=profiler.SortedKeys.CPUTotal, op_detail=False, thread_sep=False,
                         time_unit="ms")
        summary = text.getvalue()
        start = summary.find("Operator Summary")
        result["profile"] = summary[max(start - 60, 0):][:12000].splitlines()  # the per-operator table
    return result


def run(out: Path, model_name: str = "e5-small-zh", batch: int = 32) -> dict:
    from tasks.cpu import apply_cpu_settings

    settings = apply_cpu_settings()
    peak = gemm_peak_gflops()
    best_peak = max(peak.values())
    rows = []
    for seq in (64, 128):
        for before in (True, False):
            row = measure(seq, batch, before, model_name, profile=(seq == 128 and not before))
            row["share_of_gemm_peak"] = round(row["model_gflops"] / best_peak, 3)
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "profile"}), flush=True)
    result = {"model": model_name, "cpu_settings": settings, "gemm_peak_gflops": peak, "steps": rows,
              "speedup": {seq: round(next(r["tokens_per_s"] for r in rows if r["seq"] == seq and r["setting"] == "after")
                                     / next(r["tokens_per_s"] for r in rows if r["seq"] == seq and r["setting"] == "before"), 2)
                          for seq in (64, 128)}}
    write_json(out, result)
    return result
