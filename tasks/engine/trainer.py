"""The one training loop every task uses.

features -> length-bucketed batches -> ``loss = task.loss(model(*inputs), batch)`` -> AdamW (no decay
on bias and LayerNorm) with LinearDecayWithWarmup and global-norm clipping -> evaluate every N steps
-> keep the best checkpoint -> optional early stop.

Resumable and deterministic on CPU: the data order depends only on (seed, epoch), dropout is
reseeded from (seed, step), and a resume point (weights, optimizer and scheduler state, position
in the epoch) is written atomically every ``save_every`` steps, so ``--resume`` after a kill ends
with the same metrics.
"""
from __future__ import annotations

import csv
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import paddle
from paddlenlp.transformers import LinearDecayWithWarmup
from tqdm.auto import tqdm

from tasks.config import TrainConfig
from tasks.engine import checkpoint
from tasks.engine.batching import make_loader
from tasks.engine.inference import EagerRunner
from tasks.engine.task import Task

log = logging.getLogger("tasks")
LOG_FILE = "log.csv"
VISUALDL_DIR = "visualdl"
LOG_FIELDS = ["step", "epoch", "loss", "lr", "eval_metric", "eval_value", "elapsed_s"]


@dataclass
class TrainerState:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_value: float | None = None
    best_step: int = 0
    evals_without_gain: int = 0
    stopped_early: bool = False
    history: list = field(default_factory=list)  # evaluation results
    best_metrics: dict = field(default_factory=dict)  # every number of the best dev evaluation


def freeze_word_embeddings(model):
    """The (large, mostly unused) vocabulary matrix gets no gradient and no AdamW update."""
    model.encoder.get_input_embeddings().weight.stop_gradient = True


def make_optimizer(model, config: TrainConfig, total_steps: int):
    if config.freeze_embeddings:
        freeze_word_embeddings(model)
    schedule = LinearDecayWithWarmup(config.learning_rate, total_steps, config.warmup_steps(total_steps))
    # Standard BERT fine-tuning: no weight decay on biases and LayerNorm weights.
    no_decay = {p.name for n, p in model.named_parameters() if "bias" in n or "norm" in n.lower()}
    optimizer = paddle.optimizer.AdamW(
        learning_rate=schedule, parameters=model.parameters(), weight_decay=config.weight_decay,
        apply_decay_param_fun=lambda name: name not in no_decay,
        grad_clip=paddle.nn.ClipGradByGlobalNorm(config.max_grad_norm))
    return optimizer, schedule


def model_inputs(model, batch: dict) -> list:
    return [batch[k] for k in model.train_inputs]


class CsvLog:
    """Training log as CSV; on resume, rows after the resume step are dropped."""

    def __init__(self, path: Path, keep_until_step: int | None):
        self.path = path
        rows = []
        if keep_until_step is not None and path.is_file():
            with path.open(encoding="utf-8") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= keep_until_step]
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, LOG_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        self.file = path.open("a", newline="", encoding="utf-8")
        self.writer = csv.DictWriter(self.file, LOG_FIELDS)

    def write(self, **row):
        self.writer.writerow(row)
        self.file.flush()

    def close(self):
        self.file.close()


class VisualDLLog:
    """The same scalars as log.csv, for PaddlePaddle's dashboard (`visualdl --logdir RUN/visualdl`)."""

    def __init__(self, logdir: Path):
        from visualdl import LogWriter

        self.writer = LogWriter(logdir=str(logdir))

    def write(self, row: dict):
        self.writer.add_scalar("train/loss", row["loss"], row["step"])
        self.writer.add_scalar("train/learning_rate", row["lr"], row["step"])
        if row.get("eval_metric"):
            self.writer.add_scalar(f"dev/{row['eval_metric']}", row["eval_value"], row["step"])

    def close(self):
        self.writer.close()


def is_better(value: float, best: float | None) -> bool:
    return best is None or value > best


def train(task: Task, model, train_features: list[dict], dev_features: list[dict], out_dir: Path,
          config: TrainConfig, resume: bool = False) -> TrainerState:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    loader, sampler = make_loader(train_features, task.collate_fn(), config.batch_size, shuffle=True, seed=config.seed)
    total = config.total_steps(len(sampler))
    optimizer, schedule = make_optimizer(model, config, total)
    state = TrainerState()
    if resume:
        state = TrainerState(**checkpoint.load_resume_point(out_dir, model, optimizer, config, task))
    csv_log = CsvLog(out_dir / LOG_FILE, keep_until_step=state.step if resume else None)
    dashboard = VisualDLLog(out_dir / VISUALDL_DIR) if config.visualdl else None
    metric = task.selection_metric or task.main_metric
    runner = EagerRunner(model)
    started = time.time()
    # disable=None: no bar when stderr is not a terminal (CI logs), unless progress is off anyway
    bar = tqdm(total=total, initial=state.step, desc=f"train {task.name}", disable=None if config.progress else True,
               dynamic_ncols=True, leave=False)
    model.train()
    while state.step < total and not state.stopped_early:
        sampler.start(state.epoch, skip=state.batch_in_epoch)
        for batch in loader:
            paddle.seed(config.seed * 1_000_003 + state.step)  # dropout masks depend only on the step
            lr = optimizer.get_lr()  # the rate this step uses (0 on the very first warmup step)
            loss = task.loss(model(*model_inputs(model, batch)), batch, model)
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.clear_grad()
            state.step += 1
            state.batch_in_epoch += 1
            row = {"step": state.step, "epoch": state.epoch, "loss": round(float(loss), 6), "lr": lr,
                   "elapsed_s": round(time.time() - started, 2)}
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss):.4f}", lr=f"{lr:.2e}")
            evaluate_now = state.step % config.eval_every == 0 or state.step == total
            if evaluate_now and dev_features:
                result = task.evaluate(runner, dev_features, config.eval_batch_size)
                value = float(result[metric])
                row.update(eval_metric=metric, eval_value=round(value, 6))
                state.history.append({"step": state.step, metric: value})
                if is_better(value, state.best_value):
                    state.best_value, state.best_step, state.evals_without_gain = value, state.step, 0
                    state.best_metrics = {k: v for k, v in result.items() if isinstance(v, (int, float))}
                    task.on_new_best(model, result)
                    checkpoint.save(task, model, out_dir / checkpoint.BEST_DIR)
                else:
                    state.evals_without_gain += 1
                    if config.early_stop and state.evals_without_gain >= config.early_stop:
                        state.stopped_early = True
                bar.write(f"step {state.step}/{total}: dev {metric}={value:.4f} (best {state.best_value:.4f} @ {state.best_step})")
            csv_log.write(**row)
            if dashboard:
                dashboard.write(row)
            save_now = (config.save_every and state.step % config.save_every == 0) or (not config.save_every and evaluate_now)
            if state.stopped_early or state.step >= total:
                break
            if save_now:
                checkpoint.save_resume_point(out_dir, model, optimizer, state, config, task)
        else:
            state.epoch += 1
            state.batch_in_epoch = 0
    bar.close()
    csv_log.close()
    if dashboard:
        dashboard.close()
    if not dev_features:  # nothing to select on: the last weights are the result
        checkpoint.save(task, model, out_dir / checkpoint.BEST_DIR)
    checkpoint.save_resume_point(out_dir, model, optimizer, state, config, task)
    return state
