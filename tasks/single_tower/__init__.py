"""Single-tower matching (cross-encoder): [CLS] a [SEP] b [SEP] -> match / no match.

Both texts pass through the encoder together, so every token of one can attend
to every token of the other: accurate, but each candidate pair costs a full forward pass.
"""
from tasks.classification import ClassificationTask
from tasks.engine.task import TaskError


def parse_pair_line(line: str, where: str) -> dict:
    parts = line.rstrip("\n").split("\t")
    if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
        raise TaskError(f"{where}: expected two non-empty texts separated by a tab (text_a<TAB>text_b)")
    return {"text_a": parts[0].strip(), "text_b": parts[1].strip()}


class SingleTowerTask(ClassificationTask):
    name = "single_tower"
    data_kind = "matching"

    def encode(self, example, with_label=True):
        feature = self.tokenize(example["text_a"], example["text_b"])
        if with_label:
            feature["label"] = self.label_id(example)
        return feature

    def parse_input_line(self, line, where):
        return parse_pair_line(line, where)

    def predict(self, model, inputs, batch_size=64):
        probs = self.probabilities(model, self.encode_all(inputs, with_label=False), batch_size)
        positive = self.label_to_id.get("1", len(self.labels) - 1)
        return [{"text_a": x["text_a"], "text_b": x["text_b"], "score": round(float(p[positive]), 4),
                 "label": self.labels[int(p.argmax())]} for x, p in zip(inputs, probs)]


TASK = SingleTowerTask
