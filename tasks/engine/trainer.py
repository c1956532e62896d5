"""The one training loop every task uses.

examples -> features -> length-bucketed batches -> AdamW (no decay on bias and
LayerNorm) with LinearDecayWithWarmup and global-norm clipping -> evaluate every
N steps -> keep the best checkpoint -> optional early stop.

Resumable and deterministic on CPU: the data order depends only on (seed, epoch),
dropout is reseeded from (seed, step), and a resume point (weights, optimizer and
scheduler state, position in the epoch) is written atomically every
``save_every`` steps, so ``--resume`` after a kill ends with the same metrics.
"""
from __future__ import annotations

import csv
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import paddle
from paddlenlp.transformers import LinearDecayWithWarmup
from tqdm.auto import tqdm

from tasks.engine.batching import make_loader
from tasks.engine.task import Task, TaskError, replace_dir

log = logging.getLogger("tasks")
RESUME_DIR = "last"
BEST_DIR = "best"
LOG_FILE = "log.csv"
LOG_FIELDS = ["step", "epoch", "loss", "lr", "eval_metric", "eval_value", "elapsed_s"]


@dataclass
class TrainConfig:
    epochs: float = 3.0
    max_steps: int = 0                 # > 0 overrides epochs
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup: float = 0.1                # < 1: proportion of steps; >= 1: number of steps
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    eval_every: int = 100
    save_every: int = 0                # resume point every N steps (0: at each evaluation)
    early_stop: int = 0                # stop after N evaluations without improvement (0: never)
    seed: int = 42
    eval_batch_size: int = 64
    freeze_embeddings: bool = False    # keep the word-embedding matrix fixed: ~1.5x faster on CPU
    progress: bool = True

    def total_steps(self, steps_per_epoch: int) -> int:
        return self.max_steps if self.max_steps > 0 else max(1, round(self.epochs * steps_per_epoch))

    def warmup_steps(self, total: int) -> int:
        return int(self.warmup) if self.warmup >= 1 else int(self.warmup * total)


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


def freeze_word_embeddings(model):
    """The (large, mostly unused) vocabulary matrix gets no gradient and no AdamW update."""
    model.backbone.get_input_embeddings().weight.stop_gradient = True


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


def save_resume_point(out_dir: Path, model, optimizer, state: TrainerState, config: TrainConfig, task: Task):
    tmp = out_dir / (RESUME_DIR + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    paddle.save(model.state_dict(), str(tmp / "model.pdparams"))
    paddle.save(optimizer.state_dict(), str(tmp / "optimizer.pdopt"))
    meta = {"state": asdict(state), "config": asdict(config), "task": task.describe()}
    (tmp / "trainer_state.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    replace_dir(tmp, out_dir / RESUME_DIR)


def load_resume_point(out_dir: Path, model, optimizer, config: TrainConfig, task: Task) -> TrainerState:
    where = out_dir / RESUME_DIR
    if not (where / "trainer_state.json").is_file() and (out_dir / (RESUME_DIR + ".old")).is_dir():
        where = out_dir / (RESUME_DIR + ".old")  # killed between the two renames
    if not (where / "trainer_state.json").is_file():
        raise TaskError(f"--resume: no resume point in {out_dir} (expected {out_dir / RESUME_DIR}/trainer_state.json); "
                        "run without --resume to start fresh")
    meta = json.loads((where / "trainer_state.json").read_text(encoding="utf-8"))
    saved, current = meta["task"], task.describe()
    for key in ("task", "model", "labels", "max_length"):
        if saved.get(key) != current.get(key):
            raise TaskError(f"--resume: {where} was written for {key}={saved.get(key)!r}, "
                            f"this run has {key}={current.get(key)!r}; use the same settings or a new --out")
    for key in ("batch_size", "seed", "learning_rate", "max_steps", "epochs", "warmup"):
        if meta["config"].get(key) != getattr(config, key):
            raise TaskError(f"--resume: {where} used {key}={meta['config'].get(key)!r}, this run has "
                            f"{getattr(config, key)!r}; resuming with other settings would not reproduce the run")
    model.set_state_dict(paddle.load(str(where / "model.pdparams")))
    optimizer.set_state_dict(paddle.load(str(where / "optimizer.pdopt")))
    return TrainerState(**meta["state"])


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


def is_better(value: float, best: float | None) -> bool:
    return best is None or value > best


def train(task: Task, model, train_features: list[dict], dev_features: list[dict], out_dir: Path,
          config: TrainConfig, resume: bool = False) -> TrainerState:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    loader, sampler = make_loader(train_features, task.collate_fn(), config.batch_size, shuffle=True, seed=config.seed)
    total = config.total_steps(len(sampler))
    optimizer, schedule = make_optimizer(model, config, total)
    state = load_resume_point(out_dir, model, optimizer, config, task) if resume else TrainerState()
    if not resume:
        for stale in (RESUME_DIR, BEST_DIR):
            shutil.rmtree(out_dir / stale, ignore_errors=True)
    csv_log = CsvLog(out_dir / LOG_FILE, keep_until_step=state.step if resume else None)
    metric = task.main_metric
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
            loss = task.loss(model, batch)
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
                result = task.evaluate(model, dev_features, config.eval_batch_size)
                value = float(result[metric])
                row.update(eval_metric=metric, eval_value=round(value, 6))
                state.history.append({"step": state.step, metric: value})
                if is_better(value, state.best_value):
                    state.best_value, state.best_step, state.evals_without_gain = value, state.step, 0
                    task.save(model, out_dir / BEST_DIR)
                else:
                    state.evals_without_gain += 1
                    if config.early_stop and state.evals_without_gain >= config.early_stop:
                        state.stopped_early = True
                bar.write(f"step {state.step}/{total}: dev {metric}={value:.4f} (best {state.best_value:.4f} @ {state.best_step})")
            csv_log.write(**row)
            save_now = (config.save_every and state.step % config.save_every == 0) or (not config.save_every and evaluate_now)
            if state.stopped_early or state.step >= total:
                break
            if save_now:
                save_resume_point(out_dir, model, optimizer, state, config, task)
        else:
            state.epoch += 1
            state.batch_in_epoch = 0
    bar.close()
    csv_log.close()
    if not dev_features:  # nothing to select on: the last weights are the result
        task.save(model, out_dir / BEST_DIR)
    save_resume_point(out_dir, model, optimizer, state, config, task)
    return state
