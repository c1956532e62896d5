"""Single-tower matching (cross-encoder): [CLS] a [SEP] b [SEP] -> match / no match.

Both texts pass through the encoder together, so every token of one can attend
to every token of the other: accurate, but each candidate pair costs a full forward pass.

With ``--joint-layers N`` the texts meet only in the top N layers (LateJoinCrossEncoder): below
them each text runs alone, once per text, and ``--negatives M`` also scores each matching pair's
first text against M other second texts of the batch, through the joint layers only, with a
listwise loss that ranks its own partner first (the in-batch negatives a dual tower trains with).
"""
import paddle
import paddle.nn.functional as F

from tasks.classification import ClassificationTask
from tasks.config import SingleTowerOptions
from tasks.engine.batching import pad_collator
from tasks.engine.modeling import LateJoinCrossEncoder
from tasks.errors import TaskError


def parse_pair_line(line: str, where: str) -> dict:
    parts = line.rstrip("\n").split("\t")
    if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
        raise TaskError(f"{where}: expected two non-empty texts separated by one tab (text_a<TAB>text_b), "
                        f"found {len(parts)} field(s)")
    return {"text_a": parts[0].strip(), "text_b": parts[1].strip()}


def positive_label(labels: list[str]) -> str:
    return "1" if "1" in labels else labels[-1]


class SingleTowerTask(ClassificationTask):
    name = "single_tower"
    data_kind = "matching"
    pair_input = True
    Options = SingleTowerOptions

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.late_join and self.options.pooling != "pair":
            raise TaskError(f"--joint-layers {self.options.joint_layers} compares the two texts' means "
                            f"(--pooling pair); got --pooling {self.options.pooling}")

    @property
    def late_join(self) -> bool:
        return bool(self.options.joint_layers)

    def encode(self, example, with_label=True):
        if self.late_join:  # each text alone, max_length tokens each
            feature = {"a_ids": self.tokenize(example["text_a"])["input_ids"],
                       "b_ids": self.tokenize(example["text_b"])["input_ids"]}
        else:
            feature = self.tokenize(example["text_a"], example["text_b"])
        if with_label:
            feature["label"] = self.label_id(example)
        return feature

    def collate_fn(self):
        if self.late_join:
            return pad_collator({"a_ids": self.pad_id, "b_ids": self.pad_id})
        return super().collate_fn()

    def build_model(self, encoder_name):
        if self.late_join:
            return LateJoinCrossEncoder(self.load_encoder(encoder_name), self.pad_id, len(self.labels),
                                        self.options.joint_layers, self.label_to_id[positive_label(self.labels)])
        return super().build_model(encoder_name)

    def loss(self, outputs, batch, model):
        if not self.late_join:
            return super().loss(outputs, batch, model)
        logits, a_hidden, b_hidden = outputs
        total = F.cross_entropy(logits, batch["label"])
        positive = self.label_to_id[positive_label(self.labels)]
        rows = paddle.nonzero(batch["label"] == positive).flatten()
        count, shifts = rows.shape[0], min(self.options.negatives, rows.shape[0] - 1)
        if shifts < 1:
            return total
        a_ids, b_ids = batch["a_ids"][rows], batch["b_ids"][rows]
        own = paddle.arange(count, dtype="int64")
        others = paddle.concat([(own + s) % count for s in range(1, shifts + 1)])   # b of the rows after
        repeat = paddle.concat([own] * shifts)
        extra = model.join(a_hidden[rows][repeat], a_ids[repeat], b_hidden[rows][others], b_ids[others])

        not_positive = paddle.to_tensor([0.0 if i != positive else -1e4 for i in range(len(self.labels))])

        def match_score(pair_logits):  # log-odds of a match
            return pair_logits[:, positive] - paddle.logsumexp(pair_logits + not_positive, axis=-1)

        scores = paddle.concat([match_score(logits[rows]).unsqueeze(1),
                                match_score(extra).reshape([shifts, count]).T], axis=1)
        # a row whose second text is the same as this pair's own is no negative
        same = (b_ids[others] == b_ids[repeat]).all(-1).reshape([shifts, count]).T
        same = paddle.concat([paddle.zeros([count, 1], dtype="bool"), same], axis=1)
        scores = paddle.where(same, paddle.full_like(scores, -1e4), scores)
        return total + F.cross_entropy(scores, paddle.zeros([count], dtype="int64"))

    def parse_input_line(self, line, where):
        return parse_pair_line(line, where)

    def predict(self, runner, inputs, batch_size=64):
        probs = self.probabilities(runner, self.encode_all(inputs, with_label=False), batch_size)
        positive = self.label_to_id[positive_label(self.labels)]
        results = []
        for x, p in zip(inputs, probs):
            label = self.labels[int(p.argmax())]
            results.append({"text_a": x["text_a"], "text_b": x["text_b"], "score": round(float(p[positive]), 4),
                            "label": label, "label_name": self.label_name(label)})
        return results

    def format_prediction(self, r):
        return f"{r['score']:.4f}\t{r['label_name']}\t{r['text_a']}\t{r['text_b']}"


TASK = SingleTowerTask
