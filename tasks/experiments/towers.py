"""Single tower (a real cross-encoder) vs dual tower, fairly: same encoder, same examples, same steps.

The single tower reads ``[CLS] a [SEP] b [SEP]`` through every layer of the encoder (the texts attend
to each other from the first layer; the top 2 layers are trained, as the dual tower's); the dual
tower encodes each text alone. On the word-order set the single tower joins the texts in the two
trained layers (below them the frozen layers read each text alone: e5 was pretrained on single texts,
and joined from the embeddings its frozen layers left that set at chance) and compares each token
with its best match in the other text (``--pooling align``). ``towers`` compares them on the derived review halves
(data/matching_derived: is b the rest of a's review?), with the time to score one query against its
candidates with each model as it runs (no cache) and retrieval (recall@1/@10) with the dual tower
alone and with the single tower reranking the dual tower's top candidates. ``word_order``
(tasks/experiments/word_order.py) runs the same comparison on the word-order set
(data/matching_word_order). Both: test accuracy over seeds with chance and the baselines.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from tasks import recipes
from tasks.data.datasets import WORD_ORDER_DIR
from tasks.experiments import Run, markdown_table, run_all, spread
from tasks.io import REPO_ROOT

SETS = {"halves": ("offline", "评论前后半句（派生）"), "word_order": (str(REPO_ROOT / "data" / WORD_ORDER_DIR), "词序（实体互换）")}
MAX_LENGTHS = {"halves": 64, "word_order": 90}  # tokens per text (the single tower's joint input: twice that)
TOWERS = {"single": "单塔（交叉编码器）", "dual": "双塔"}
# word order: the texts meet in the trained layers (late join), each token compared with its twin in the other
# text. Joined from the embeddings, e5's frozen layers (pretrained on single texts, never on pairs) left the
# word-order pairs at chance (0.509, one seed, 2026-12-03); training those layers is beyond 10 CPU minutes.
SINGLE_LABELS = {"halves": TOWERS["single"], "word_order": "单塔（在训练层里交互）"}
SEEDS = (1, 2, 3)
# Steps per tower: the 10-minute target on 2 cores. Review halves: about 2 epochs of 1,000 pairs (100 steps took
# 10.6 min, 2026-12-03: cross-encoder 0.590 vs dual 0.752). Word order: the single tower's dev accuracy at 50
# steps already equals its 100-step one (0.79-0.83), the dual tower's is its untrained cosine from step 1, and
# 100 steps took 22 minutes on a 2-core CPU without AVX-512.
STEPS = {"halves": 60, "word_order": 50}
JOINT_LAYERS = 2  # the trained layers (word order: where the texts meet)
RERANK_QUERIES, RERANK_TOP = 50, 20  # queries reranked (first seed's models), candidates each from the dual tower
LATENCY_QUERIES = 10


def settings(quick: bool, set_name: str = "halves"):
    """(recipe per tower, seeds) for one set."""
    budget = "quick" if quick else "demo"
    length = MAX_LENGTHS[set_name]
    single = recipes.get("single_tower", budget)
    if set_name == "word_order":  # joined at the trained layers: each text's max_length counts alone
        joint = single.train["train_layers"] if quick else JOINT_LAYERS
        single = dataclasses.replace(single.with_options(joint_layers=joint, negatives=0, pooling="align"),
                                     max_length=length)
    else:  # joined from the embeddings: the pair's joint input holds both texts
        single = dataclasses.replace(single.with_options(joint_layers=0, negatives=0, pooling="pair"),
                                     max_length=2 * length)
    dual = dataclasses.replace(recipes.get("dual_tower", budget), max_length=length)
    if quick:
        return {"single": single, "dual": dual}, SEEDS[:2]
    limits = {"train": 1000, "dev": 300, "test": 700}  # the word-order splits are 1,014 / 126 / 338 pairs
    train = dict(recipes.DEMO_TRAIN, learning_rate=2e-4, train_layers=JOINT_LAYERS, max_steps=STEPS[set_name],
                 eval_every=STEPS[set_name])  # scored on dev once, at the end
    return {"single": dataclasses.replace(single, limits=limits, train=train),
            "dual": dataclasses.replace(dual, limits=limits, train=train)}, SEEDS


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


def run_set(set_name: str, quick: bool, out: Path) -> dict:
    """Both towers over the seeds on one set; the baselines; (review halves) retrieval and latency."""
    from tasks.data.build import ensure_built, overlap_baseline, threshold_baseline
    from tasks.data.word_order import position_agreement
    from tasks.engine.checkpoint import task_class
    from tasks.engine.runner import load_split

    ensure_built(REPO_ROOT)
    data = SETS[set_name][0]
    towers, seeds = settings(quick, set_name)
    rows, folders, jobs = [], {}, []
    for seed in seeds:
        for tower, recipe in towers.items():
            tuned = dataclasses.replace(recipe, train=recipe.train | {"seed": seed})
            folder = out / "runs" / f"{set_name}-{tower}-seed{seed}"
            jobs.append(Run(tuned, folder, {"data": data, "overwrite": True, "limits_seed": seeds[0]}))
            folders.setdefault(tower, folder)
            rows.append({"set": set_name, "tower": tower, "seed": seed})
    for row, result in zip(rows, run_all(jobs, side_by_side=False)):  # 12-layer runs: one after the other
        row |= {"steps": result["steps"], "accuracy": round(result["metric"], 4),
                "test_examples": result["test_examples"], "minutes": round(result["minutes"], 2)}
    # the baselines on the examples the towers saw (threshold tuned on dev)
    dev, test = (load_split(task_class("dual_tower"), data, split, towers["dual"].limits.get(split), seeds[0])
                 for split in ("dev", "test"))
    baselines = {"chance": 0.5, "overlap": round(overlap_baseline(dev, test)["test_accuracy"], 4)}
    if set_name == "word_order":  # how much a swap moved
        baselines["changed_positions"] = round(threshold_baseline(dev, test, position_agreement)["test_accuracy"], 4)
    summary = {t: spread([r["accuracy"] for r in rows if r["tower"] == t]) for t in TOWERS}
    summary["single_minus_dual"] = spread([a["accuracy"] - b["accuracy"] for a, b in zip(
        [r for r in rows if r["tower"] == "single"], [r for r in rows if r["tower"] == "dual"])])
    result = {"set": set_name, "recipes": {t: dataclasses.asdict(r) for t, r in towers.items()},
              "seeds": list(seeds), "rows": rows, "summary": summary, "baselines": baselines}
    if set_name == "halves":
        result["retrieval"] = rerank_and_time(folders["single"] / "best", folders["dual"] / "best", test)
    return result


def tower_labels(set_name: str) -> dict:
    return {"single": SINGLE_LABELS[set_name], "dual": TOWERS["dual"]}


BASELINE_NAMES = {"overlap": "字符重合基线", "changed_positions": "改动位置基线"}


def report(result: dict, path: Path) -> dict:
    """Table, conclusion and figure of one set's result."""
    s, summary, baselines = result["set"], result["summary"], result["baselines"]
    label = SETS[s][1]
    rows = []
    for t, tower_label in tower_labels(s).items():
        acc = summary[t]
        rows.append({"数据": label, "模型": tower_label, "测试准确率 均值": acc["mean"], "标准差": acc["std"],
                     "最低": acc["min"], "最高": acc["max"]})
    table = markdown_table(rows, ["数据", "模型", "测试准确率 均值", "标准差", "最低", "最高"])
    table += "\n\n" + markdown_table([{"基线": BASELINE_NAMES.get(k, "随机"), "测试准确率": v} for k, v in baselines.items()],
                                     ["基线", "测试准确率"])
    d = summary["single_minus_dual"]
    conclusion = (f"{len(result['seeds'])} 个种子，两种模型步数相同（{result['rows'][0]['steps']} 步）。{label}：{SINGLE_LABELS[s]} "
                  f"{summary['single']['mean']:.4f}，双塔 {summary['dual']['mean']:.4f}（单塔减双塔 {d['mean']:+.4f}，逐种子 "
                  f"{d['min']:+.4f} 到 {d['max']:+.4f}）；" +
                  "，".join(f"{BASELINE_NAMES.get(k, '随机')} {v:.4f}" for k, v in baselines.items()) + "。")
    if "retrieval" in result:
        r = result["retrieval"]
        table += "\n\n" + markdown_table(
            [{"方法": "双塔检索", **r["dual"], "每个查询耗时 ms": r["ms_per_query"]["dual"]},
             {"方法": f"双塔取前 {r['top']} 个，单塔重排", **r["dual_then_single"],
              "每个查询耗时 ms": r["ms_per_query"]["single"]}], ["方法", "recall@1", "recall@10", "每个查询耗时 ms"])
        conclusion += (f"检索（{r['queries']} 个查询、{r['candidates']} 个候选，第一个种子的模型）：recall@1 "
                       f"{r['dual']['recall@1']:.2f} → 单塔重排后 {r['dual_then_single']['recall@1']:.2f}；"
                       f"每个查询对 {r['top']} 个候选打分：单塔 {r['ms_per_query']['single']:g} ms，"
                       f"双塔 {r['ms_per_query']['dual']:g} ms（候选向量已在索引里）。")
    figure(result, path)
    return result | {"table": table, "conclusion": conclusion}


def run(quick: bool, out: Path) -> dict:
    return report(run_set("halves", quick, out), out / "figure.png")


def figure(result: dict, path: Path):
    from tasks.engine.plots import new_figure, save_figure

    retrieval = result.get("retrieval")
    fig = new_figure(figsize=(13 if retrieval else 5.5, 4), layout="constrained")
    axes = fig.subplots(1, 3 if retrieval else 1)
    ax_acc = axes[0] if retrieval else axes
    colors = {"single": "tab:orange", "dual": "tab:blue"}
    for k, t in enumerate(TOWERS):
        values = [r["accuracy"] for r in result["rows"] if r["tower"] == t]
        ax_acc.bar(k, np.mean(values), width=0.6, color=colors[t], alpha=0.6)
        ax_acc.plot([k] * len(values), values, "k.", ms=6)
    styles = {"chance": ("gray", ":"), "overlap": ("green", "--"), "changed_positions": ("purple", "-.")}
    for name, value in result["baselines"].items():
        color, style = styles[name]
        ax_acc.axhline(value, color=color, ls=style, label=BASELINE_NAMES.get(name, "随机"))
    ax_acc.set_xticks(range(len(TOWERS)), list(tower_labels(result["set"]).values()))
    ax_acc.set(ylabel="测试准确率", title=f"{SETS[result['set']][1]}：步数相同（点：各种子）", ylim=(0.4, 1.0))
    ax_acc.legend(fontsize=8)
    if retrieval:
        ax_ms, ax_rec = axes[1], axes[2]
        ms = retrieval["ms_per_query"]
        ax_ms.bar([0, 1], [ms["single"], ms["dual"]], color=[colors["single"], colors["dual"]], alpha=0.7)
        ax_ms.set_yscale("log")
        ax_ms.set_xticks([0, 1], list(TOWERS.values()))
        ax_ms.set(ylabel="毫秒（对数）", title=f"一个查询对 {retrieval['top']} 个候选打分的耗时")
        for k, key in enumerate(("dual", "dual_then_single")):
            ax_rec.bar([k - 0.2, k + 0.2], [retrieval[key]["recall@1"], retrieval[key]["recall@10"]], width=0.4,
                       color=["tab:blue", "tab:purple"], alpha=0.7)
        ax_rec.set_xticks([0, 1], ["双塔检索", f"双塔前 {retrieval['top']} + 单塔重排"])
        ax_rec.set(ylabel="recall@1（左） / recall@10（右）", title="检索（第一个种子的模型）", ylim=(0, 1))
    save_figure(fig, path)
