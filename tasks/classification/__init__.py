"""Text classification: [CLS] text [SEP] -> PaddleNLP's *ForSequenceClassification head."""
import numpy as np
import paddle.nn.functional as F

from tasks.engine.metrics import accuracy, macro_f1
from tasks.engine.task import Task, softmax


class ClassificationTask(Task):
    name = "classification"
    data_kind = "classification"
    head = "sequence"
    main_metric = "accuracy"

    def encode(self, example, with_label=True):
        feature = self.tokenize(example["text"])
        if with_label:
            feature["label"] = self.label_id(example)
        return feature

    def logits(self, model, batch):
        mask = (batch["input_ids"] != self.pad_id).astype("int64")
        return model.backbone(batch["input_ids"], token_type_ids=batch["token_type_ids"], attention_mask=mask)

    def loss(self, model, batch):
        return F.cross_entropy(self.logits(model, batch), batch["label"])

    def probabilities(self, model, features, batch_size=64):
        out = self.forward_batches(model, features, lambda m, b: self.logits(m, b).numpy(), batch_size)
        return softmax(np.stack(out))

    def evaluate(self, model, features, batch_size=64):
        pred = self.probabilities(model, features, batch_size).argmax(-1)
        gold = [f["label"] for f in features]
        return {"accuracy": accuracy(gold, pred), "macro_f1": macro_f1(gold, pred, len(self.labels)),
                "gold": gold, "pred": pred.tolist()}

    def predict(self, model, inputs, batch_size=64):
        probs = self.probabilities(model, self.encode_all(inputs, with_label=False), batch_size)
        return [{"text": x["text"], "label": self.labels[int(p.argmax())], "probability": round(float(p.max()), 4)}
                for x, p in zip(inputs, probs)]


TASK = ClassificationTask
