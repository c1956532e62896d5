"""Dual-tower matching (bi-encoder, Sentence-BERT style).

One shared encoder embeds each text alone (mean pooling over real tokens).
Training objectives (option ``objective``):
  sbert        softmax classifier on [u, v, |u-v|] (Reimers & Gurevych, 2019)
  contrastive  in-batch negatives: each a must pick its own b among the batch's b's
  both         the sum (default)
Evaluation: accuracy at a cosine threshold (tuned on dev, stored in the checkpoint),
and retrieval of each a's partner among all candidate b's (recall@1/@10, MRR)
using pre-computed embeddings: the reason to build a dual tower at all.
"""
import numpy as np
import paddle
import paddle.nn.functional as F

from tasks import models
from tasks.engine.batching import pad_collator
from tasks.engine.metrics import accuracy, best_threshold, retrieval_scores
from tasks.engine.task import Task, TaskModel, mean_pool
from tasks.single_tower import parse_pair_line

OBJECTIVES = ("sbert", "contrastive", "both")


class DualTowerTask(Task):
    name = "dual_tower"
    data_kind = "matching"
    head = "encoder"
    main_metric = "accuracy"
    option_defaults = {"objective": "both", "temperature": 0.05}
    option_choices = {"objective": OBJECTIVES}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.positive = self.label_to_id.get("1", len(self.labels) - 1)

    def encode(self, example, with_label=True):
        a = self.tokenize(example["text_a"])["input_ids"]
        b = self.tokenize(example["text_b"])["input_ids"]
        feature = {"a_ids": a, "b_ids": b}
        if with_label:
            feature["label"] = self.label_id(example)
        return feature

    def collate_fn(self):
        return pad_collator({"a_ids": self.pad_id, "b_ids": self.pad_id})

    def build_model(self, backbone_name):
        backbone = models.load_model(backbone_name, "encoder")
        hidden = backbone.config.hidden_size
        return TaskModel(backbone, classifier=paddle.nn.Linear(3 * hidden, len(self.labels)))

    def embed_ids(self, model, ids):
        mask = (ids != self.pad_id).astype("int64")
        sequence = model.backbone(ids, token_type_ids=paddle.zeros_like(ids), attention_mask=mask)[0]
        return mean_pool(sequence, mask)

    def loss(self, model, batch):
        u, v = self.embed_ids(model, batch["a_ids"]), self.embed_ids(model, batch["b_ids"])
        objective, total = self.options["objective"], 0.0
        if objective in ("sbert", "both"):
            logits = model.classifier(paddle.concat([u, v, (u - v).abs()], axis=-1))
            total = total + F.cross_entropy(logits, batch["label"])
        if objective in ("contrastive", "both"):
            pos = paddle.nonzero(batch["label"] == self.positive).flatten()
            if pos.shape[0] >= 2:  # needs at least one in-batch negative
                a, b = F.normalize(u[pos], axis=-1), F.normalize(v[pos], axis=-1)
                sims = a @ b.T / self.options["temperature"]
                total = total + F.cross_entropy(sims, paddle.arange(pos.shape[0], dtype="int64"))
        return total

    def embed_texts(self, model, texts, batch_size=64) -> np.ndarray:
        features = [{"a_ids": ids, "length": len(ids)} for ids in (self.tokenize(t)["input_ids"] for t in texts)]
        vectors = self.forward_batches(model, features, lambda m, b: self.embed_ids(m, b["a_ids"]).numpy(),
                                       batch_size, collate=pad_collator({"a_ids": self.pad_id}))
        return np.stack(vectors)

    def cosines(self, model, pairs, batch_size=64):
        u = self.embed_texts(model, [p["text_a"] for p in pairs], batch_size)
        v = self.embed_texts(model, [p["text_b"] for p in pairs], batch_size)
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        return (u * v).sum(1), u, v

    def evaluate(self, model, features, batch_size=64):
        pairs = [f["example"] for f in features]
        gold = np.array([int(f["label"] == self.positive) for f in features])
        scores, u, v = self.cosines(model, pairs, batch_size)
        tuned, tuned_acc = best_threshold(scores, gold)
        threshold = self.options.get("threshold", tuned)
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

    def encode_all(self, examples, with_label=True, what="examples"):
        features = super().encode_all(examples, with_label, what)
        for feature, example in zip(features, examples):
            feature["example"] = example  # evaluation embeds texts itself
        return features

    def finalize(self, model, dev_features):
        """Fix the decision threshold on dev so test accuracy is not tuned on test."""
        self.options.pop("threshold", None)
        self.options["threshold"] = self.evaluate(model, dev_features)["threshold_tuned_here"]

    def parse_input_line(self, line, where):
        return parse_pair_line(line, where)

    def predict(self, model, inputs, batch_size=64):
        scores, _, _ = self.cosines(model, inputs, batch_size)
        threshold = self.options.get("threshold", 0.5)
        return [{"text_a": x["text_a"], "text_b": x["text_b"], "score": round(float(s), 4),
                 "label": self.labels[self.positive] if s >= threshold else self.labels[1 - self.positive]}
                for x, s in zip(inputs, scores)]


TASK = DualTowerTask
