"""Single tower (a real cross-encoder) vs dual tower, fairly: same encoder, same examples, same steps.

The single tower reads ``[CLS] a [SEP] b [SEP]`` through every layer of the encoder (the texts attend
to each other from the first layer; the top 2 layers are trained, as the dual tower's); the dual
tower encodes each text alone. Two matching sets:
  halves      the derived review halves (data/matching_derived): is b the rest of a's review?
  word_order  PAWS-style (data/matching_word_order): the same characters, two entities swapped;
              coordinated (same meaning) or in different roles (different meaning).
Reported: test accuracy over seeds with the chance and character-overlap baselines; the time to
score one query against its candidates with each model as it runs (no cache); and retrieval
(recall@1/@10) with the dual tower alone and with the single tower reranking the dual tower's top
candidates.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from tasks import recipes
from tasks.data.datasets import WORD_ORDER_DIR
from tasks.experiments import markdown_table, spread
from tasks.io import REPO_ROOT

SETS = {"halves": ("offline", "评论前后半句（派生）"), "word_order": (str(REPO_ROOT / "data" / WORD_ORDER_DIR), "词序（实体互换）")}
MAX_LENGTHS = {"halves": 64, "word_order": 90}  # tokens per text (the single tower's joint input: twice that)
TOWERS = {"single": "单塔（交叉编码器）", "dual": "双塔"}
SEEDS = (1, 2, 3)
STEPS = 150
RERANK_QUERIES, RERANK_TOP = 100, 20  # queries reranked (first seed's models), candidates each from the dual tower
LATENCY_QUERIES = 10


def settings(quick: bool, set_name: str = "halves"):
    """(recipe per tower, seeds) for one set."""
    budget = "quick" if quick else "demo"
    single = recipes.get("single_tower", budget).with_options(joint_layers=0, negatives=0, pooling="pair")
    dual = recipes.get("dual_tower", budget)
    length = MAX_LENGTHS[set_name]
    if quick:
        return {"single": dataclasses.replace(single, max_length=2 * length),
                "dual": dataclasses.replace(dual, max_length=length)}, SEEDS[:2]
    limits = {"train": 2400, "dev": 300, "test": 700}  # the word-order train split has ~1,700 pairs
    train = dict(recipes.DEMO_TRAIN, learning_rate=2e-4, train_layers=2, max_steps=STEPS, eval_every=50)
    return {"single": dataclasses.replace(single, max_length=2 * length, limits=limits, train=train),  # both texts
            "dual": dataclasses.replace(dual, max_length=length, limits=limits, train=train)}, SEEDS


def overlap_accuracy(data: str, recipe) -> float:
    """The character-overlap baseline on the examples the towers see (threshold tuned on dev)."""
    from tasks.data.build import overlap_baseline
    from tasks.engine.checkpoint import task_class
    from tasks.engine.runner import load_split

    cls = task_class("dual_tower")
    dev, test = (load_split(cls, data, split, recipe.limits.get(split), SEEDS[0]) for split in ("dev", "test"))
    return overlap_baseline(dev, test)["test_accuracy"]


def retrieval_pool(examples: list[dict]):
    """(queries, candidates, gold index): each matching pair's a must find its own b among all b's."""
    candidates = sorted({e["text_b"] for e in examples})
    where = {text: i for i, text in enumerate(candidates)}
    positives = [e for e in examples if e["label"] == "1"][:RERANK_QUERIES]
    return [e["text_a"] for e in positives], candidates, np.array([where[e["text_b"]] for e in positives])


def recall(ranked: np.ndarray, gold: np.ndarray) -> dict:
    hit = ranked == gold[:, None]
    return {f"recall@{k}": round(float(hit[:, :k].any(1).mean()), 4) for k in (1, 10)}


def pair_scores(task, model, query: str, candidates: list[str]) -> np.ndarray:
    """The single tower's match probability of (query, candidate) pairs."""
    features = task.encode_all([{"text_a": query, "text_b": c} for c in candidates], with_label=False)
    return task.probabilities(model, features, batch_size=len(candidates))[:, task.positive]


def rerank_and_time(single_dir: Path, dual_dir: Path, examples: list[dict]) -> dict:
    """Recall@1/@10 of the dual tower over all candidates, then with its top RERANK_TOP reranked by the
    single tower; and the milliseconds to score one query against RERANK_TOP candidates with each."""
    import paddle

    from tasks.engine.checkpoint import load

    single_task, single = load(single_dir)   # as deployed: no frozen-layer cache, eval mode
    dual_task, dual = load(dual_dir)
    queries, candidates, gold = retrieval_pool(examples)
    with paddle.no_grad():
        cand_vecs = dual_task.embed_texts(dual, candidates)
        query_vecs = dual_task.embed_texts(dual, queries)
        top = np.argsort(-(query_vecs @ cand_vecs.T), axis=1)[:, :RERANK_TOP]
        reranked = np.stack([row[np.argsort(-pair_scores(single_task, single, q, [candidates[i] for i in row]),
                                            kind="stable")] for q, row in zip(queries, top)])
        timings = {"single": [], "dual": []}
        for q, row in zip(queries[:LATENCY_QUERIES + 1], top):
            texts = [candidates[i] for i in row]
            started = time.perf_counter()
            pair_scores(single_task, single, q, texts)
            timings["single"].append(time.perf_counter() - started)
            started = time.perf_counter()  # the candidates' vectors are in the index already
            (dual_task.embed_texts(dual, [q]) @ cand_vecs[row].T).argsort()
            timings["dual"].append(time.perf_counter() - started)
    return {"dual": recall(top, gold), "dual_then_single": recall(reranked, gold), "queries": len(queries),
            "candidates": len(candidates), "top": RERANK_TOP,
            "ms_per_query": {k: round(1000 * float(np.median(v[1:])), 1) for k, v in timings.items()}}  # 1st: warm-up


def run(quick: bool, out: Path) -> dict:
    from tasks.data.build import ensure_built
    from tasks.engine.checkpoint import task_class
    from tasks.engine.runner import load_split

    ensure_built(REPO_ROOT)
    rows, per_set, used = [], {}, {}
    for set_name, (data, _) in SETS.items():
        towers, seeds = settings(quick, set_name)
        used[set_name] = {t: dataclasses.asdict(r) for t, r in towers.items()}
        folders = {}
        for seed in seeds:
            for tower, recipe in towers.items():
                tuned = dataclasses.replace(recipe, train=recipe.train | {"seed": seed})
                folder = out / "runs" / f"{set_name}-{tower}-seed{seed}"
                result = tuned.run_train(folder, data=data, overwrite=True, limits_seed=seeds[0])
                folders.setdefault(tower, folder)
                rows.append({"set": set_name, "tower": tower, "seed": seed, "steps": result["steps"],
                             "accuracy": round(result["metric"], 4), "test_examples": result["test_examples"],
                             "minutes": round(result.get("minutes", 0.0), 2)})
        test = load_split(task_class("dual_tower"), data, "test", towers["dual"].limits.get("test"), seeds[0])
        per_set[set_name] = {"overlap_baseline": round(overlap_accuracy(data, towers["dual"]), 4), "chance": 0.5,
                             **rerank_and_time(folders["single"] / "best", folders["dual"] / "best", test)}
    summary = {s: {t: spread([r["accuracy"] for r in rows if r["set"] == s and r["tower"] == t]) for t in TOWERS}
               for s in SETS}
    for s in SETS:
        gaps = [a["accuracy"] - b["accuracy"] for a, b in zip(
            [r for r in rows if r["set"] == s and r["tower"] == "single"],
            [r for r in rows if r["set"] == s and r["tower"] == "dual"])]
        summary[s]["single_minus_dual"] = spread(gaps)
    table_rows = []
    for s, (_, set_label) in SETS.items():
        for t, tower_label in TOWERS.items():
            acc = summary[s][t]
            table_rows.append({"数据": set_label, "模型": tower_label, "测试准确率 均值": acc["mean"], "标准差": acc["std"],
                               "最低": acc["min"], "最高": acc["max"],
                               "字符重合基线": per_set[s]["overlap_baseline"],
                               "每个查询耗时 ms": per_set[s]["ms_per_query"][t]})
    table = markdown_table(table_rows, ["数据", "模型", "测试准确率 均值", "标准差", "最低", "最高", "字符重合基线",
                                        "每个查询耗时 ms"])
    recall_rows = [{"数据": SETS[s][1], "方法": method, **per_set[s][key]}
                   for s in SETS for key, method in (("dual", "双塔检索"),
                                                     ("dual_then_single", f"双塔取前 {RERANK_TOP} 个，单塔重排"))]
    table += "\n\n" + markdown_table(recall_rows, ["数据", "方法", "recall@1", "recall@10"])
    parts = []
    for s, (_, set_label) in SETS.items():
        d, p = summary[s]["single_minus_dual"], per_set[s]
        parts.append(f"{set_label}：单塔 {summary[s]['single']['mean']:.4f}，双塔 {summary[s]['dual']['mean']:.4f}"
                     f"（单塔减双塔 {d['mean']:+.4f}，逐种子 {d['min']:+.4f} 到 {d['max']:+.4f}；字符重合基线 "
                     f"{p['overlap_baseline']:.4f}，随机 0.5）；重排 recall@1 {p['dual']['recall@1']:.2f} → "
                     f"{p['dual_then_single']['recall@1']:.2f}")
    conclusion = (f"{len(seeds)} 个种子，两种模型步数相同（{rows[0]['steps']} 步）。" + "；".join(parts) +
                  f"。每个查询对 {RERANK_TOP} 个候选打分：单塔 {per_set['halves']['ms_per_query']['single']:g} ms，"
                  f"双塔 {per_set['halves']['ms_per_query']['dual']:g} ms（候选向量已在索引里）。")
    figure(rows, summary, per_set, out / "figure.png")
    return {"recipes": used, "seeds": list(seeds), "rows": rows,
            "summary": summary, "per_set": per_set, "table": table, "conclusion": conclusion}


def figure(rows, summary, per_set, path: Path):
    from tasks.engine.plots import new_figure, save_figure

    fig = new_figure(figsize=(14, 4), layout="constrained")
    ax_acc, ax_ms, ax_rec = fig.subplots(1, 3)
    colors = {"single": "tab:orange", "dual": "tab:blue"}
    for i, s in enumerate(SETS):
        for k, t in enumerate(TOWERS):
            values = [r["accuracy"] for r in rows if r["set"] == s and r["tower"] == t]
            x = i + (k - 0.5) * 0.35
            ax_acc.bar(x, np.mean(values), width=0.35, color=colors[t], alpha=0.6, label=TOWERS[t] if i == 0 else None)
            ax_acc.plot([x] * len(values), values, "k.", ms=5)
        ax_acc.plot([i - 0.4, i + 0.4], [per_set[s]["overlap_baseline"]] * 2, "g--",
                    label="字符重合基线" if i == 0 else None)
    ax_acc.axhline(0.5, color="gray", ls=":", label="随机")
    ax_acc.set_xticks(range(len(SETS)), [label for _, label in SETS.values()])
    ax_acc.set(ylabel="测试准确率", title="步数相同（点：各种子）", ylim=(0.4, 1.0))
    ax_acc.legend(fontsize=8)
    ms = per_set["halves"]["ms_per_query"]
    ax_ms.bar([0, 1], [ms["single"], ms["dual"]], color=[colors["single"], colors["dual"]], alpha=0.7)
    ax_ms.set_yscale("log")
    ax_ms.set_xticks([0, 1], [TOWERS["single"], TOWERS["dual"]])
    ax_ms.set(ylabel="毫秒（对数）", title=f"一个查询对 {RERANK_TOP} 个候选打分的耗时")
    for i, s in enumerate(SETS):
        for k, key in enumerate(("dual", "dual_then_single")):
            ax_rec.bar(i + (k - 0.5) * 0.35, per_set[s][key]["recall@1"], width=0.35,
                       color=("tab:blue", "tab:purple")[k], alpha=0.7,
                       label=("双塔检索", f"双塔前 {RERANK_TOP} + 单塔重排")[k] if i == 0 else None)
    ax_rec.set_xticks(range(len(SETS)), [label for _, label in SETS.values()])
    ax_rec.set(ylabel="recall@1", title="检索：双塔召回，单塔重排（第一个种子）", ylim=(0, 1))
    ax_rec.legend(fontsize=8)
    save_figure(fig, path)
