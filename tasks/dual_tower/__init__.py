"""Dual-tower matching (bi-encoder, Sentence-BERT style).

One shared encoder embeds each text alone (mean pooling, DualTower). Training objectives
(option ``objective``):
  sbert        softmax classifier on [u, v, |u-v|] (Reimers & Gurevych, 2019)
  contrastive  in-batch negatives: each a must pick its own b among the batch's b's
  both         the sum (default)
Evaluation: accuracy at a cosine threshold (tuned on dev when a new best checkpoint is kept, and
saved with the model), and retrieval of each a's partner among all candidate b's (recall@1/@10,
MRR) using pre-computed embeddings: the reason to build a dual tower at all.
"""
import numpy as np

from tasks.config import DualTowerOptions
from tasks.engine.batching import pad_collator
from tasks.engine.losses import DualTowerLoss
from tasks.engine.metrics import accuracy, best_threshold, retrieval_scores
from tasks.engine.modeling import DualTower
from tasks.engine.task import Task
from tasks.single_tower import parse_pair_line, positive_label


class DualTowerTask(Task):
    name = "dual_tower"
    data_kind = "matching"
    main_metric = "accuracy"
    selection_metric = "accuracy_at_tuned_threshold"  # the threshold is chosen with the checkpoint
    Options = DualTowerOptions

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.positive = self.label_to_id[positive_label(self.labels)]

    def encode(self, example, with_label=True):
        return self.encode_pair_apart(example, with_label) | {"example": example}  # evaluation embeds each text

    def collate_fn(self):
        return self.pair_apart_collator()

    def build_model(self, encoder_name):
        return DualTower(self.load_encoder(encoder_name), self.pad_id, len(self.labels))

    def build_loss(self, model):
        return DualTowerLoss(self.options.objective, self.options.temperature, self.positive)

    def text_inputs(self, id_lists) -> tuple[list[dict], object]:
        """(features, collate) for texts embedded alone: the encoder input of ``DualTower.infer``."""
        return [{"input_ids": ids, "length": len(ids)} for ids in id_lists], pad_collator({"input_ids": self.pad_id})

    def inference_features(self, features):
        return self.text_inputs(f[key] for f in features for key in ("a_ids", "b_ids"))

    def embed_texts(self, runner, texts, batch_size=64) -> np.ndarray:
        """Unit-length embeddings, one row per text."""
        features, collate = self.text_inputs(self.tokenize(t)["input_ids"] for t in texts)
        rows = self.run_batches(runner, features, batch_size, collate=collate)
        return np.stack([r[0] for r in rows]).astype(np.float32)

    def cosines(self, runner, pairs, batch_size=64):
        u = self.embed_texts(runner, [p["text_a"] for p in pairs], batch_size)
        v = self.embed_texts(runner, [p["text_b"] for p in pairs], batch_size)
        return (u * v).sum(1), u, v

    def evaluate(self, runner, features, batch_size=64):
        from tasks.engine.inference import as_runner

        runner = as_runner(runner)
        pairs = [f["example"] for f in features]
        gold = np.array([int(f["label"] == self.positive) for f in features])
        scores, u, v = self.cosines(runner, pairs, batch_size)
        tuned, tuned_acc = best_threshold(scores, gold)
        threshold = stored_threshold(runner)
        result = {"accuracy": accuracy(gold, (scores >= threshold).astype(int)), "threshold": threshold,
                  "threshold_tuned_here": tuned, "accuracy_at_tuned_threshold": tuned_acc}
        # retrieval: each positive pair's a must find its own b among all distinct b texts
        candidates = sorted({p["text_b"] for p in pairs})
        where = {text: i for i, text in enumerate(candidates)}
        cand_vecs = np.zeros((len(candidates), v.shape[1]), dtype=np.float32)
        for p, vec in zip(pairs, v):
            cand_vecs[where[p["text_b"]]] = vec
        queries = [i for i, g in enumerate(gold) if g == 1]
        if queries:
            result.update(retrieval_scores(u[queries], cand_vecs, [where[pairs[i]["text_b"]] for i in queries]))
        return result

    def on_new_best(self, model, metrics):
        model.scorer.set_threshold(metrics["threshold_tuned_here"])

    def parse_input_line(self, line, where):
        return parse_pair_line(line, where)

    def predict(self, runner, inputs, batch_size=64):
        from tasks.engine.inference import as_runner

        runner = as_runner(runner)
        scores, _, _ = self.cosines(runner, inputs, batch_size)
        threshold = stored_threshold(runner)
        negative = next(label for label in self.labels if label != self.labels[self.positive])
        results = []
        for x, s in zip(inputs, scores):
            label = self.labels[self.positive] if s >= threshold else negative
            results.append({"text_a": x["text_a"], "text_b": x["text_b"], "score": round(float(s), 4),
                            "label": label, "label_name": self.label_name(label)})
        return results

    def format_prediction(self, r):
        return f"{r['score']:.4f}\t{r['label_name']}\t{r['text_a']}\t{r['text_b']}"


def stored_threshold(runner) -> float:
    """The decision threshold saved with the model (exported engines read it from export.json)."""
    return float(runner.extras["threshold"])


TASK = DualTowerTask
