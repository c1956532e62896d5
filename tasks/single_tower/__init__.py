"""Single-tower matching (cross-encoder): [CLS] a [SEP] b [SEP] -> match / no match.

Both texts pass through the encoder together, so every token of one can attend
to every token of the other: accurate, but each candidate pair costs a full forward pass.
"""
from tasks.classification import ClassificationTask
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

    def encode(self, example, with_label=True):
        feature = self.tokenize(example["text_a"], example["text_b"])
        if with_label:
            feature["label"] = self.label_id(example)
        return feature

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
