"""What fine-tuning has to beat: the frozen encoder's features with a logistic regression.

The whole pretrained encoder runs once per text (Paddle Inference, as the frozen bottom of
``--train-layers``), its last layer is mean-pooled over the real tokens (as e5 was pretrained),
and scikit-learn's LogisticRegression is fit on train, its C chosen on dev, scored on test.
Fine-tuning that does not beat this number has not earned its CPU time.
"""
from __future__ import annotations

import time

import numpy as np

from tasks.config import TrainConfig
from tasks.engine.frozen import text_key
from tasks.engine.runner import labels_for, load_split, task_class
from tasks.errors import TaskError

C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 1.0)


def frozen_features_baseline(task_name: str = "classification", model_name: str = "e5-small-zh",
                             data: str = "offline", max_length: int = 128, limits: dict | None = None,
                             progress: bool = True, cache_dir: str | None = TrainConfig.cache_dir,
                             seed: int = TrainConfig.seed) -> dict:
    """``limits``: fixed random subsets per split, drawn with ``seed`` as `train` draws them (so a
    baseline and a training run with the same limits and seed see the same examples)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    started = time.time()
    cls = task_class(task_name)
    if cls.data_kind not in ("classification", "matching") or task_name == "dual_tower":
        raise TaskError(f"baseline --task {task_name}: expected classification or single_tower "
                        "(one text or text pair per example, one label)")
    limits = limits or {}
    splits = {s: load_split(cls, data, s, limits.get(s), seed) for s in ("train", "dev", "test")}
    labels, _ = labels_for(cls, splits["train"], None, data)
    task = cls(model_name, labels, max_length)
    features = {s: task.encode_all(examples, what=f"{data} {s} split") for s, examples in splits.items()}
    model = task.build_model(model_name)
    prefix = model.freeze_prefix(len(model.layers))  # every layer frozen
    prefix.fill(*features.values(), cache_dir=cache_dir, cache_gb=TrainConfig.cache_gb, progress=progress)

    def matrix(split):
        rows = [prefix.store[text_key(f["input_ids"], f["token_type_ids"])] for f in features[split]]
        return np.stack([r.astype(np.float32).mean(0) for r in rows]), np.array([f["label"] for f in features[split]])

    (x_train, y_train), (x_dev, y_dev), (x_test, y_test) = matrix("train"), matrix("dev"), matrix("test")
    scaler = StandardScaler().fit(x_train)
    x_train, x_dev, x_test = scaler.transform(x_train), scaler.transform(x_dev), scaler.transform(x_test)
    fits = {c: LogisticRegression(C=c, max_iter=3000).fit(x_train, y_train) for c in C_GRID}
    dev_scores = {c: float((fit.predict(x_dev) == y_dev).mean()) for c, fit in fits.items()}
    best = max(C_GRID, key=lambda c: dev_scores[c])
    return {"task": task_name, "model": model_name, "data": data, "max_length": max_length,
            "method": "frozen encoder, last layer mean-pooled, logistic regression (C chosen on dev)",
            "C": best, "dev_accuracy": round(dev_scores[best], 4),
            "dev_by_C": {str(c): round(v, 4) for c, v in dev_scores.items()},
            "test_accuracy": round(float((fits[best].predict(x_test) == y_test).mean()), 4),
            "train_examples": len(y_train), "minutes": round((time.time() - started) / 60, 2)}
