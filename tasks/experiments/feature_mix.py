"""Feature-based vs fine-tuning, and ELMo's mix of layers, on sentiment, NER and matching.

The encoder is frozen and every layer's output (the embeddings and each Transformer layer) is
computed once per text. Small heads are trained on those features: (a) the top layer, (b) the best
single layer (chosen on dev), (c) ELMo's learned scalar mix gamma * sum_j softmax(w)_j h_j of all
layers. Against them: fine-tuning the encoder's top K layers (the package's trainer, same examples).
Each head and each fine-tuning run over several seeds; the learned layer weights are plotted per
task (the course: "sequence labeling may prefer a mix of layers"; "for BERT on matching,
fine-tuning is clearly better").

Matching here is the dual tower's form (each text encoded alone, compared as [u, v, |u-v|, u*v]),
the form frozen per-text features can take.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from tasks import recipes
from tasks.experiments import markdown_table, spread

TASKS = {"classification": "情感分类", "ner": "命名实体识别", "dual_tower": "文本匹配"}
METHODS = ("top", "best", "mix", "finetune")
METHOD_NAMES = {"top": "冻结：最上层", "best": "冻结：最好的单层", "mix": "冻结：ELMo 式加权混合",
                "finetune": "微调最上面 {k} 层"}
SEEDS = (1, 2, 3)
MAX_LENGTHS = {"classification": 64, "ner": 64, "dual_tower": 48}  # tokens (matching: each text)
STEPS = 60           # every head and every fine-tuning run: the same steps, the same batch size
EVAL_EVERY = 30      # all keep their best dev evaluation
HEAD_LRS = (3e-3, 1e-2, 3e-2)  # a linear head on frozen features learns slowly at fine-tuning rates (1e-3: NER
                               # train F1 0.12 after 150 steps); each task's rate is chosen on dev (top-layer probe)
MIX_LR_SCALE = 10.0  # the mix weights and gamma learn at 10x the head's rate, or they barely leave uniform


def settings(task: str, quick: bool):
    """(fine-tuning recipe, seeds, steps); the heads use the recipe's batch size and these steps."""
    if quick:
        recipe = recipes.get(task, "quick")
        return recipe, SEEDS[:2], recipe.train["max_steps"]
    recipe = recipes.get(task, "demo")
    limits = {"train": 1000, "dev": 200, "test": 600}  # 60 steps: about 2 epochs (NER: 1)
    return dataclasses.replace(recipe, model="e5-small-zh", limits=limits, max_length=MAX_LENGTHS[task],
                               train=recipe.train | {"train_layers": 2, "max_steps": STEPS,
                                                     "eval_every": EVAL_EVERY}), SEEDS, STEPS


# -- every layer's output, once per text ---------------------------------------------------------
def layer_states(model, features: list[dict], field: str, type_field: str | None, keep):
    """Per feature: ``keep(states, feature)`` of its text's hidden states ([tokens, L+1, H]: after the
    embeddings and after each layer) from the frozen encoder, kept reduced (all would not fit). The
    encoder runs as an exported graph (Paddle Inference: 1.4x the eager speed for all 13 layers' outputs
    on a 2-core Xeon; copying them out of the graph takes over a quarter of its time)."""
    import paddle

    from tasks.engine.batching import iterate_in_order, pad_collator
    from tasks.engine.frozen import graph_runner

    rows = [{"input_ids": f[field], "token_type_ids": f.get(type_field) or [0] * len(f[field]),
             "length": len(f[field])} for f in features]
    every_layer, _ = graph_runner(model, lambda ids, types: paddle.stack(model.hidden_states(ids, types), axis=2),
                                  "every layer's output")
    out = [None] * len(rows)
    for idx, batch in iterate_in_order(rows, pad_collator({"input_ids": model.pad_id, "token_type_ids": 0}), 64):
        stacked = every_layer(batch["input_ids"].numpy(), batch["token_type_ids"].numpy())  # [batch, tokens, L+1, H]
        for row, i in enumerate(idx):
            out[i] = keep(stacked[row, :rows[i]["length"]], features[i])
    return out


def token_mean(states, feature):
    return states.mean(0)  # [L+1, H]


def word_states(states, feature):
    return states[feature["word_pieces"]]  # each word at the piece holding it


def mean_over_tokens(model, features, field, type_field) -> np.ndarray:
    return np.stack(layer_states(model, features, field, type_field, token_mean))  # [N, L+1, H]


def task_arrays(task_name: str, task, model, features: list[dict]) -> dict:
    """What the heads read: x [N, L+1, H] (pairs: x and x_b), or per word (NER) with its rank and tag
    and each sentence's first word (``starts``)."""
    if task_name == "classification":
        return {"x": mean_over_tokens(model, features, "input_ids", "token_type_ids"),
                "y": np.array([f["label"] for f in features])}
    if task_name == "dual_tower":
        return {"x": mean_over_tokens(model, features, "a_ids", None),
                "x_b": mean_over_tokens(model, features, "b_ids", None),
                "y": np.array([f["label"] for f in features])}
    words = layer_states(model, features, "input_ids", "token_type_ids", word_states)
    counts = np.array([len(w) for w in words])
    return {"x": np.concatenate(words), "starts": np.concatenate([[0], np.cumsum(counts)]),
            "rank": np.concatenate([np.minimum(np.array(f["word_offsets"]), 3) for f in features]),
            "y": np.concatenate([np.array(f["tags"]) for f in features]), "gold": [f["gold"] for f in features],
            "num_words": [f["num_words"] for f in features]}


def standardize(arrays: dict):
    """Each layer's features to zero mean and unit variance per dimension (the training split's
    statistics), in place. The layers' scales differ (the top layer's spread is a third of the others'),
    and an unscaled probe or mix would favour the wide ones (ELMo normalises layers before mixing)."""
    keys = ("x", "x_b") if "x_b" in arrays["train"] else ("x",)
    stacked = np.concatenate([arrays["train"][k] for k in keys])
    mean, std = stacked.mean(0), stacked.std(0) + 1e-6  # [L+1, H]
    for split in arrays.values():
        for k in keys:
            split[k] = ((split[k] - mean) / std).astype(np.float16 if "starts" in split else np.float32)  # NER: big


# -- heads ------------------------------------------------------------------------------------------
def make_head(task_name: str, layers: int, hidden: int, tags: int, mode: str, layer: int | None = None):
    import paddle
    import paddle.nn as nn
    import paddle.nn.functional as F

    class Head(nn.Layer):
        """mode ``mix``: gamma * sum_j softmax(w)_j h_j (ELMo); ``one``: the single layer ``layer``."""

        def __init__(self):
            super().__init__()
            self.mode, self.layer = mode, layer
            mix_rate = paddle.ParamAttr(learning_rate=MIX_LR_SCALE)
            self.w = self.create_parameter([layers], attr=mix_rate, default_initializer=nn.initializer.Constant(0.0))
            self.gamma = self.create_parameter([1], attr=paddle.ParamAttr(learning_rate=MIX_LR_SCALE),
                                               default_initializer=nn.initializer.Constant(1.0))
            inputs = 4 * hidden if task_name == "dual_tower" else hidden
            outputs = 4 * tags if task_name == "ner" else 2
            self.linear = nn.Linear(inputs, outputs)

        def combine(self, x):  # [..., L+1, H] -> [..., H]
            if self.mode == "one":
                return x[..., self.layer, :]
            return self.gamma * (F.softmax(self.w).reshape([-1, 1]) * x).sum(-2)

        def forward(self, x, x_b=None, rank=None):
            h = self.combine(x)
            if x_b is not None:
                v = self.combine(x_b)
                h = paddle.concat([h, v, (h - v).abs(), h * v], axis=-1)
            logits = self.linear(h)
            if rank is None:
                return logits
            logits = logits.reshape([logits.shape[0], 4, -1])  # a classifier per rank in the piece
            return paddle.take_along_axis(logits, rank.reshape([-1, 1, 1]).expand([-1, 1, logits.shape[-1]]),
                                          axis=1).squeeze(1)

        def weights(self) -> list[float]:
            return F.softmax(self.w).numpy().round(4).tolist()

    return Head()


def batch_rows(data: dict, examples: np.ndarray) -> np.ndarray:
    """The feature rows of some examples (NER: every word of the sentences)."""
    if "starts" not in data:
        return examples
    return np.concatenate([np.arange(data["starts"][i], data["starts"][i + 1]) for i in examples])


def head_inputs(data: dict, rows):
    import paddle

    kwargs = {"x_b": paddle.to_tensor(data["x_b"][rows].astype(np.float32))} if "x_b" in data else {}
    if "rank" in data:
        kwargs["rank"] = paddle.to_tensor(data["rank"][rows])
    return paddle.to_tensor(data["x"][rows].astype(np.float32)), kwargs


def train_head(task_name: str, data: dict, dev: dict, tags: int, mode: str, layer: int | None, seed: int,
               steps: int, batch_size: int, labels: list[str], learning_rate: float):
    """A head trained with AdamW on the cached features, ``batch_size`` examples (sentences) a step,
    evaluated on dev every EVAL_EVERY steps; returns (head at its best dev evaluation, that metric)."""
    import paddle
    import paddle.nn.functional as F

    paddle.seed(seed)
    rng = np.random.default_rng(seed)
    examples = len(data["starts"]) - 1 if "starts" in data else len(data["y"])
    head = make_head(task_name, data["x"].shape[-2], data["x"].shape[-1], tags, mode, layer)
    optimizer = paddle.optimizer.AdamW(learning_rate=learning_rate, parameters=head.parameters(), weight_decay=0.01)
    best, best_state = -1.0, None
    for step in range(1, steps + 1):
        rows = batch_rows(data, rng.integers(0, examples, batch_size))
        x, kwargs = head_inputs(data, rows)
        loss = F.cross_entropy(head(x, **kwargs), paddle.to_tensor(data["y"][rows]))
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        if step % EVAL_EVERY == 0 or step == steps:
            value = score(task_name, head, dev, labels)
            if value > best:
                best, best_state = value, {k: v.numpy().copy() for k, v in head.state_dict().items()}
    head.set_state_dict(best_state)
    return head, best


def score(task_name: str, head, data: dict, labels: list[str]) -> float:
    """Accuracy, or (NER) chunk F1 with argmax tags per word."""
    import paddle

    from tasks.engine.metrics import chunk_scores

    head.eval()
    with paddle.no_grad():
        x, kwargs = head_inputs(data, slice(None))
        pred = head(x, **kwargs).numpy().argmax(-1)
    head.train()
    if task_name != "ner":
        return float((pred == data["y"]).mean())
    starts = data["starts"]
    sequences = []
    for i, num_words in enumerate(data["num_words"]):
        tags = [labels[t] for t in pred[starts[i]:starts[i + 1]]]
        sequences.append(tags + ["O"] * (num_words - len(tags)))
    return float(chunk_scores(data["gold"], sequences)["f1"])


# -- the experiment ---------------------------------------------------------------------------------
def run_task(task_name: str, quick: bool, out: Path) -> dict:
    import paddle

    from tasks.engine.checkpoint import task_class
    from tasks.engine.runner import labels_for, load_split

    recipe, seeds, steps = settings(task_name, quick)
    cls = task_class(task_name)
    splits = {s: load_split(cls, "offline", s, recipe.limits.get(s), seed=seeds[0]) for s in ("train", "dev", "test")}
    labels, _ = labels_for(cls, splits["train"], None, "offline")
    task = cls(recipe.model, labels, recipe.max_length, recipe.task_options())
    paddle.seed(0)
    encoder_model = task.build_model(recipe.model)
    arrays = {s: task_arrays(task_name, task, encoder_model, task.encode_all(ex)) for s, ex in splits.items()}
    standardize(arrays)
    layers = len(encoder_model.layers) + 1
    batch_size = recipe.train["batch_size"]
    rows, mix_weights = [], []
    # the heads' learning rate: the top-layer probe's best on dev (first seed)
    lr_dev = {lr: train_head(task_name, arrays["train"], arrays["dev"], len(labels), "one", layers - 1, seeds[0],
                             steps, batch_size, labels, lr)[1] for lr in HEAD_LRS}
    head_lr = max(lr_dev, key=lr_dev.get)
    # (b) the best single layer: one probe per layer (first seed), chosen on dev
    probe_dev = [train_head(task_name, arrays["train"], arrays["dev"], len(labels), "one", j, seeds[0], steps,
                            batch_size, labels, head_lr)[1] for j in range(layers)]
    best_layer = int(np.argmax(probe_dev))
    for seed in seeds:
        for method, mode, layer in (("top", "one", layers - 1), ("best", "one", best_layer), ("mix", "mix", None)):
            head, _ = train_head(task_name, arrays["train"], arrays["dev"], len(labels), mode, layer, seed, steps,
                                 batch_size, labels, head_lr)
            rows.append({"task": task_name, "method": method, "seed": seed, "steps": steps,
                         "metric": round(score(task_name, head, arrays["test"], labels), 4)})
            if method == "mix":
                mix_weights.append(head.weights())
        # (d) fine-tuning the top K layers with the package's trainer: same examples, steps and batch size
        tuned = dataclasses.replace(recipe, train=recipe.train | {"seed": seed})
        result = tuned.run_train(out / "runs" / f"{task_name}-finetune-seed{seed}", overwrite=True,
                                 limits_seed=seeds[0])  # the heads' examples
        rows.append({"task": task_name, "method": "finetune", "seed": seed, "metric": round(result["metric"], 4),
                     "steps": result["steps"]})
    return {"rows": rows, "probe_dev_by_layer": [round(v, 4) for v in probe_dev], "best_layer": best_layer,
            "mix_weights_mean": np.mean(mix_weights, axis=0).round(4).tolist(), "layers": layers,
            "train_layers": recipe.train.get("train_layers"), "steps": steps, "batch_size": batch_size,
            "head_lr": head_lr, "head_lr_dev": {f"{k:g}": round(v, 4) for k, v in lr_dev.items()},
            "examples": {s: len(v) for s, v in splits.items()},
            "model": recipe.model}


def run(quick: bool, out: Path) -> dict:
    per_task = {name: run_task(name, quick, out) for name in TASKS}
    rows = [r for t in per_task.values() for r in t["rows"]]
    summary = {name: {method: spread([r["metric"] for r in t["rows"] if r["method"] == method]) for method in METHODS}
               for name, t in per_task.items()}
    table_rows = []
    for name, t in per_task.items():
        for method in METHODS:
            s = summary[name][method]
            label = METHOD_NAMES[method].format(k=t["train_layers"])
            if method == "best":
                label += f"（第 {t['best_layer']} 层）"
            table_rows.append({"任务": TASKS[name], "方法": label, "测试集均值": s["mean"], "标准差": s["std"],
                               "最低": s["min"], "最高": s["max"]})
    table = markdown_table(table_rows, ["任务", "方法", "测试集均值", "标准差", "最低", "最高"])
    parts = []
    for name, t in per_task.items():
        s = summary[name]
        weights = t["mix_weights_mean"]
        parts.append(f"{TASKS[name]}：微调 {s['finetune']['mean']:.4f}，冻结最上层 {s['top']['mean']:.4f}，"
                     f"最好的单层（第 {t['best_layer']} 层）{s['best']['mean']:.4f}，混合 {s['mix']['mean']:.4f}；"
                     f"混合权重最大的是第 {int(np.argmax(weights))} 层（{max(weights):.2f}）")
    conclusion = f"{len(per_task['classification']['rows']) // len(METHODS)} 个种子。" + "；".join(parts) + "。"
    figure(per_task, summary, out / "figure.png")
    return {"seeds": list(settings("classification", quick)[1]), "rows": rows, "summary": summary,
            "per_task": {name: {k: v for k, v in t.items() if k != "rows"} for name, t in per_task.items()},
            "table": table, "conclusion": conclusion}


def figure(per_task: dict, summary: dict, path: Path):
    from tasks.engine.plots import new_figure, save_figure

    fig = new_figure(figsize=(13, 4), layout="constrained")
    ax_bars, ax_w = fig.subplots(1, 2)
    colors = {"top": "tab:gray", "best": "tab:green", "mix": "tab:purple", "finetune": "tab:orange"}
    for i, (name, t) in enumerate(per_task.items()):
        for k, method in enumerate(METHODS):
            values = [r["metric"] for r in t["rows"] if r["method"] == method]
            x = i + (k - 1.5) * 0.2
            ax_bars.bar(x, np.mean(values), width=0.2, color=colors[method], alpha=0.6,
                        label=METHOD_NAMES[method].format(k=t["train_layers"]) if i == 0 else None)
            ax_bars.plot([x] * len(values), values, "k.", ms=4)
        ax_w.plot(range(t["layers"]), t["mix_weights_mean"], "o-", label=TASKS[name])
    ax_bars.set_xticks(range(len(per_task)), [TASKS[n] for n in per_task])
    ax_bars.set_ylabel("测试集（准确率 / F1）")
    ax_bars.set_title("冻结特征与微调（点：各种子）")
    ax_bars.legend(fontsize=8)
    ax_w.set(xlabel="层（0 = 词嵌入）", ylabel="softmax(w)", title="ELMo 式混合学到的各层权重（各种子平均）")
    ax_w.legend()
    save_figure(fig, path)
