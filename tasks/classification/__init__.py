"""Text classification: [CLS] text [SEP] -> PaddleNLP's *ForSequenceClassification head.

Pooling (option ``pooling``): ``cls`` feeds the [CLS] vector through the model's
pooler, as BERT / ERNIE were pretrained (NSP); ``mean`` averages all token vectors,
as the offline e5 encoder was pretrained: it learns several times faster there.
``auto`` (default) picks mean for the offline encoder and cls for everything else.
"""
import numpy as np
import paddle.nn.functional as F

from tasks import models
from tasks.engine.metrics import accuracy, macro_f1
from tasks.engine.task import Task, mean_pool, softmax

POOLINGS = ("auto", "cls", "mean")


class ClassificationTask(Task):
    name = "classification"
    data_kind = "classification"
    head = "sequence"
    main_metric = "accuracy"
    option_defaults = {"pooling": "auto"}
    option_choices = {"pooling": POOLINGS}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.options["pooling"] == "auto":
            offline = models.resolve(self.model_name).kind == "offline"
            self.options["pooling"] = "mean" if offline else "cls"

    def encode(self, example, with_label=True):
        feature = self.tokenize(example["text"])
        if with_label:
            feature["label"] = self.label_id(example)
        return feature

    def logits(self, model, batch):
        mask = (batch["input_ids"] != self.pad_id).astype("int64")
        if self.options["pooling"] == "cls":
            return model.backbone(batch["input_ids"], token_type_ids=batch["token_type_ids"], attention_mask=mask)
        head = model.backbone  # PaddleNLP *ForSequenceClassification: encoder, dropout, classifier
        sequence = head.base_model(batch["input_ids"], token_type_ids=batch["token_type_ids"], attention_mask=mask)[0]
        return head.classifier(head.dropout(mean_pool(sequence, mask)))

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
