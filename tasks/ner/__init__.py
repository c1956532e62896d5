"""Sequence labeling (NER, BIO): per-word tag scores, softmax or CRF decoding.

The sentence is tokenised as a whole, as the encoder was pretrained (a SentencePiece model joins
Chinese characters into pieces such as 北京 or 大学; fed one character at a time, the offline
encoder's token features are much weaker: a linear probe of layer 8 scores chunk F1 0.39 that
way against 0.57 on whole-sentence pieces, 1,500 MSRA sentences). Every word (here a character)
is tagged from the piece holding its first character, by the classifier for its rank inside the
piece (TokenTagger), so an entity boundary inside a piece (about 7% of MSRA's entities; 在北|京)
is still tagged exactly: labelling only the first word of each piece caps test F1 at 0.944.
"""
import unicodedata

import numpy as np

from tasks.config import NerOptions
from tasks.engine.batching import pad_collator
from tasks.engine.losses import CrfLoss, TokenCrossEntropy
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
        self.unaligned = 0  # sentences whose pieces could not be matched to the words (tokenised word by word)

    def word_pieces(self, word: str) -> list[int]:
        """Sub-token ids of one word alone (the fallback). SentencePiece adds a bare '▁' before a
        word that has no '▁X' piece; it carries nothing here, so it is dropped."""
        if word not in self._pieces:
            pieces = self.tokenizer.tokenize(word)
            if len(pieces) > 1 and pieces[0] == SENTENCEPIECE_SPACE:
                pieces = pieces[1:]
            if not pieces:  # whitespace-only word
                pieces = [self.tokenizer.unk_token]
            self._pieces[word] = self.tokenizer.convert_tokens_to_ids(pieces)
        return self._pieces[word]

    def sentence_pieces(self, words: list[str]) -> list[tuple[int, list[int]]]:
        """(piece id, the words whose first character the piece holds, in order) of the whole
        sentence: characters joined (words joined by spaces when they are longer). Every word is
        held by exactly one piece."""
        joiner = "" if all(len(w) == 1 for w in words) else " "
        normalised, first_of = [], {}
        for i, word in enumerate(words):
            if i and joiner:
                normalised.append(" ")
            for k, ch in enumerate(word):  # the tokenizer normalises with NFKC (，-> ,); map back to the word
                if k == 0:
                    first_of[len(normalised)] = i
                normalised.extend(unicodedata.normalize("NFKC", ch))
        text, pieces, position, out = "".join(normalised), self.tokenizer.tokenize(joiner.join(words)), 0, []
        for piece in pieces:
            surface = piece.replace(SENTENCEPIECE_SPACE, "")
            found = text.find(surface, position) if surface else -1
            if surface and found < 0:
                self.unaligned += 1
                out = []
                for w, word in enumerate(words):  # each word tokenised alone
                    first, *rest = self.word_pieces(word)
                    out += [(first, [w])] + [(i, []) for i in rest]
                return out
            held = [first_of[c] for c in range(found, found + len(surface)) if c in first_of] if surface else []
            out.append((self.tokenizer.convert_tokens_to_ids(piece), held))
            if surface:
                position = found + len(surface)
        return _hold_every_word(out, len(words))

    def encode(self, example, with_label=True):
        words = example["tokens"]
        ids, word_pieces, word_offsets = [self.tokenizer.cls_token_id], [], []
        for piece, held in self.sentence_pieces(words):
            if len(ids) >= self.max_length - 1:
                self.truncated += 1
                break
            word_pieces += [len(ids)] * len(held)
            word_offsets += range(len(held))
            ids.append(piece)
        ids.append(self.tokenizer.sep_token_id)
        feature = {"input_ids": ids, "token_type_ids": [0] * len(ids), "word_pieces": word_pieces,
                   "word_offsets": word_offsets, "num_words": len(words)}
        if with_label:
            unknown = [t for t in example["labels"] if t not in self.label_to_id]
            if unknown:
                where = example.get("where") or "example"
                raise TaskError(f"{where}: tag {unknown[0]!r} is not in this model's tag set {self.labels}")
            feature["tags"] = [self.label_to_id[tag] for tag in example["labels"][:len(word_pieces)]]
            feature["gold"] = list(example["labels"])
        return feature

    @staticmethod
    def word_tags(tags: list[str], feature: dict) -> list[str]:
        """One tag per word: the words max_length cut off are O."""
        return list(tags) + ["O"] * (feature["num_words"] - len(tags))

    def collate_fn(self):
        return pad_collator({"input_ids": self.pad_id, "token_type_ids": 0, "word_pieces": 0, "word_offsets": 0,
                             "tags": IGNORE_INDEX})

    def build_model(self, encoder_name):
        return TokenTagger(self.load_encoder(encoder_name), self.pad_id, len(self.labels),
                           crf=self.options.crf, crf_lr=self.options.crf_lr)

    def build_loss(self, model):
        return CrfLoss(model.crf) if self.options.crf else TokenCrossEntropy()

    def tag_sequences(self, runner, features, batch_size=64) -> list[list[str]]:
        """Predicted tags per word (see word_tags)."""
        runner = as_runner(runner)
        transitions = runner.extras.get("transitions")
        out = []
        for (emissions,), feature in zip(self.run_batches(runner, features, batch_size), features):
            n = len(feature["word_pieces"])
            path = TokenTagger.decode(emissions[None, :n], np.array([n]), transitions)[0]
            out.append(self.word_tags([self.labels[i] for i in path], feature))
        return out

    def evaluate(self, runner, features, batch_size=64):
        return chunk_scores([f["gold"] for f in features], self.tag_sequences(runner, features, batch_size))

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


def _hold_every_word(pieces: list[tuple[int, list[int]]], num_words: int) -> list[tuple[int, list[int]]]:
    """A word none of the pieces' text began (a character the tokenizer drops) joins the piece
    holding the word before it (the first piece for word 0)."""
    holder = {w: k for k, (_, words) in enumerate(pieces) for w in words}
    if len(holder) == num_words or not pieces:
        return pieces
    out = [(piece, []) for piece, _ in pieces]
    for w in range(num_words):
        holder.setdefault(w, holder.get(w - 1, 0))
        out[holder[w]][1].append(w)
    return out
