"""Sequence labeling (NER, BIO): token classification, softmax or CRF head.

Words (here: characters) may become several sub-tokens; the first sub-token of
each word carries the word's label, and only those positions are gathered for
the loss, the CRF and decoding, so a prediction is exactly one tag per word.
"""
import paddle
import paddle.nn.functional as F
from paddlenlp.layers import LinearChainCrf, LinearChainCrfLoss, ViterbiDecoder

from tasks.engine.batching import pad_collator
from tasks.engine.metrics import chunk_scores, entities
from tasks.engine.task import IGNORE_INDEX, Task, TaskError, TaskModel
from tasks import models

SENTENCEPIECE_SPACE = "\u2581"


class NerTask(Task):
    name = "ner"
    data_kind = "ner"
    head = "token"
    main_metric = "f1"
    option_defaults = {"crf": False}
    option_choices = {"crf": (False, True)}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.use_crf = self.options["crf"]
        self._pieces = {}

    def word_pieces(self, word: str) -> list[int]:
        """Sub-token ids of one word. SentencePiece adds a bare '▁' before a word
        that has no '▁X' piece; it carries nothing here, so it is dropped."""
        if word not in self._pieces:
            pieces = self.tokenizer.tokenize(word)
            if len(pieces) > 1 and pieces[0] == SENTENCEPIECE_SPACE:
                pieces = pieces[1:]
            if not pieces:  # whitespace-only word
                pieces = [self.tokenizer.unk_token]
            self._pieces[word] = self.tokenizer.convert_tokens_to_ids(pieces)
        return self._pieces[word]

    def encode(self, example, with_label=True):
        tokens = example["tokens"]
        ids, starts = [self.tokenizer.cls_token_id], []
        for word in tokens:
            pieces = self.word_pieces(word)
            if len(ids) + len(pieces) > self.max_length - 1:
                self.truncated += 1
                break
            starts.append(len(ids))
            ids += pieces
        ids.append(self.tokenizer.sep_token_id)
        feature = {"input_ids": ids, "token_type_ids": [0] * len(ids), "word_starts": starts,
                   "num_words": len(tokens)}
        if with_label:
            unknown = [t for t in example["labels"] if t not in self.label_to_id]
            if unknown:
                raise TaskError(f"tag {unknown[0]!r} is not in this model's tag set {self.labels}")
            feature["tags"] = [self.label_to_id[t] for t in example["labels"][:len(starts)]]
        return feature

    def collate_fn(self):
        return pad_collator({"input_ids": self.pad_id, "token_type_ids": 0, "word_starts": 0, "tags": IGNORE_INDEX})

    def build_model(self, backbone_name):
        backbone = models.load_model(backbone_name, "token", num_labels=len(self.labels))
        if not self.use_crf:
            return TaskModel(backbone)
        return TaskModel(backbone, crf=LinearChainCrf(len(self.labels), with_start_stop_tag=False))

    def emissions(self, model, batch):
        """Per-word scores [batch, words, tags], gathered at the first sub-token of each word."""
        mask = (batch["input_ids"] != self.pad_id).astype("int64")
        logits = model.backbone(batch["input_ids"], token_type_ids=batch["token_type_ids"], attention_mask=mask)
        index = batch["word_starts"].unsqueeze(-1).expand([-1, -1, logits.shape[-1]])
        return paddle.take_along_axis(logits, index, axis=1)

    def word_lengths(self, batch):
        # word_starts are padded with 0; real starts are >= 1 (after [CLS])
        return (batch["word_starts"] > 0).astype("int64").sum(-1)

    def loss(self, model, batch):
        scores = self.emissions(model, batch)
        if self.use_crf:
            tags = paddle.where(batch["tags"] == IGNORE_INDEX, paddle.zeros_like(batch["tags"]), batch["tags"])
            return LinearChainCrfLoss(model.crf)(scores, self.word_lengths(batch), tags).mean()
        # Averaged over real words only: paddle's "mean" would also count the ignored padding.
        per_word = F.cross_entropy(scores, batch["tags"].unsqueeze(-1), ignore_index=IGNORE_INDEX,
                                   reduction="none").squeeze(-1)
        real = (batch["tags"] != IGNORE_INDEX).astype(per_word.dtype)
        return (per_word * real).sum() / real.sum().clip(min=1.0)

    def decode(self, model, batch) -> list[list[int]]:
        scores = self.emissions(model, batch)
        lengths = self.word_lengths(batch)
        if self.use_crf:
            _, paths = ViterbiDecoder(model.crf.transitions, with_start_stop_tag=False)(scores, lengths)
        else:
            paths = scores.argmax(-1)
        paths, lengths = paths.numpy(), lengths.numpy()
        return [row[:n].tolist() for row, n in zip(paths, lengths)]

    def tag_sequences(self, model, features, batch_size=64) -> list[list[str]]:
        """Predicted tags per word; words cut off by max_length are tagged O."""
        paths = self.forward_batches(model, features, self.decode, batch_size)
        out = []
        for path, feature in zip(paths, features):
            tags = [self.labels[i] for i in path]
            out.append(tags + ["O"] * (feature["num_words"] - len(tags)))
        return out

    def evaluate(self, model, features, batch_size=64):
        pred = self.tag_sequences(model, features, batch_size)
        gold = [[self.labels[i] for i in f["tags"]] + ["O"] * (f["num_words"] - len(f["tags"])) for f in features]
        return chunk_scores(gold, pred)

    def parse_input_line(self, line, where):
        text = line.strip()
        if not text:
            raise TaskError(f"{where}: empty line; expected one sentence per line")
        return {"tokens": list(text)}

    def predict(self, model, inputs, batch_size=64):
        features = self.encode_all(inputs, with_label=False, what="sentences")
        results = []
        for example, tags in zip(inputs, self.tag_sequences(model, features, batch_size)):
            text = "".join(example["tokens"])
            found = [{"type": kind, "text": "".join(example["tokens"][s:e]), "start": s, "end": e}
                     for kind, s, e in entities(tags)]
            results.append({"text": text, "entities": found, "tags": tags})
        return results


TASK = NerTask
