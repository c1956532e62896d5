"""Realistic wrong submissions: the reference solution with one typical mistake.

Used by the project's tests (each must get the stated partial score and hint)
and by `python -m homework bench`.  Each mutant is a textual edit of
homework/instructor/solutions/<assignment>.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

SOLUTIONS = Path(__file__).resolve().parent / "solutions"


@dataclass(frozen=True)
class Mutant:
    name: str
    assignment: str
    old: str
    new: str
    mistake: str
    score: float  # expected score on this assignment with the default points
    hints: dict = field(default_factory=dict)  # qid -> substring of the expected hint

    def source(self) -> str:
        text = (SOLUTIONS / (self.assignment + ".py")).read_text(encoding="utf-8")
        if self.old not in text:
            raise ValueError("mutant %s no longer applies to the reference solution" % self.name)
        return text.replace(self.old, self.new, 1)


MUTANTS = [
    Mutant("lstm_one_bias", "rnn_params",
           "+ 2 * hidden_size)", "+ hidden_size)",
           "one bias vector per layer and direction instead of Paddle's two (b_ih, b_hh)",
           score=4.0, hints={"q2_lstm": "只算了一个", "q4_rnn_classifier": "两个偏置向量"}),
    Mutant("forgot_bidirectional", "rnn_params",
           "    dirs = 2 if bidirectional else 1\n    total = 0", "    dirs = 1\n    total = 0",
           "counts one direction only for bidirectional RNNs",
           score=2 / 4 * 2 * 3 + 1 / 3 * 2 + 2 + 2, hints={"q3_gru": "要 ×2", "q4_rnn_classifier": "两个方向"}),
    Mutant("rnn_weights_transposed", "rnn_params",
           'shapes["weight_ih_l%d%s" % (layer, suffix)] = [rows, layer_input]',
           'shapes["weight_ih_l%d%s" % (layer, suffix)] = [layer_input, rows]',
           "W_ih listed as [input, gates*hidden] (Linear's layout) instead of Paddle's [gates*hidden, input]",
           score=12 - 2, hints={"q6_rnn_param_shapes": "输出维在前"}),
    Mutant("embeddings_without_layernorm", "transformer_bert",
           "type_vocab_size) + _layer_norm(hidden_size)", "type_vocab_size)",
           "BERT embeddings without the LayerNorm parameters",
           score=18 - 2 - 3, hints={"q1_bert_embeddings": "LayerNorm", "q4_bert_model": "LayerNorm"}),
    Mutant("decoder_without_cross_attention", "transformer_bert",
           "    return 2 * _mha(d_model) + ffn + 3 * _layer_norm(d_model)",
           "    return _mha(d_model) + ffn + 2 * _layer_norm(d_model)",
           "decoder layer counted like an encoder layer (no cross-attention)",
           score=18 - 2, hints={"q3_decoder_layer": "交叉注意力"}),
    Mutant("sinusoid_concatenated", "transformer_bert",
           "    pe[:, 0::2] = np.sin(angle)\n    pe[:, 1::2] = np.cos(angle)",
           "    pe[:, : d_model // 2] = np.sin(angle)\n    pe[:, d_model // 2:] = np.cos(angle)",
           "sin and cos concatenated instead of interleaved",
           score=18 - 2, hints={"q5_sinusoidal": "交错排列"}),
    Mutant("variance_before_scaling", "attention",
           "    return var / d_k if scaled else var", "    return var",
           "variance of the scaled score computed before scaling",
           score=11 - 1, hints={"q2_score_variance": "缩放之前的方差"}),
    Mutant("attention_not_scaled", "attention",
           "    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])",
           "    scores = q @ np.swapaxes(k, -1, -2)",
           "forgot to divide the scores by sqrt(d_k)",
           score=11 - 3, hints={"q1_sdpa": "√d_k"}),
    Mutant("mha_head_dim_not_split", "attention",
           "    head_dim = d_model // num_heads", "    head_dim = d_model",
           "every head works in all d_model dimensions (head_dim = d_model instead of d_model / num_heads)",
           score=11 - 2 * 3 / 4, hints={"q4_multihead_shapes": "d_model / num_heads"}),
    Mutant("mlm_all_mask", "mlm_masking",
           "    out[selected & (action < 0.8)] = mask_token_id\n"
           "    to_random = selected & (action >= 0.8) & (action < 0.9)\n"
           "    normal = np.setdiff1d(np.arange(vocab_size), special_token_ids)\n"
           "    out[to_random] = rng.choice(normal, size=int(to_random.sum()))\n",
           "    out[selected] = mask_token_id\n",
           "every selected token becomes [MASK] (no 10% random / 10% unchanged)",
           score=6 + 2 + 4 * 3 / 6, hints={"q2_mask_tokens": "80%"}),
    Mutant("mlm_no_unchanged", "mlm_masking",
           "    out[selected & (action < 0.8)] = mask_token_id", "    out[selected] = mask_token_id",
           "the 10% 'unchanged' tokens are replaced by [MASK] as well (90% [MASK], 10% random)",
           score=6 + 2 + 4 * 4 / 6, hints={"q2_mask_tokens": "80%"}),
    Mutant("mlm_selects_12_percent", "mlm_masking",
           "    selected = (rng.random(len(ids)) < mask_prob) & ~special",
           "    selected = (rng.random(len(ids)) < mask_prob * 0.8) & ~special",
           "selects 15%*80% = 12% of the tokens",
           score=6 + 2 + 4 * 5 / 6, hints={"q2_mask_tokens": "12%"}),
    Mutant("wwm_characters_then_whole_span", "mlm_masking",
           "    chosen = rng.random(len(spans)) < mask_prob\n",
           "    picked = rng.random(len(input_ids)) < mask_prob\n"
           "    chosen = [picked[start:end].any() for start, end in spans]\n",
           "picks characters with mask_prob, then masks the whole span of each pick (long spans over-masked)",
           score=12 - 3 * 2 / 6, hints={"q3_whole_word_mask": "逐字抽选"}),
    Mutant("wwm_first_character_only", "mlm_masking",
           "            for i in range(start, end):\n                labels[i] = input_ids[i]",
           "            for i in range(start, start + 1):\n                labels[i] = input_ids[i]",
           "masks only the first character of a chosen span",
           score=12 - 3 * 2 / 6, hints={"q3_whole_word_mask": "所有字都换成"}),
    Mutant("sop_negatives_from_other_document", "mlm_masking",
           '            elif task == "sop":\n                pairs.append([second, first, 0])\n', "",
           "SOP negatives built like NSP ones (second sentence from another document)",
           score=12 - 3 / 6, hints={"q4_sentence_pairs": "SOP 负例是同一篇文档"}),
    Mutant("nsp_negatives_from_same_document", "mlm_masking",
           "others = [s for e, other in enumerate(documents) if e != d for s in other]",
           "others = [s for s in doc if s != second]",
           "NSP negatives drawn from the same document",
           score=12 - 3 / 6, hints={"q4_sentence_pairs": "另一篇文档"}),
    Mutant("negative_sampling_without_positive", "negative_sampling",
           "    rows = vocab_size if num_negatives is None else num_negatives + 1",
           "    rows = vocab_size if num_negatives is None else num_negatives",
           "counts the k negatives but not the positive (context) word",
           score=8 - 1.5, hints={"q1_update_cost": "正样本"}),
    Mutant("negative_sampling_sign", "negative_sampling",
           "    negative = _log_sigmoid(-(negatives @ center)).sum()",
           "    negative = _log_sigmoid(negatives @ center).sum()",
           "log sigma(u_k . v_c) instead of log sigma(-u_k . v_c) for the negatives",
           score=8 - 3, hints={"q2_loss": "取负号"}),
]


def get(name: str) -> Mutant:
    for m in MUTANTS:
        if m.name == name:
            return m
    raise KeyError(name)
