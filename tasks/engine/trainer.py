"""The one training loop every task uses.

features -> length-bucketed batches -> ``train_step``: ``loss = loss_layer(model(*inputs), batch)``,
AdamW (no decay on bias and LayerNorm) with global-norm clipping, ``LinearDecayWithWarmup`` ->
evaluate every N steps. Everything else a run does is a callback (``callbacks.py``): the CSV and
VisualDL logs, the progress bar, the best checkpoint, early stopping, resume points.

The number of steps is planned once, before the first step: the epochs (or --max-steps), cut by
``--budget-minutes`` from a timing probe that changes nothing (``plan_steps``). The learning rate is
then a pure function of (step, planned steps), so the same seed and the same plan give the same
metric on any machine.

Resumable and deterministic on CPU: the data order depends only on (seed, epoch), dropout is
reseeded from (seed, step), and a resume point (weights, optimizer and scheduler state, position
in the epoch, the plan) is written atomically, so ``--resume`` after a kill ends with the same metrics.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import paddle
from paddlenlp.transformers import LinearDecayWithWarmup

from tasks.config import TrainConfig
from tasks.engine import checkpoint, distributed
from tasks.engine.batching import make_loader
from tasks.engine.callbacks import default_callbacks
from tasks.engine.frozen import freeze_for_training
from tasks.engine.inference import EagerRunner
from tasks.engine.losses import WithLoss
from tasks.engine.task import Task

log = logging.getLogger("tasks")
PROBE_STEPS = 6  # timed training steps of the budget plan (after one untimed), at spread batch lengths


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
    total_steps: int = 0  # planned steps
    plan: dict = field(default_factory=dict)  # how total_steps was planned (steps, reason, timings)
    eval_seconds: float = 0.0


@dataclass
class Run:
    """What the loop and its callbacks share."""
    task: Task
    model: paddle.nn.Layer
    trainable: paddle.nn.Layer          # model + loss (DataParallel-wrapped on several processes)
    optimizer: paddle.optimizer.Optimizer
    schedule: LinearDecayWithWarmup
    loader: paddle.io.DataLoader
    sampler: object
    dev_features: list
    config: TrainConfig
    state: TrainerState
    out_dir: Path
    started: float
    scaler: object = None
    callbacks: list = field(default_factory=list)

    @property
    def metric(self) -> str:
        return self.task.selection_metric or self.task.main_metric

    def notify(self, event: str, *args):
        for callback in self.callbacks:
            getattr(callback, event)(self, *args)


def freeze_word_embeddings(model):
    """The (large, mostly unused) vocabulary matrix gets no gradient and no AdamW update."""
    model.encoder.get_input_embeddings().weight.stop_gradient = True


def drop_attention_dropout(model):
    for layer in model.layers:
        layer.self_attn.dropout = 0.0  # MultiHeadAttention skips F.dropout when its rate is 0


def make_optimizer(model, config: TrainConfig, total_steps: int, learning_rate=None):
    """AdamW over the trainable parameters, with LinearDecayWithWarmup over ``total_steps`` (or a fixed
    ``learning_rate``, as the timing probe uses)."""
    if config.freeze_embeddings:
        freeze_word_embeddings(model)
    schedule = LinearDecayWithWarmup(config.learning_rate, total_steps, config.warmup_steps(total_steps))
    # Standard BERT fine-tuning: no weight decay on biases and LayerNorm weights.
    no_decay = {p.name for n, p in model.named_parameters() if "bias" in n or "norm" in n.lower()}
    trainable = [p for p in model.parameters() if not p.stop_gradient]  # frozen layers: no AdamW state
    optimizer = paddle.optimizer.AdamW(
        learning_rate=schedule if learning_rate is None else learning_rate, parameters=trainable,
        weight_decay=config.weight_decay, apply_decay_param_fun=lambda name: name not in no_decay,
        grad_clip=paddle.nn.ClipGradByGlobalNorm(config.max_grad_norm))
    return optimizer, schedule


def train_step(trainable, batch: dict, optimizer, schedule=None, scaler=None, amp: str = "off"):
    """One optimisation step on one batch; returns the loss. ``trainable``: a model with its loss
    (``WithLoss``); every benchmark times this same function."""
    with paddle.amp.auto_cast(enable=amp != "off", dtype=amp if amp != "off" else "float16"):
        loss = trainable(batch)
    if scaler:  # fp16: the loss is scaled up so small gradients survive, unscaled before clipping
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
    if schedule is not None:
        schedule.step()
    optimizer.clear_grad()
    return loss


def steps_within_budget(config: TrainConfig, total: int, elapsed_s: float, step_s: float, eval_s: float,
                        final_evals: float = 1.0) -> int:
    """The planned step count cut so that training, its evaluations and the final test evaluation
    (``final_evals`` dev evaluations' worth: the saved model's export and the test split) end
    within --budget-minutes of the run's start."""
    left = config.budget_minutes * 60 - elapsed_s - eval_s * final_evals
    per_step = step_s + eval_s / config.eval_every
    return max(1, min(total, int(left / per_step)))


def timing_probe(run: Run, features: list[dict]) -> tuple[float, float]:
    """(seconds per training step, seconds per dev evaluation), measured without changing anything:
    the probe's steps run with a learning rate of 0 on an optimiser of their own (so no weight and
    no optimiser state moves), and the evaluation is timed as forward passes over a sample of dev."""
    batches = sorted(run.sampler.global_batches(0), key=lambda b: sum(features[i]["length"] for i in b))
    # the middle batch of each of PROBE_STEPS equal slices of the epoch's batches, shortest to longest: their
    # mean time is the epoch's mean (the midpoint rule; the extremes would overweight the longest batches)
    picks = [batches[int((k + 0.5) * len(batches) / PROBE_STEPS)] for k in range(PROBE_STEPS)]
    share, collate = (distributed.rank(), distributed.world_size()), run.task.collate_fn()
    times = []
    with paddle.utils.unique_name.guard():  # the probe's optimizer state takes no names from the real one's
        probe_optimizer, _ = make_optimizer(run.model, run.config, 1, learning_rate=0.0)
        for picked in [picks[len(picks) // 2]] + picks:  # the first, untimed, pays one-off allocations
            batch = collate([features[i] for i in picked[share[0]::share[1]]])
            begun = time.perf_counter()
            train_step(run.trainable, batch, probe_optimizer, None, None, run.config.amp)  # no loss-scale update
            times.append(time.perf_counter() - begun)
    eval_s = 0.0
    if run.dev_features:
        inputs, collate = run.task.inference_features(run.dev_features)
        order = np.random.default_rng(0).permutation(len(inputs))
        size = run.config.eval_batch_size
        warm, sample = [inputs[i] for i in order[:size]], [inputs[i] for i in order[size:5 * size]]
        runner = EagerRunner(run.model)
        if sample:  # the first evaluation batches pay one-off costs: untimed
            run.task.run_batches(runner, warm, size, collate)
        begun = time.perf_counter()
        run.task.run_batches(runner, sample or warm, size, collate)
        eval_s = (time.perf_counter() - begun) * len(inputs) / len(sample or warm)
    return float(np.mean(times[1:])), eval_s


def plan_steps(run: Run, features: list[dict], epoch_steps: int, final_evals: float) -> dict:
    """The run's step count, fixed before training: the epochs (or --max-steps), fewer if
    --budget-minutes would be exceeded."""
    config, total = run.config, run.config.total_steps(epoch_steps)
    plan = {"steps": total, "epochs": round(total / epoch_steps, 3),
            "reason": f"--max-steps {config.max_steps}" if config.max_steps else f"--epochs {config.epochs:g}"}
    if config.budget_minutes:
        step_s, eval_s = timing_probe(run, features)
        elapsed = time.time() - run.started
        fitted = distributed.agree(steps_within_budget(config, total, elapsed, step_s, eval_s, final_evals))
        plan |= {"step_s": round(step_s, 3), "eval_s": round(eval_s, 2), "setup_s": round(elapsed, 1)}
        if fitted < total:
            plan |= {"steps": fitted, "epochs": round(fitted / epoch_steps, 3),
                     "reason": f"--budget-minutes {config.budget_minutes:g} (the {plan['reason']} would take "
                               f"{total} steps)"}
    log.info("plan: %d steps (%.2f epochs), from %s%s", plan["steps"], plan["epochs"], plan["reason"],
             f"; probe: {plan['step_s']:.2f} s per step, {plan['eval_s']:.1f} s per evaluation"
             if "step_s" in plan else "")
    return plan


def setup(task: Task, model, train_features: list[dict], dev_features: list[dict], out_dir: Path,
          config: TrainConfig, resume: bool, started: float, final_evals: float) -> Run:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    distributed.check_device(config)
    loader, sampler = make_loader(train_features, task.collate_fn(), config.batch_size, shuffle=True, seed=config.seed,
                                  share=(distributed.rank(), distributed.world_size()))
    if not config.attention_dropout:
        drop_attention_dropout(model)
    if config.dropout is not None:
        for layer in model.sublayers():
            if isinstance(layer, paddle.nn.Dropout):
                layer.p = config.dropout
    freeze_for_training(model, config, train_features, dev_features, cache=distributed.is_main())
    resume_point, state = None, TrainerState()
    if resume:
        resume_point, saved = checkpoint.read_resume_point(out_dir, config, task)
        state = TrainerState(**{k: v for k, v in saved.items() if k in TrainerState.__dataclass_fields__})
    else:
        first = sampler.global_batches(0)[0]
        model.eval()  # data-dependent initial values, without dropout
        model.prepare(task.collate_fn()([train_features[i] for i in first]))
    trainable = distributed.wrap(WithLoss(model, task.build_loss(model)))
    scaler = paddle.amp.GradScaler(init_loss_scaling=2.0**15) if config.amp == "fp16" else None
    run = Run(task, model, trainable, None, None, loader, sampler, dev_features, config, state, out_dir, started, scaler)
    if not resume:
        model.train()
        state.plan = plan_steps(run, train_features, len(sampler), final_evals)
        state.total_steps = state.plan["steps"]
    run.optimizer, run.schedule = make_optimizer(model, config, state.total_steps)
    if resume_point:
        checkpoint.restore_resume_point(resume_point, model, run.optimizer)
    run.callbacks = default_callbacks(run, resume)
    return run


def train(task: Task, model, train_features: list[dict], dev_features: list[dict], out_dir: Path,
          config: TrainConfig, resume: bool = False, started: float | None = None,
          final_evals: float = 1.0) -> TrainerState:
    """``started``: when the run began (the budget counts loading and caching too); ``final_evals``:
    the test evaluation after training, in dev evaluations (for --budget-minutes)."""
    run = setup(task, model, train_features, dev_features, out_dir, config, resume, started or time.time(), final_evals)
    state, total = run.state, run.state.total_steps
    run.notify("on_train_begin")
    model.train()
    while state.step < total and not state.stopped_early:
        run.sampler.start(state.epoch, skip=state.batch_in_epoch)
        for batch in run.loader:
            paddle.seed(config.seed * 1_000_003 + state.step)  # dropout masks depend only on the step
            lr = run.optimizer.get_lr()  # the rate this step uses (0 on the very first warmup step)
            loss = train_step(run.trainable, batch, run.optimizer, run.schedule, run.scaler, config.amp)
            state.step += 1
            state.batch_in_epoch += 1
            row = {"step": state.step, "epoch": state.epoch, "loss": round(distributed.mean(float(loss)), 6),
                   "lr": lr, "elapsed_s": round(time.time() - run.started, 2)}
            if dev_features and (state.step % config.eval_every == 0 or state.step == total):
                begun = time.time()
                result = task.evaluate(EagerRunner(model), dev_features, config.eval_batch_size)
                state.eval_seconds += time.time() - begun
                row |= {"elapsed_s": round(time.time() - run.started, 2), "eval_s": round(state.eval_seconds, 2),
                        "eval_metric": run.metric, "eval_value": round(float(result[run.metric]), 6)}
                run.notify("on_evaluate", result, row)
            run.notify("on_step_end", row)
            if state.stopped_early or state.step >= total:
                break
        else:
            state.epoch += 1
            state.batch_in_epoch = 0
    run.notify("on_train_end")
    distributed.barrier()  # the others wait until rank 0 has written the checkpoint
    return state
