"""Single-tower matching (cross-encoder): [CLS] a [SEP] b [SEP] -> match / no match.

Both texts pass through the encoder together, so every token of one can attend
to every token of the other: accurate, but each candidate pair costs a full forward pass.

``--joint-layers N`` selects another model, the late-join cross-encoder (LateJoinCrossEncoder,
``LateJoinSingleTowerTask`` below): the texts meet only in the top N layers, below them each text
runs alone, once per text, and ``--negatives M`` also scores each matching pair's first text
against M other second texts of the batch, through the joint layers only, with a listwise loss
that ranks its own partner first (the in-batch negatives a dual tower trains with).
"""
from tasks.classification import ClassificationTask
from tasks.config import SingleTowerOptions
from tasks.engine.losses import LateJoinRankingLoss
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

    def __new__(cls, *args, **kwargs):
        """``--joint-layers N`` (N > 0) builds the late-join variant, a task class of its own."""
        options = kwargs.get("options", args[3] if len(args) > 3 else None)
        joint = options.joint_layers if isinstance(options, SingleTowerOptions) else (options or {}).get("joint_layers")
        return super().__new__(LateJoinSingleTowerTask if cls is SingleTowerTask and joint else cls)

    def encode(self, example, with_label=True):
        feature = self.tokenize(example["text_a"], example["text_b"])
        if with_label:
            feature["label"] = self.label_id(example)
        return feature

    @property
    def positive(self) -> int:
        return self.label_to_id[positive_label(self.labels)]

    def parse_input_line(self, line, where):
        return parse_pair_line(line, where)

    def predict(self, runner, inputs, batch_size=64):
        probs = self.probabilities(runner, self.encode_all(inputs, with_label=False), batch_size)
        results = []
        for x, p in zip(inputs, probs):
            label = self.labels[int(p.argmax())]
            results.append({"text_a": x["text_a"], "text_b": x["text_b"], "score": round(float(p[self.positive]), 4),
                            "label": label, "label_name": self.label_name(label)})
        return results

    def format_prediction(self, r):
        return f"{r['score']:.4f}\t{r['label_name']}\t{r['text_a']}\t{r['text_b']}"


class LateJoinSingleTowerTask(SingleTowerTask):
    """The late-join cross-encoder: each text tokenised alone (max_length tokens each)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.options.pooling not in ("pair", "align"):
            raise TaskError(f"--joint-layers {self.options.joint_layers} compares the two texts' means "
                            f"(--pooling pair, or align to also compare each token with its twin); got --pooling "
                            f"{self.options.pooling}")

    def encode(self, example, with_label=True):
        return self.encode_pair_apart(example, with_label)

    def collate_fn(self):
        return self.pair_apart_collator()

    def build_model(self, encoder_name):
        return LateJoinCrossEncoder(self.load_encoder(encoder_name), self.pad_id, len(self.labels),
                                    self.options.joint_layers, self.positive, align=self.options.pooling == "align")

    def build_loss(self, model):
        return LateJoinRankingLoss(model, self.options.negatives, self.positive, len(self.labels))


TASK = SingleTowerTask
