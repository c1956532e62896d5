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
from tasks.engine import checkpoint, distributed
from tasks.engine.batching import make_loader
from tasks.engine.frozen import CachedRunner, FrozenBottom
from tasks.engine.inference import EagerRunner
from tasks.engine.task import Task

log = logging.getLogger("tasks")
LOG_FILE = "log.csv"
VISUALDL_DIR = "visualdl"
LOG_FIELDS = ["step", "epoch", "loss", "lr", "eval_metric", "eval_value", "elapsed_s", "eval_s"]  # eval_s: cumulative


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
    total_steps: int = 0  # planned steps (fewer than the epochs ask for when --budget-minutes cuts them)


def freeze_word_embeddings(model):
    """The (large, mostly unused) vocabulary matrix gets no gradient and no AdamW update."""
    model.encoder.get_input_embeddings().weight.stop_gradient = True


def drop_attention_dropout(model):
    for layer in model.layers:
        layer.self_attn.dropout = 0.0  # MultiHeadAttention skips F.dropout when its rate is 0


def make_schedule(config: TrainConfig, total_steps: int, step: int = 0):
    schedule = LinearDecayWithWarmup(config.learning_rate, total_steps, config.warmup_steps(total_steps))
    for _ in range(step):
        schedule.step()
    return schedule


def steps_within_budget(config: TrainConfig, step: int, total: int, elapsed_s: float, step_s: float,
                        eval_s: float, final_evals: float = 1.0) -> int:
    """The planned step count cut so that training, its evaluations and the final test evaluation
    (``final_evals`` dev evaluations' worth: the saved model's export and the test split) end
    within --budget-minutes of the run's start."""
    left = config.budget_minutes * 60 - elapsed_s - eval_s * final_evals
    per_step = step_s + eval_s / config.eval_every
    return max(step + 1, min(total, step + int(left / per_step)))


def make_optimizer(model, config: TrainConfig, total_steps: int):
    if config.freeze_embeddings:
        freeze_word_embeddings(model)
    schedule = make_schedule(config, total_steps)
    # Standard BERT fine-tuning: no weight decay on biases and LayerNorm weights.
    no_decay = {p.name for n, p in model.named_parameters() if "bias" in n or "norm" in n.lower()}
    trainable = [p for p in model.parameters() if not p.stop_gradient]  # frozen layers: no AdamW state
    optimizer = paddle.optimizer.AdamW(
        learning_rate=schedule, parameters=trainable, weight_decay=config.weight_decay,
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
          config: TrainConfig, resume: bool = False, started: float | None = None,
          final_evals: float = 1.0) -> TrainerState:
    """``started``: when the run began (the budget counts loading and caching too); ``final_evals``:
    the test evaluation after training, in dev evaluations (for --budget-minutes)."""
    started = started or time.time()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    main = distributed.is_main()  # only rank 0 writes (one process unless launched on several)
    distributed.check_device(config)
    scaler = paddle.amp.GradScaler(init_loss_scaling=2.0**15) if config.amp == "fp16" else None
    loader, sampler = make_loader(train_features, task.collate_fn(), config.batch_size, shuffle=True, seed=config.seed,
                                  share=(distributed.rank(), distributed.world_size()))
    total = config.total_steps(len(sampler))
    if not config.attention_dropout:
        drop_attention_dropout(model)
    if config.dropout is not None:
        for layer in model.sublayers():
            if isinstance(layer, paddle.nn.Dropout):
                layer.p = config.dropout
    frozen = None
    if config.train_layers and config.train_layers >= len(model.layers):
        log.info("--train-layers %d: the encoder has %d layers; training all of them", config.train_layers,
                 len(model.layers))
    elif config.train_layers:
        frozen = FrozenBottom(model, config.train_layers, (config.cache_dir or None) if main else None, config.cache_gb)
        frozen.fill(train_features, dev_features, progress=config.progress)
    optimizer, schedule = make_optimizer(model, config, total)
    state = TrainerState(total_steps=total)
    if resume:
        state = TrainerState(**({"total_steps": total} |
                                checkpoint.load_resume_point(out_dir, model, optimizer, config, task)))
        if state.total_steps != total:  # a budget cut the plan before the interruption
            total = state.total_steps
            schedule = optimizer._learning_rate = make_schedule(config, total, state.step)
    csv_log = CsvLog(out_dir / LOG_FILE, keep_until_step=state.step if resume else None) if main else None
    dashboard = VisualDLLog(out_dir / VISUALDL_DIR) if config.visualdl and main else None
    train_model = distributed.wrap(model)
    metric = task.selection_metric or task.main_metric
    runner = CachedRunner(model, frozen) if frozen else EagerRunner(model)
    # --budget-minutes: steps and evaluations are timed from step 20 on; the plan is re-fitted at every
    # evaluation (it only ever shrinks), because the first steps are not a reliable sample
    calibrate_at = min(state.step + 20, total) if config.budget_minutes and not resume else 0
    loop_started, first_step, eval_seconds, evaluations = None, state.step, 0.0, 0
    # disable=None: no bar when stderr is not a terminal (CI logs), unless progress is off anyway
    bar = tqdm(total=total, initial=state.step, desc=f"train {task.name}",
               disable=None if config.progress and main else True,
               dynamic_ncols=True, leave=False)
    model.train()
    while state.step < total and not state.stopped_early:
        sampler.start(state.epoch, skip=state.batch_in_epoch)
        for batch in loader:
            loop_started = loop_started or time.time()
            paddle.seed(config.seed * 1_000_003 + state.step)  # dropout masks depend only on the step
            lr = optimizer.get_lr()  # the rate this step uses (0 on the very first warmup step)
            cached = frozen.inputs(batch) if frozen else {}
            with paddle.amp.auto_cast(enable=config.amp != "off", dtype=config.amp if config.amp != "off" else "float16"):
                loss = task.loss(train_model(*model_inputs(model, batch), **cached), batch, model)
            if scaler:  # fp16: the loss is scaled up so small gradients survive, unscaled before clipping
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            schedule.step()
            optimizer.clear_grad()
            state.step += 1
            state.batch_in_epoch += 1
            row = {"step": state.step, "epoch": state.epoch, "loss": round(distributed.mean(float(loss)), 6), "lr": lr,
                   "elapsed_s": round(time.time() - started, 2)}
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss):.4f}", lr=f"{lr:.2e}")
            evaluate_now = state.step % config.eval_every == 0 or state.step == total or state.step == calibrate_at
            if evaluate_now and dev_features:
                eval_started = time.time()
                result = task.evaluate(runner, dev_features, config.eval_batch_size)
                this_eval = time.time() - eval_started
                eval_seconds, evaluations = eval_seconds + this_eval, evaluations + 1
                row.update(elapsed_s=round(time.time() - started, 2), eval_s=round(eval_seconds, 2))
                if calibrate_at and state.step >= calibrate_at:
                    stepping = eval_started - loop_started - (eval_seconds - this_eval)
                    step_s = stepping / (state.step - first_step - 0.5)  # the first step was cut short
                    eval_s = eval_seconds / evaluations
                    fitted = distributed.agree(steps_within_budget(config, state.step, total, time.time() - started,
                                                                   step_s, eval_s, final_evals))
                    if state.step == calibrate_at or fitted < total:
                        log.info("--budget-minutes %s: %.2f s per step, %.1f s per evaluation; training %s at step "
                                 "%d of %d (%.2f epochs)", config.budget_minutes, step_s, eval_s,
                                 "stops" if fitted < total else "fits: it ends", fitted, total, fitted / len(sampler))
                    if fitted < total:
                        total = state.total_steps = fitted
                        schedule = optimizer._learning_rate = make_schedule(config, total, state.step)
                        bar.total = total
                        bar.refresh()
                value = float(result[metric])
                row.update(eval_metric=metric, eval_value=round(value, 6))
                state.history.append({"step": state.step, metric: value})
                if is_better(value, state.best_value):
                    state.best_value, state.best_step, state.evals_without_gain = value, state.step, 0
                    state.best_metrics = {k: v for k, v in result.items() if isinstance(v, (int, float))}
                    task.on_new_best(model, result)
                    if main:
                        checkpoint.save(task, model, out_dir / checkpoint.BEST_DIR)
                else:
                    state.evals_without_gain += 1
                    if config.early_stop and state.evals_without_gain >= config.early_stop:
                        state.stopped_early = True
                if config.stop_at is not None and value >= config.stop_at:
                    state.stopped_early = True
                if main:
                    bar.write(f"step {state.step}/{total}: dev {metric}={value:.4f} "
                              f"(best {state.best_value:.4f} @ {state.best_step})")
            if csv_log:
                csv_log.write(**row)
            if dashboard:
                dashboard.write(row)
            save_now = (config.save_every and state.step % config.save_every == 0) or (not config.save_every and evaluate_now)
            if state.stopped_early or state.step >= total:
                break
            if save_now and main:
                checkpoint.save_resume_point(out_dir, model, optimizer, state, config, task)
        else:
            state.epoch += 1
            state.batch_in_epoch = 0
    bar.close()
    if csv_log:
        csv_log.close()
    if dashboard:
        dashboard.close()
    if main:
        if not dev_features:  # nothing to select on: the last weights are the result
            checkpoint.save(task, model, out_dir / checkpoint.BEST_DIR)
        checkpoint.save_resume_point(out_dir, model, optimizer, state, config, task)
    distributed.barrier()  # the others wait until rank 0 has written the checkpoint
    return state
