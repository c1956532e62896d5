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
HEAD_STEPS = 300
BATCH = 64


def settings(task: str, quick: bool):
    if quick:
        return recipes.get(task, "quick"), SEEDS[:2], 20
    recipe = recipes.get(task, "demo")
    limits = {"train": 1000, "dev": 300, "test": 800}  # 32 (NER 63) fine-tuning steps per seed
    return dataclasses.replace(recipe, model="e5-small-zh", limits=limits,
                               train=recipe.train | {"train_layers": 2, "eval_every": 1000}), SEEDS, HEAD_STEPS


# -- every layer's output, once per text ---------------------------------------------------------
def layer_states(model, features: list[dict], field: str, type_field: str | None, keep):
    """Per feature: ``keep(states, feature)`` of its text's hidden states after the embeddings and after
    each layer ([tokens, L+1, H]), from the frozen encoder (kept reduced: all of them would not fit)."""
    import paddle

    from tasks.engine.batching import iterate_in_order, pad_collator

    rows = [{"input_ids": f[field], "token_type_ids": f.get(type_field) or [0] * len(f[field]),
             "length": len(f[field])} for f in features]
    out = [None] * len(rows)
    model.eval()
    with paddle.no_grad():
        for idx, batch in iterate_in_order(rows, pad_collator({"input_ids": model.pad_id, "token_type_ids": 0}), 64):
            ids = batch["input_ids"]
            hidden, bias = model.embed_tokens(ids, batch["token_type_ids"]), model.attention_bias(ids)
            states = [hidden]
            for layer in model.layers:
                hidden = layer(hidden, bias)
                states.append(hidden)
            stacked = paddle.stack(states, axis=2).numpy()  # [batch, tokens, L+1, H]
            for row, i in enumerate(idx):
                out[i] = keep(stacked[row, :rows[i]["length"]], features[i])
    return out


def token_mean(states, feature):
    return states.mean(0)  # [L+1, H]


def word_states(states, feature):
    return states[feature["word_pieces"]].astype(np.float16)  # each word at the piece holding it


def mean_over_tokens(model, features, field, type_field) -> np.ndarray:
    return np.stack(layer_states(model, features, field, type_field, token_mean))  # [N, L+1, H]


def task_arrays(task_name: str, task, model, features: list[dict]) -> dict:
    """What the heads read: x [N, L+1, H] (pairs: x and x_b), or per word (NER) with its rank and tag."""
    if task_name == "classification":
        return {"x": mean_over_tokens(model, features, "input_ids", "token_type_ids"),
                "y": np.array([f["label"] for f in features])}
    if task_name == "dual_tower":
        return {"x": mean_over_tokens(model, features, "a_ids", None),
                "x_b": mean_over_tokens(model, features, "b_ids", None),
                "y": np.array([f["label"] for f in features])}
    words = layer_states(model, features, "input_ids", "token_type_ids", word_states)
    return {"words": words, "rank": [np.minimum(np.array(f["word_offsets"]), 3) for f in features],
            "tags": [np.array(f["tags"]) for f in features], "gold": [f["gold"] for f in features],
            "features": features}


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
            self.w = self.create_parameter([layers], default_initializer=nn.initializer.Constant(0.0))
            self.gamma = self.create_parameter([1], default_initializer=nn.initializer.Constant(1.0))
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


def flat_words(data: dict):
    return (np.concatenate(data["words"]), np.concatenate(data["rank"]), np.concatenate(data["tags"]))


def train_head(task_name: str, data: dict, dev: dict, tags: int, mode: str, layer: int | None, seed: int,
               steps: int, labels: list[str]):
    """A head trained with AdamW on the cached features; returns (head, dev metric) at its best dev
    evaluation (every 50 steps)."""
    import paddle
    import paddle.nn.functional as F

    paddle.seed(seed)
    rng = np.random.default_rng(seed)
    if task_name == "ner":
        x, rank, y = flat_words(data)
    else:
        x, rank, y = data["x"], None, data["y"]
    layers, hidden = x.shape[1], x.shape[2]
    head = make_head(task_name, layers, hidden, tags, mode, layer)
    optimizer = paddle.optimizer.AdamW(learning_rate=1e-3, parameters=head.parameters(), weight_decay=0.01)
    best, best_state = -1.0, None
    for step in range(1, steps + 1):
        rows = rng.integers(0, len(y), BATCH * (8 if task_name == "ner" else 1))
        inputs = [paddle.to_tensor(x[rows].astype(np.float32))]
        kwargs = {"x_b": paddle.to_tensor(data["x_b"][rows].astype(np.float32))} if task_name == "dual_tower" else {}
        if rank is not None:
            kwargs["rank"] = paddle.to_tensor(rank[rows])
        loss = F.cross_entropy(head(*inputs, **kwargs), paddle.to_tensor(y[rows]))
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        if step % 50 == 0 or step == steps:
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
        if task_name != "ner":
            kwargs = {"x_b": paddle.to_tensor(data["x_b"].astype(np.float32))} if task_name == "dual_tower" else {}
            pred = head(paddle.to_tensor(data["x"].astype(np.float32)), **kwargs).numpy().argmax(-1)
            head.train()
            return float((pred == data["y"]).mean())
        x, rank, _ = flat_words(data)
        pred = head(paddle.to_tensor(x.astype(np.float32)), rank=paddle.to_tensor(rank)).numpy().argmax(-1)
    head.train()
    sequences, start = [], 0
    for words, feature in zip(data["words"], data["features"]):
        tags = [labels[i] for i in pred[start:start + len(words)]]
        sequences.append(tags + ["O"] * (feature["num_words"] - len(tags)))
        start += len(words)
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
    layers = len(encoder_model.layers) + 1
    rows, mix_weights = [], []
    # (b) the best single layer: one probe per layer (first seed), chosen on dev
    probe_dev = [train_head(task_name, arrays["train"], arrays["dev"], len(labels), "one", j, seeds[0], steps,
                            labels)[1] for j in range(layers)]
    best_layer = int(np.argmax(probe_dev))
    for seed in seeds:
        for method, mode, layer in (("top", "one", layers - 1), ("best", "one", best_layer), ("mix", "mix", None)):
            head, _ = train_head(task_name, arrays["train"], arrays["dev"], len(labels), mode, layer, seed, steps, labels)
            rows.append({"task": task_name, "method": method, "seed": seed,
                         "metric": round(score(task_name, head, arrays["test"], labels), 4)})
            if method == "mix":
                mix_weights.append(head.weights())
        # (d) fine-tuning the top K layers with the package's trainer, on the same examples
        tuned = dataclasses.replace(recipe, train=recipe.train | {"seed": seed})
        result = tuned.run_train(out / "runs" / f"{task_name}-finetune-seed{seed}", overwrite=True,
                                 limits_seed=seeds[0])  # the heads' examples
        rows.append({"task": task_name, "method": "finetune", "seed": seed, "metric": round(result["metric"], 4)})
    return {"rows": rows, "probe_dev_by_layer": [round(v, 4) for v in probe_dev], "best_layer": best_layer,
            "mix_weights_mean": np.mean(mix_weights, axis=0).round(4).tolist(), "layers": layers,
            "train_layers": recipe.train.get("train_layers"), "examples": {s: len(v) for s, v in splits.items()},
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
    from tasks.engine.plots import _figure, _save

    fig = _figure(figsize=(13, 4), layout="constrained")
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
    _save(fig, path)
