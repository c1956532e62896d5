"""Dual-tower retrieval: embed a corpus once (`index`), then answer queries by cosine (`search`).

The corpus vectors are unit length, so the top-k is one matrix-vector product and an
argpartition (numpy; at 100k candidates this takes milliseconds, see `bench`). A single-tower
checkpoint can re-score the top-k (``rerank``): the usual retrieve-then-rerank pipeline.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from tasks.data.datasets import read_lines
from tasks.engine.checkpoint import weights_fingerprint
from tasks.errors import DataError, TaskError
from tasks.io import atomic_dir

VECTORS_FILE = "vectors.npy"
TEXTS_FILE = "texts.jsonl"
INDEX_FILE = "index.json"


def read_corpus(path: str) -> list[str]:
    lines = read_lines(path)
    if not lines:
        raise DataError("empty corpus; expected one text per line", path)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            raise DataError("empty line; expected one text per line", path, number)
    return [line.strip() for line in lines]


def open_encoder(checkpoint: str, engine: str = "auto"):
    from tasks.engine.runner import open_checkpoint

    return open_checkpoint(checkpoint, task_name="dual_tower", engine=engine)


def embed(task, runner, texts: list[str], batch_size: int, desc: str = "") -> np.ndarray:
    """Unit vectors in batches of ``batch_size`` texts, with a progress bar on a terminal."""
    from tqdm.auto import tqdm

    chunks = []
    with tqdm(total=len(texts), desc=desc or "embed", unit="text", disable=None, leave=False) as bar:
        for start in range(0, len(texts), batch_size):
            chunk = texts[start:start + batch_size]
            chunks.append(task.embed_texts(runner, chunk, batch_size))
            bar.update(len(chunk))
    return np.concatenate(chunks).astype(np.float32)


def build_index(checkpoint: str, corpus: str, out: str, engine: str = "auto", batch_size: int = 128) -> dict:
    if batch_size < 1:
        raise TaskError(f"--batch-size {batch_size}: expected a value >= 1")
    texts = read_corpus(corpus)
    task, runner = open_encoder(checkpoint, engine)
    started = time.perf_counter()
    vectors = embed(task, runner, texts, batch_size, desc=f"index {Path(corpus).name}")
    seconds = time.perf_counter() - started
    report = {"checkpoint": str(Path(checkpoint).resolve()), "fingerprint": weights_fingerprint(checkpoint),
              "corpus": str(corpus), "texts": len(texts), "dim": int(vectors.shape[1]), "engine": runner.engine,
              "seconds": round(seconds, 2), "texts_per_s": round(len(texts) / max(seconds, 1e-9), 1)}
    with atomic_dir(out) as tmp:
        np.save(tmp / VECTORS_FILE, vectors)
        with open(tmp / TEXTS_FILE, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(t, ensure_ascii=False) + "\n" for t in texts)
        (tmp / INDEX_FILE).write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    return report | {"index": str(out)}


class Index:
    def __init__(self, directory: str):
        self.directory = Path(directory)
        path = self.directory / INDEX_FILE
        if not path.is_file():
            raise TaskError(f"--index {directory}: not an index (no {INDEX_FILE}); build one with `python -m tasks index`")
        self.meta = json.loads(path.read_text(encoding="utf-8"))
        self.vectors = np.load(self.directory / VECTORS_FILE, mmap_mode="r")
        with open(self.directory / TEXTS_FILE, encoding="utf-8") as f:
            self.texts = [json.loads(line) for line in f]

    def top_k(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices, scores) of the k best candidates per query row, best first."""
        scores = queries @ np.asarray(self.vectors).T
        k = min(k, scores.shape[1])
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        part_scores = np.take_along_axis(scores, part, axis=1)
        order = np.argsort(-part_scores, axis=1)
        return np.take_along_axis(part, order, axis=1), np.take_along_axis(part_scores, order, axis=1)


def search_lines(index_dir: str, lines: list[str], source: str, checkpoint: str | None = None, top_k: int = 10,
                 rerank: str | None = None, engine: str = "auto") -> list[dict]:
    if top_k < 1:
        raise TaskError(f"--top-k {top_k}: expected a value >= 1")
    index = Index(index_dir)
    checkpoint = checkpoint or index.meta["checkpoint"]
    if weights_fingerprint(checkpoint) != index.meta["fingerprint"]:
        raise TaskError(f"--index {index_dir} was built with {index.meta['checkpoint']}, whose weights differ from "
                        f"the query encoder {checkpoint}; rebuild the index with this checkpoint")
    queries = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            raise DataError("empty line; expected one query per line", source, number)
        queries.append(line.strip())
    if not queries:
        raise DataError("no queries; expected one query per line", source)
    task, runner = open_encoder(checkpoint, engine)
    ids, scores = index.top_k(task.embed_texts(runner, queries), top_k)
    results = [{"query": q, "hits": [{"rank": r + 1, "id": int(i), "score": round(float(s), 4), "text": index.texts[i]}
                                     for r, (i, s) in enumerate(zip(row_ids, row_scores))]}
               for q, row_ids, row_scores in zip(queries, ids, scores)]
    if rerank:
        from tasks.engine.runner import open_checkpoint

        cross_task, cross_runner = open_checkpoint(rerank, task_name="single_tower", engine=engine)
        for result in results:
            pairs = [{"text_a": result["query"], "text_b": hit["text"]} for hit in result["hits"]]
            for hit, scored in zip(result["hits"], cross_task.predict(cross_runner, pairs)):
                hit["rerank_score"] = scored["score"]
            result["hits"].sort(key=lambda h: -h["rerank_score"])
            for rank, hit in enumerate(result["hits"], 1):
                hit["rank"] = rank
    return results
