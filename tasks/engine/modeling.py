"""The task models: Layers that own their forward, built from small head Layers.

Each model wraps a PaddleNLP encoder (``BertModel`` / ``ErnieModel`` from ``AutoModel``) and says
which batch fields it takes and which of them are texts it encodes (``text_inputs``: the frozen
prefix caches its output per text, tasks/engine/frozen.py):

  ``train_inputs`` -> ``forward(...)``  what the task's loss needs (logits, emissions, embeddings)
  ``infer_inputs`` -> ``infer(...)``    what prediction needs; this is the function ``export`` saves

A checkpoint is the encoder's ``save_pretrained`` plus the heads' weights in ``head.pdparams``.
"""
from __future__ import annotations

from pathlib import Path

import paddle
import paddle.nn as nn
import paddle.nn.functional as F
import numpy as np
from tasks.engine.crf import LinearChainCrf  # PaddleNLP's, normaliser fixed (see crf.py)
from tasks.engine.frozen import FrozenPrefix

from tasks.errors import TaskError

HEAD_FILE = "head.pdparams"
ENCODER_PREFIX = "encoder."


class Pooling(nn.Layer):
    """One vector per text: ``cls`` is the encoder's pooler ([CLS] through dense + tanh, as BERT and
    ERNIE were pretrained), ``mean`` the average of the real tokens (as e5 and Sentence-BERT)."""

    MODES = ("cls", "mean")

    def __init__(self, mode: str):
        super().__init__()
        if mode not in self.MODES:
            raise TaskError(f"pooling {mode!r}: expected one of {self.MODES}")
        self.mode = mode

    def forward(self, sequence, pooled, mask):
        if self.mode == "cls":
            return pooled
        weights = mask.astype(sequence.dtype).unsqueeze(-1)
        return (sequence * weights).sum(1) / weights.sum(1)


class SegmentPairPooling(nn.Layer):
    """A text pair encoded together (cross-encoder): the mean of each text's own tokens, u and v,
    compared as Sentence-BERT compares two embeddings, [u, v, |u - v|, u * v]. Every layer below
    still lets each token attend to the other text. Segments come from the separator tokens, so
    both conventions work: BERT's [CLS] a [SEP] b [SEP] and XLM-R's <s> a </s></s> b </s>."""

    def __init__(self, sep_id: int):
        super().__init__()
        self.sep_id = int(sep_id)

    def forward(self, sequence, input_ids, mask):
        is_sep = (input_ids == self.sep_id).astype("int64")
        after_sep = paddle.cumsum(is_sep, axis=1)
        real = mask * (1 - is_sep)
        not_cls = (paddle.cumsum(paddle.ones_like(input_ids), axis=1) > 1).astype("int64")
        first = (after_sep == 0).astype("int64") * real * not_cls
        second = (after_sep > 0).astype("int64") * real
        u, v = (masked_mean(sequence, m) for m in (first, second))
        return paddle.concat([u, v, (u - v).abs(), u * v], axis=-1)


def masked_mean(sequence, mask):
    weights = mask.astype(sequence.dtype).unsqueeze(-1)
    return (sequence * weights).sum(1) / weights.sum(1).clip(min=1.0)


class PairClassifier(nn.Layer):
    """Sentence-BERT's classifier on [u, v, |u - v|] (Reimers & Gurevych, 2019)."""

    def __init__(self, hidden: int, num_labels: int):
        super().__init__()
        self.linear = nn.Linear(3 * hidden, num_labels)

    def forward(self, u, v):
        return self.linear(paddle.concat([u, v, (u - v).abs()], axis=-1))


class CosineScorer(nn.Layer):
    """Cosine similarity of two embeddings, and the match decision at a threshold tuned on dev
    (a buffer: saved and exported with the model)."""

    def __init__(self, threshold: float = 0.5):
        super().__init__()
        self.register_buffer("threshold", paddle.to_tensor([threshold], dtype="float32"), persistable=True)

    def set_threshold(self, value: float):
        self.threshold.set_value(paddle.to_tensor([value], dtype="float32"))

    def forward(self, u, v):
        score = (F.normalize(u, axis=-1) * F.normalize(v, axis=-1)).sum(-1)
        return score, score >= self.threshold


class EncoderModel(nn.Layer):
    """Base: a PaddleNLP encoder plus head Layers; the attention mask comes from the pad id."""

    train_inputs: tuple = ("input_ids", "token_type_ids")
    infer_inputs: tuple = ("input_ids", "token_type_ids")   # the arguments of ``infer``, by name
    infer_outputs: tuple = ("logits",)
    text_inputs: tuple = (("input_ids", "token_type_ids"),)  # (token ids, token types) of each text encoded

    def __init__(self, encoder, pad_id: int):
        super().__init__()
        self.encoder = encoder
        self.pad_id = int(pad_id)
        self.hidden_size = encoder.config.hidden_size
        self.dropout = nn.Dropout(encoder.config.hidden_dropout_prob)
        self.prefix = FrozenPrefix(self)  # the embeddings; freeze_prefix(N) adds the first N layers and a cache

    # -- the encoder, layer by layer ---------------------------------------
    @property
    def layers(self):
        """The encoder's Transformer layers (BertModel / ErnieModel: ``encoder.encoder.layers``)."""
        return self.encoder.encoder.layers

    def attention_bias(self, input_ids):
        """Additive attention mask [batch, 1, 1, seq], or None when no row is padded: the
        broadcast add it costs in every layer (100+ ms per layer at [32,12,128,128] on CPU) is
        skipped for the exact-length batches training builds. Exported graphs always take it."""
        padded = input_ids == self.pad_id
        if paddle.in_dynamic_mode() and not bool(padded.any()):
            return None
        return padded.astype("float32").unsqueeze([1, 2]) * -1e4

    def embed_tokens(self, input_ids, token_type_ids=None):
        if token_type_ids is None:
            token_type_ids = paddle.zeros_like(input_ids)
        return self.encoder.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)

    def hidden_states(self, input_ids, token_type_ids=None) -> list:
        """The output of the embeddings and of every layer (ELMo's E_0 .. E_L), the whole encoder."""
        bias = self.attention_bias(input_ids)
        states = [self.embed_tokens(input_ids, token_type_ids)]
        for layer in self.layers:
            states.append(layer(states[-1], bias))
        return states

    def freeze_prefix(self, depth: int) -> FrozenPrefix:
        """Freeze the embeddings and the first ``depth`` layers; their output is cached per text."""
        if not 1 <= depth <= len(self.layers):
            raise TaskError(f"a frozen prefix of {depth} layers: expected 1 to {len(self.layers)} for a "
                            f"{len(self.layers)}-layer encoder")
        self.prefix = FrozenPrefix(self, depth).freeze()
        return self.prefix

    def run_layers(self, hidden, input_ids, stop: int | None = None):
        """The Transformer layers above the prefix (up to ``stop``) on the prefix's output."""
        bias = self.attention_bias(input_ids)
        for layer in self.layers[self.prefix.depth:stop]:
            hidden = layer(hidden, bias)
        return hidden

    def encode(self, input_ids, token_type_ids=None):
        """(sequence output, pooled output, mask) of the encoder."""
        mask = (input_ids != self.pad_id).astype("int64")
        hidden = self.run_layers(self.prefix(input_ids, token_type_ids), input_ids)
        return hidden, self.encoder.pooler(hidden), mask

    def export_extras(self) -> dict:
        """Values prediction needs besides the graph's outputs (written to export.json)."""
        return {}

    def prepare(self, batch: dict):
        """Data-dependent initial values, from the first training batch (before the first step)."""

    # -- checkpoint ------------------------------------------------------
    def head_state(self) -> dict:
        return {k: v for k, v in self.state_dict().items() if not k.startswith(ENCODER_PREFIX)}

    def save(self, directory: Path):
        self.encoder.save_pretrained(str(directory))
        paddle.save(self.head_state(), str(Path(directory) / HEAD_FILE))

    def load_head(self, directory: Path):
        path = Path(directory) / HEAD_FILE
        if not path.is_file() or path.stat().st_size == 0:
            raise TaskError(f"{path}: missing or empty; expected the task head's weights written by `train`")
        try:
            state = paddle.load(str(path))
        except Exception as err:  # paddle raises several kinds for a truncated file
            raise TaskError(f"{path}: cannot be read ({type(err).__name__}); the checkpoint is damaged, "
                            "train again or use another checkpoint") from None
        missing = sorted(set(self.head_state()) - set(state))
        if missing:
            raise TaskError(f"{path}: lacks {missing[:3]}; it was written for another task head")
        self.set_state_dict(state)


class SequenceClassifier(EncoderModel):
    """Text (or text pair) -> class logits: pooling, dropout, linear (classification, single tower)."""

    def __init__(self, encoder, pad_id: int, num_labels: int, pooling: str = "cls", sep_id: int | None = None):
        super().__init__(encoder, pad_id)
        if pooling == "pair":
            self.pooling = SegmentPairPooling(sep_id)
            self.classifier = nn.Linear(4 * self.hidden_size, num_labels)
        else:
            self.pooling = Pooling(pooling)
            self.classifier = nn.Linear(self.hidden_size, num_labels)

    def forward(self, input_ids, token_type_ids):
        sequence, pooled, mask = self.encode(input_ids, token_type_ids)
        if isinstance(self.pooling, SegmentPairPooling):
            features = self.pooling(sequence, input_ids, mask)
        else:
            features = self.pooling(sequence, pooled, mask)
        return self.classifier(self.dropout(features))

    def infer(self, input_ids, token_type_ids):
        return self(input_ids, token_type_ids)


def viterbi_decode(emissions: np.ndarray, lengths: np.ndarray, transitions: np.ndarray) -> np.ndarray:
    """Best tag path per sentence under a linear-chain CRF without start/stop tags (as PaddleNLP's
    ViterbiDecoder with with_start_stop_tag=False). numpy, so the exported engines decode exactly as
    the eager model does: the graph gives emissions, this gives tags."""
    batch, steps, _ = emissions.shape
    score = emissions[:, 0].astype(np.float64)
    back = np.zeros((batch, max(steps - 1, 0), emissions.shape[2]), dtype=np.int64)
    for t in range(1, steps):
        candidates = score[:, :, None] + transitions[None]          # [batch, from, to]
        best_from = candidates.argmax(1)
        new = candidates.max(1) + emissions[:, t]
        alive = (t < lengths)[:, None]                               # finished sentences keep their score
        score = np.where(alive, new, score)
        back[:, t - 1] = np.where(alive, best_from, np.arange(emissions.shape[2])[None])
    paths = np.zeros((batch, steps), dtype=np.int64)
    paths[:, -1] = score.argmax(1)
    for t in range(steps - 1, 0, -1):
        paths[:, t - 1] = back[np.arange(batch), t - 1, paths[:, t]]
    return paths


class TokenTagger(EncoderModel):
    """Per-word tag scores (emissions); softmax or CRF decoding.

    A SentencePiece piece may hold several words (MSRA's words are characters: 北京 is one piece),
    so each word is scored from the piece that holds its first character by one of
    ``PIECE_OFFSETS`` classifiers, chosen by the word's rank inside that piece (0 for the piece's
    first word, 1 for the next, ...; later ranks share the last). An entity boundary inside a piece
    (在北|京) can then be tagged exactly. ``infer`` returns the emissions; ``decode`` turns them
    into tags (argmax, or Viterbi over the CRF's transitions, which export writes beside the graph)."""

    PIECE_OFFSETS = 4  # measured on MSRA: 0.3% of its characters sit 4 or more places into a piece
    train_inputs = ("input_ids", "token_type_ids", "word_pieces", "word_offsets")
    infer_inputs = train_inputs
    infer_outputs = ("emissions",)

    def __init__(self, encoder, pad_id: int, num_tags: int, crf: bool = False, crf_lr: float = 1.0):
        super().__init__(encoder, pad_id)
        self.num_tags = num_tags
        self.classifier = nn.Linear(self.hidden_size, self.PIECE_OFFSETS * num_tags)
        # crf_lr multiplies the optimiser's rate for the transition matrix only
        self.crf = LinearChainCrf(num_tags, crf_lr=crf_lr) if crf else None

    def forward(self, input_ids, token_type_ids, word_pieces, word_offsets):
        sequence, _, _ = self.encode(input_ids, token_type_ids)
        logits = self.classifier(self.dropout(sequence))                     # [batch, pieces, offsets * tags]
        index = word_pieces.unsqueeze(-1).expand([-1, -1, logits.shape[-1]])
        per_word = paddle.take_along_axis(logits, index, axis=1)
        per_word = per_word.reshape([0, 0, self.PIECE_OFFSETS, self.num_tags])  # [batch, words, offsets, tags]
        rank = word_offsets.clip(max=self.PIECE_OFFSETS - 1).unsqueeze(-1).unsqueeze(-1)
        return paddle.take_along_axis(per_word, rank.expand([-1, -1, 1, self.num_tags]), axis=2).squeeze(2)

    def infer(self, input_ids, token_type_ids, word_pieces, word_offsets):
        return self(input_ids, token_type_ids, word_pieces, word_offsets)

    def export_extras(self) -> dict:
        return {"transitions": self.crf.transitions.numpy().tolist() if self.crf is not None else None}

    @staticmethod
    def decode(emissions: np.ndarray, lengths: np.ndarray, transitions) -> np.ndarray:
        if transitions is None:
            return emissions.argmax(-1)
        return viterbi_decode(emissions, lengths, np.asarray(transitions, dtype=np.float64))


class DualTower(EncoderModel):
    """Bi-encoder: one shared encoder embeds each text alone (mean pooling)."""

    train_inputs = ("a_ids", "b_ids")
    infer_inputs = ("input_ids",)
    infer_outputs = ("embedding",)
    text_inputs = (("a_ids", None), ("b_ids", None), ("input_ids", None))

    def __init__(self, encoder, pad_id: int, num_labels: int):
        super().__init__(encoder, pad_id)
        self.pooling = Pooling("mean")
        self.pair_classifier = PairClassifier(self.hidden_size, num_labels)
        self.scorer = CosineScorer()

    def embed(self, input_ids):
        sequence, pooled, mask = self.encode(input_ids, None)
        return self.pooling(sequence, pooled, mask)

    def forward(self, a_ids, b_ids):
        u, v = self.embed(a_ids), self.embed(b_ids)
        return u, v, self.pair_classifier(u, v)

    def infer(self, input_ids):
        return F.normalize(self.embed(input_ids), axis=-1)

    def export_extras(self) -> dict:
        return {"threshold": float(self.scorer.threshold.numpy()[0])}


class LateJoinCrossEncoder(EncoderModel):
    """A cross-encoder whose two texts meet in the top ``joint_layers`` Transformer layers
    (DeFormer, Cao et al. 2020; PreTTR, MacAvaney et al. 2020). Below the join each text runs
    alone, as in a dual tower, so that part is computed (and, when frozen, cached) once per text,
    and one text can be scored against many others at the cost of the joint layers only. Above it
    every token of one text attends to every token of the other; the head compares the two texts'
    token means as Sentence-BERT does, [u, v, |u - v|, u * v]. The match logit also holds the
    cosine of the two texts' means just below the join, less a threshold, scaled by a learned
    factor: the model starts from the pretrained encoder's own notion of similarity (what a dual
    tower starts from; the head starts at zero, the threshold at the first training batch's mean
    cosine) and learns what reading both texts together adds."""

    train_inputs = ("a_ids", "b_ids")
    infer_inputs = ("a_ids", "b_ids")
    infer_outputs = ("logits",)
    text_inputs = (("a_ids", None), ("b_ids", None))

    ALIGN_FEATURES = 3     # per text: mean, lowest-3 mean and minimum of its tokens' best-match cosines
    ALIGN_LR_SCALE = 100.0  # three standardised numbers, weights from zero: at the encoder's lr they barely move

    def __init__(self, encoder, pad_id: int, num_labels: int, joint_layers: int, positive: int = 1,
                 similarity_scale: float = 20.0, align: bool = False):
        super().__init__(encoder, pad_id)
        self.align = align
        if not 1 <= joint_layers <= len(self.layers):
            raise TaskError(f"--joint-layers {joint_layers}: expected 1 to {len(self.layers)} for a "
                            f"{len(self.layers)}-layer encoder")
        self.joint_layers = joint_layers
        # added to the second text's states at the join, so the joint layers can tell the texts apart
        self.second_text = self.create_parameter([self.hidden_size], default_initializer=nn.initializer.Constant(0.0))
        zero = nn.initializer.Constant(0.0)
        self.classifier = nn.Linear(4 * self.hidden_size, num_labels, weight_attr=paddle.ParamAttr(initializer=zero))
        self.similarity_scale = self.create_parameter(
            [1], default_initializer=nn.initializer.Constant(similarity_scale))
        self.similarity_threshold = self.create_parameter([1], default_initializer=nn.initializer.Constant(0.0))
        if align:  # how well each token finds its twin in the other text, after the joint layers
            self.aligner = nn.Linear(self.ALIGN_FEATURES, 1, weight_attr=paddle.ParamAttr(
                initializer=zero, learning_rate=self.ALIGN_LR_SCALE), bias_attr=paddle.ParamAttr(
                initializer=zero, learning_rate=self.ALIGN_LR_SCALE))
            self.register_buffer("align_mean", paddle.zeros([self.ALIGN_FEATURES]), persistable=True)
            self.register_buffer("align_std", paddle.ones([self.ALIGN_FEATURES]), persistable=True)
        self.register_buffer("match_column", paddle.to_tensor(
            [1.0 if i == positive else 0.0 for i in range(num_labels)], dtype="float32"), persistable=True)

    def freeze_prefix(self, depth: int) -> FrozenPrefix:
        if depth > len(self.layers) - self.joint_layers:
            raise TaskError(f"--train-layers {len(self.layers) - depth} is below --joint-layers {self.joint_layers}: "
                            "frozen layers that read both texts cannot be cached per text")
        return super().freeze_prefix(depth)

    def alone(self, input_ids):
        """One text's states below the join (its frozen prefix from the cache)."""
        return self.run_layers(self.prefix(input_ids), input_ids, len(self.layers) - self.joint_layers)

    def joint_states(self, a_hidden, a_ids, b_hidden, b_ids):
        """The pair's states after the joint layers: a's tokens, then b's."""
        ids = paddle.concat([a_ids, b_ids], axis=1)
        hidden = paddle.concat([a_hidden, b_hidden + self.second_text], axis=1)
        bias = self.attention_bias(ids)
        for layer in self.layers[len(self.layers) - self.joint_layers:]:
            hidden = layer(hidden, bias)
        return hidden

    def join(self, a_hidden, a_ids, b_hidden, b_ids):
        """Logits of the pairs (a_i, b_i), from each text's states below the join."""
        hidden = self.joint_states(a_hidden, a_ids, b_hidden, b_ids)
        a_real, b_real = (a_ids != self.pad_id).astype("int64"), (b_ids != self.pad_id).astype("int64")
        cosine = self.cosine(a_hidden, a_real, b_hidden, b_real)
        u = masked_mean(hidden, paddle.concat([a_real, paddle.zeros_like(b_real)], axis=1))
        v = masked_mean(hidden, paddle.concat([paddle.zeros_like(a_real), b_real], axis=1))
        logits = self.classifier(self.dropout(paddle.concat([u, v, (u - v).abs(), u * v], axis=-1)))
        logits = logits + self.similarity_scale * (cosine - self.similarity_threshold) * self.match_column
        if self.align:
            z = (self.alignment(hidden, a_real, b_real) - self.align_mean) / self.align_std
            logits = logits + self.aligner(z) * self.match_column
        return logits

    @staticmethod
    def alignment(hidden, a_real, b_real):
        """[batch, 3]: each token's best cosine with a token of the other text (its twin, when the texts
        hold the same words); per text the mean, the mean of the lowest three and the minimum, the two
        texts averaged. A word whose context changed finds its twin less alike."""
        width = a_real.shape[1]
        a, b = F.normalize(hidden[:, :width], axis=-1), F.normalize(hidden[:, width:], axis=-1)
        cos = paddle.matmul(a, b, transpose_y=True)   # [batch, a tokens, b tokens]
        stats = []
        for scores, rows, cols in ((cos, a_real, b_real), (cos.transpose([0, 2, 1]), b_real, a_real)):
            best = (scores - (1 - cols.astype(scores.dtype)).unsqueeze(1) * 1e4).max(-1)
            real = rows.astype(best.dtype)
            worst_first = paddle.concat([best * real + (1 - real) * 1e4,   # pads sort last (and
                                         paddle.full_like(best[:, :3], 1e4)], axis=-1)  # three always exist)
            low = -paddle.topk(-worst_first, k=3, axis=-1)[0]
            stats.append(paddle.stack([(best * real).sum(-1) / real.sum(-1), low.clip(max=1.0).mean(-1),
                                       low[:, 0]], axis=-1))
        return (stats[0] + stats[1]) / 2

    @staticmethod
    def cosine(a_hidden, a_real, b_hidden, b_real):
        """Cosine of the two texts' token means, [batch, 1]."""
        return (F.normalize(masked_mean(a_hidden, a_real), axis=-1) *
                F.normalize(masked_mean(b_hidden, b_real), axis=-1)).sum(-1, keepdim=True)

    def prepare(self, batch):
        """The threshold starts at the first training batch's mean cosine below the join; the alignment
        numbers (``align``) are standardised by that batch's."""
        with paddle.no_grad():
            a_ids, b_ids = batch["a_ids"], batch["b_ids"]
            a_hidden, b_hidden = self.alone(a_ids), self.alone(b_ids)
            a_real, b_real = (a_ids != self.pad_id).astype("int64"), (b_ids != self.pad_id).astype("int64")
            self.similarity_threshold.set_value(self.cosine(a_hidden, a_real, b_hidden, b_real).mean().reshape([1]))
            if self.align:
                features = self.alignment(self.joint_states(a_hidden, a_ids, b_hidden, b_ids), a_real, b_real)
                self.align_mean.set_value(features.mean(0))
                self.align_std.set_value(features.std(0).clip(min=1e-4))

    def forward(self, a_ids, b_ids):
        """(logits, each text's states below the join: the ranking loss pairs them with other texts)."""
        a_hidden, b_hidden = self.alone(a_ids), self.alone(b_ids)
        return self.join(a_hidden, a_ids, b_hidden, b_ids), a_hidden, b_hidden

    def infer(self, a_ids, b_ids):
        return self.join(self.alone(a_ids), a_ids, self.alone(b_ids), b_ids)
