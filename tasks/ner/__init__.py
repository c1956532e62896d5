"""Sequence labeling (NER, BIO): per-word tag scores, softmax or CRF decoding.

Words (here: characters) may become several sub-tokens; the first sub-token of each word carries
the word's label, and only those positions are gathered (TokenTagger), so a prediction is exactly
one tag per word.
"""
import numpy as np
import paddle
import paddle.nn.functional as F
from paddlenlp.layers import LinearChainCrfLoss

from tasks.config import NerOptions
from tasks.engine.batching import pad_collator
from tasks.engine.metrics import chunk_scores, entities, is_legal_transition
from tasks.engine.inference import as_runner
from tasks.engine.modeling import TokenTagger
from tasks.engine.task import IGNORE_INDEX, Task
from tasks.errors import TaskError

SENTENCEPIECE_SPACE = "\u2581"


class NerTask(Task):
    name = "ner"
    data_kind = "ner"
    main_metric = "f1"
    Options = NerOptions

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
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
                where = example.get("where") or "example"
                raise TaskError(f"{where}: tag {unknown[0]!r} is not in this model's tag set {self.labels}")
            feature["tags"] = [self.label_to_id[t] for t in example["labels"][:len(starts)]]
        return feature

    def collate_fn(self):
        return pad_collator({"input_ids": self.pad_id, "token_type_ids": 0, "word_starts": 0, "tags": IGNORE_INDEX})

    def build_model(self, encoder_name):
        return TokenTagger(self.load_encoder(encoder_name), self.pad_id, len(self.labels),
                           crf=self.options.crf, crf_lr=self.options.crf_lr)

    def loss(self, emissions, batch, model):
        tags = batch["tags"]
        if self.options.crf:
            lengths = TokenTagger.word_lengths(batch["word_starts"])
            gold = paddle.where(tags == IGNORE_INDEX, paddle.zeros_like(tags), tags)
            return LinearChainCrfLoss(model.crf)(emissions, lengths, gold).mean()
        # Averaged over real words only: paddle's "mean" would also count the ignored padding.
        per_word = F.cross_entropy(emissions, tags.unsqueeze(-1), ignore_index=IGNORE_INDEX,
                                   reduction="none").squeeze(-1)
        real = (tags != IGNORE_INDEX).astype(per_word.dtype)
        return (per_word * real).sum() / real.sum().clip(min=1.0)

    def tag_sequences(self, runner, features, batch_size=64) -> list[list[str]]:
        """Predicted tags per word; words cut off by max_length are tagged O."""
        runner = as_runner(runner)
        transitions = runner.extras.get("transitions")
        out = []
        for (emissions,), feature in zip(self.run_batches(runner, features, batch_size), features):
            n = len(feature["word_starts"])
            path = TokenTagger.decode(emissions[None, :n], np.array([n]), transitions)[0]
            tags = [self.labels[i] for i in path]
            out.append(tags + ["O"] * (feature["num_words"] - len(tags)))
        return out

    def evaluate(self, runner, features, batch_size=64):
        pred = self.tag_sequences(runner, features, batch_size)
        gold = [[self.labels[i] for i in f["tags"]] + ["O"] * (f["num_words"] - len(f["tags"])) for f in features]
        return chunk_scores(gold, pred)

    def model_report(self, model) -> dict:
        """The CRF's learned transition matrix, and how it scores the moves BIO forbids (O -> I-PER):
        strongly negative once the transitions have learned."""
        if model.crf is None:
            return {}
        matrix = model.crf.transitions.numpy()
        legal = np.array([[is_legal_transition(a, b) for b in self.labels] for a in self.labels])
        return {"crf_transitions": {"labels": self.labels, "matrix": np.round(matrix, 3).tolist(),
                                    "mean_legal": round(float(matrix[legal].mean()), 3),
                                    "mean_illegal": round(float(matrix[~legal].mean()), 3),
                                    "max_illegal": round(float(matrix[~legal].max()), 3)}}

    def parse_input_line(self, line, where):
        text = line.strip()
        if not text:
            raise TaskError(f"{where}: empty line; expected one sentence per line")
        return {"tokens": list(text)}

    def predict(self, runner, inputs, batch_size=64):
        features = self.encode_all(inputs, with_label=False, what="sentences")
        results = []
        for example, tags in zip(inputs, self.tag_sequences(runner, features, batch_size)):
            text = "".join(example["tokens"])
            found = [{"type": kind, "text": "".join(example["tokens"][s:e]), "start": s, "end": e}
                     for kind, s, e in entities(tags)]
            results.append({"text": text, "entities": found, "tags": tags})
        return results

    def format_prediction(self, r):
        found = "  ".join(f"[{e['text']}]{e['type']}" for e in r["entities"]) or "(none)"
        return f"{r['text']}\t{found}"


TASK = NerTask
