"""What a training run does besides training, as callbacks (the shape of PaddleNLP's
``TrainerCallback``): each gets the ``Run`` (trainer.py) at ``on_train_begin``, ``on_evaluate``
(with the dev result and the log row), ``on_step_end`` (with the log row) and ``on_train_end``.
Only the main process writes (one process unless launched on several)."""
from __future__ import annotations

import csv
from pathlib import Path

from tqdm.auto import tqdm

from tasks.engine import checkpoint, distributed

LOG_FILE = "log.csv"
VISUALDL_DIR = "visualdl"
LOG_FIELDS = ["step", "epoch", "loss", "lr", "eval_metric", "eval_value", "elapsed_s", "eval_s"]  # eval_s: cumulative


class Callback:
    def on_train_begin(self, run):
        pass

    def on_evaluate(self, run, result: dict, row: dict):
        pass

    def on_step_end(self, run, row: dict):
        pass

    def on_train_end(self, run):
        pass


class CsvLog(Callback):
    """log.csv, a row per step; on resume, rows after the resume step are dropped."""

    def __init__(self, path: Path, keep_until_step: int | None):
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

    def on_step_end(self, run, row):
        self.writer.writerow(row)
        self.file.flush()

    def on_train_end(self, run):
        self.file.close()


class VisualDLLog(Callback):
    """The same scalars as log.csv, for PaddlePaddle's dashboard (`visualdl --logdir RUN/visualdl`)."""

    def __init__(self, logdir: Path):
        from visualdl import LogWriter

        self.writer = LogWriter(logdir=str(logdir))

    def on_step_end(self, run, row):
        self.writer.add_scalar("train/loss", row["loss"], row["step"])
        self.writer.add_scalar("train/learning_rate", row["lr"], row["step"])
        if row.get("eval_metric"):
            self.writer.add_scalar(f"dev/{row['eval_metric']}", row["eval_value"], row["step"])

    def on_train_end(self, run):
        self.writer.close()


class ProgressBar(Callback):
    """A bar on a terminal only (disable=None: none in CI logs), and a line per evaluation."""

    def on_train_begin(self, run):
        self.bar = tqdm(total=run.state.total_steps, initial=run.state.step, desc=f"train {run.task.name}",
                        disable=None if run.config.progress else True, dynamic_ncols=True, leave=False)

    def on_evaluate(self, run, result, row):
        state = run.state
        self.bar.write(f"step {state.step}/{state.total_steps}: dev {run.metric}={row['eval_value']:.4f} "
                       f"(best {state.best_value:.4f} @ {state.best_step})")

    def on_step_end(self, run, row):
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{row['loss']:.4f}", lr=f"{row['lr']:.2e}")

    def on_train_end(self, run):
        self.bar.close()


class KeepBest(Callback):
    """The best dev evaluation's weights in best/ (``task.on_new_best`` first: the dual tower stores
    its threshold); without a dev split, the last weights."""

    def __init__(self, write: bool):
        self.write = write

    def on_evaluate(self, run, result, row):
        state, value = run.state, float(result[run.metric])
        state.history.append({"step": state.step, run.metric: value})
        if state.best_value is None or value > state.best_value:
            state.best_value, state.best_step = value, state.step
            state.best_metrics = {k: v for k, v in result.items() if isinstance(v, (int, float))}
            run.task.on_new_best(run.model, result)
            if self.write:
                checkpoint.save(run.task, run.model, run.out_dir / checkpoint.BEST_DIR)

    def on_train_end(self, run):
        if self.write and not run.dev_features:  # nothing to select on: the last weights are the result
            checkpoint.save(run.task, run.model, run.out_dir / checkpoint.BEST_DIR)


class EarlyStop(Callback):
    """Stop after ``patience`` evaluations without a new best (0: never), or once the dev metric
    reaches ``stop_at``."""

    def __init__(self, patience: int, stop_at: float | None):
        self.patience, self.stop_at = patience, stop_at

    def on_evaluate(self, run, result, row):
        state, value = run.state, float(result[run.metric])
        state.evals_without_gain = 0 if state.best_step == state.step else state.evals_without_gain + 1  # after KeepBest
        if (self.patience and state.evals_without_gain >= self.patience) or (self.stop_at is not None and value >= self.stop_at):
            state.stopped_early = True


class ResumePoints(Callback):
    """last/: weights, optimiser, schedule and position, every ``save_every`` steps (0: at each
    evaluation) and at the end, so `train --resume` continues where a run stopped."""

    def __init__(self, save_every: int):
        self.save_every = save_every

    def on_step_end(self, run, row):
        due = run.state.step % self.save_every == 0 if self.save_every else "eval_value" in row
        if due and not run.state.stopped_early and run.state.step < run.state.total_steps:
            self.save(run)

    def on_train_end(self, run):
        self.save(run)

    @staticmethod
    def save(run):
        checkpoint.save_resume_point(run.out_dir, run.model, run.optimizer, run.state, run.config, run.task)


def default_callbacks(run, resume: bool) -> list[Callback]:
    config, main = run.config, distributed.is_main()
    callbacks = [KeepBest(write=main), EarlyStop(config.early_stop, config.stop_at)]
    if main:
        callbacks += [CsvLog(run.out_dir / LOG_FILE, run.state.step if resume else None), ResumePoints(config.save_every),
                      ProgressBar()]
        if config.visualdl:
            callbacks.append(VisualDLLog(run.out_dir / VISUALDL_DIR))
    return callbacks
