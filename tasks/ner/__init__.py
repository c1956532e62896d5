"""Sequence labeling (NER, BIO): per-word tag scores, softmax or CRF decoding.

The sentence is tokenised as a whole, as the encoder was pretrained (a SentencePiece model joins
Chinese characters into pieces such as 北京 or 大学; fed one character at a time, the offline
encoder's token features are much weaker: a linear probe of layer 8 scores chunk F1 0.39 that
way against 0.57 on whole-sentence pieces, 1,500 MSRA sentences). A word (here a character)
whose first character starts a piece is labelled at that piece (TokenTagger gathers those
positions); a word inside a piece continues the piece's tag (I-X after B-X/I-X, else O). An
entity boundary inside a piece (about 7% of MSRA's entities) therefore cannot be predicted
exactly, and costs recall: evaluation always compares with every gold word's tag.
"""
import unicodedata

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


def continuation(tag: str) -> str:
    """The tag of a word inside the piece whose first word is tagged ``tag``."""
    return "O" if tag == "O" else "I-" + tag.partition("-")[2]


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

    def sentence_pieces(self, words: list[str]) -> list[tuple[int, int]]:
        """(piece id, index of the word holding the piece's first character; -1 for a bare '▁')
        of the whole sentence: characters joined (words joined by spaces when they are longer)."""
        joiner = "" if all(len(w) == 1 for w in words) else " "
        normalised, owner = [], []
        for i, word in enumerate(words):
            if i and joiner:
                normalised.append(" ")
                owner.append(-1)
            for ch in word:  # the tokenizer normalises with NFKC (，-> ,); map back to the word
                for c in unicodedata.normalize("NFKC", ch):
                    normalised.append(c)
                    owner.append(i)
        text, pieces, position, out = "".join(normalised), self.tokenizer.tokenize(joiner.join(words)), 0, []
        for piece in pieces:
            surface = piece.replace(SENTENCEPIECE_SPACE, "")
            found = text.find(surface, position) if surface else -1
            if surface and found < 0:
                self.unaligned += 1
                return [(i, w) for w, word in enumerate(words) for i in self.word_pieces(word)]
            out.append((self.tokenizer.convert_tokens_to_ids(piece), owner[found] if surface else -1))
            if surface:
                position = found + len(surface)
        return out

    def encode(self, example, with_label=True):
        words = example["tokens"]
        ids, starts, start_words = [self.tokenizer.cls_token_id], [], []
        covered = len(words)  # words the pieces reach (fewer when max_length cuts the sentence)
        for piece, word in self.sentence_pieces(words):
            if len(ids) >= self.max_length - 1:
                self.truncated += 1
                covered = max(word, start_words[-1] + 1 if start_words else 0)
                break
            if word >= 0 and (not start_words or word > start_words[-1]):
                starts.append(len(ids))
                start_words.append(word)
            ids.append(piece)
        ids.append(self.tokenizer.sep_token_id)
        feature = {"input_ids": ids, "token_type_ids": [0] * len(ids), "word_starts": starts,
                   "start_words": start_words, "covered_words": covered, "num_words": len(words)}
        if with_label:
            unknown = [t for t in example["labels"] if t not in self.label_to_id]
            if unknown:
                where = example.get("where") or "example"
                raise TaskError(f"{where}: tag {unknown[0]!r} is not in this model's tag set {self.labels}")
            feature["tags"] = [self.label_to_id[example["labels"][w]] for w in start_words]
            feature["gold"] = list(example["labels"])
        return feature

    @staticmethod
    def word_tags(piece_tags: list[str], feature: dict) -> list[str]:
        """One tag per word: a word starting a piece takes the piece's tag, the words after it in
        the same piece continue it, words cut off by max_length are O."""
        tags = ["O"] * feature["num_words"]
        bounds = feature["start_words"][1:] + [feature["covered_words"]]
        for tag, first, end in zip(piece_tags, feature["start_words"], bounds):
            tags[first] = tag
            for w in range(first + 1, end):
                tags[w] = continuation(tag)
        return tags

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
        """Predicted tags per word (see word_tags)."""
        runner = as_runner(runner)
        transitions = runner.extras.get("transitions")
        out = []
        for (emissions,), feature in zip(self.run_batches(runner, features, batch_size), features):
            n = len(feature["word_starts"])
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
