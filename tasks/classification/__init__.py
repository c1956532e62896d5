"""Text classification: [CLS] text [SEP] -> encoder -> pooling -> linear -> class logits.

Pooling (option ``pooling``): ``cls`` feeds the [CLS] vector through the model's pooler, as
BERT / ERNIE were pretrained (NSP); ``mean`` averages all token vectors, as the offline e5
encoder was pretrained: it learns several times faster there. ``auto`` (default) picks mean for
the offline encoder and cls for everything else.
"""
import numpy as np

from tasks import models
from tasks.config import ClassificationOptions
from tasks.engine.losses import CrossEntropy
from tasks.engine.metrics import accuracy, macro_f1
from tasks.engine.modeling import SequenceClassifier
from tasks.engine.task import Task, softmax
from tasks.errors import TaskError


class ClassificationTask(Task):
    name = "classification"
    data_kind = "classification"
    main_metric = "accuracy"
    Options = ClassificationOptions

    pair_input = False  # one text per example: pooling "pair" needs two

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.options.pooling in ("pair", "align") and not self.pair_input:
            raise TaskError(f"--pooling {self.options.pooling}: compares the two texts of a pair; this task has one "
                            "text per example")
        if self.options.pooling == "auto":
            offline = models.resolve(self.model_name).kind == "offline"
            self.options.pooling = "mean" if offline else "cls"

    def encode(self, example, with_label=True):
        feature = self.tokenize(example["text"])
        if with_label:
            feature["label"] = self.label_id(example)
        return feature

    def build_model(self, encoder_name):
        return SequenceClassifier(self.load_encoder(encoder_name), self.pad_id, len(self.labels), self.options.pooling,
                                  sep_id=self.tokenizer.sep_token_id)

    def build_loss(self, model):
        return CrossEntropy()

    def probabilities(self, runner, features, batch_size=64) -> np.ndarray:
        return softmax(np.stack([out[0] for out in self.run_batches(runner, features, batch_size)]))

    def evaluate(self, runner, features, batch_size=64):
        pred = self.probabilities(runner, features, batch_size).argmax(-1)
        gold = [f["label"] for f in features]
        return {"accuracy": accuracy(gold, pred), "macro_f1": macro_f1(gold, pred, len(self.labels)),
                "gold": gold, "pred": pred.tolist()}

    def predict(self, runner, inputs, batch_size=64):
        probs = self.probabilities(runner, self.encode_all(inputs, with_label=False), batch_size)
        results = []
        for x, p in zip(inputs, probs):
            label = self.labels[int(p.argmax())]
            results.append({"text": x["text"], "label": label, "label_name": self.label_name(label),
                            "probability": round(float(p.max()), 4)})
        return results

    def format_prediction(self, r):
        return f"{r['label_name']}\t{r['probability']:.4f}\t{r['text']}"


TASK = ClassificationTask
