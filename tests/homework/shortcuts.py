"""Submissions that answer the structure questions by building the framework's layers and counting.

Each entry: assignment -> (source appended to the reference solution, {qid: ...} of the questions
the shortcut answers).  Later definitions override the reference ones, so the rest of the file
stays correct.  ``TOP_LEVEL`` variants import paddle when the module is imported (not inside the
function), so the refusal has to come from watching what the call runs, not from the import.
"""

RNN = '''

def rnn_param_count(cell, input_size, hidden_size, num_layers=1, bidirectional=False):
    import paddle
    cls = {"rnn": paddle.nn.SimpleRNN, "lstm": paddle.nn.LSTM, "gru": paddle.nn.GRU}[cell]
    layer = cls(input_size, hidden_size, num_layers=num_layers, direction="bidirect" if bidirectional else "forward")
    return int(sum(int(p.numel()) for p in layer.parameters()))


def rnn_classifier_param_count(cell, vocab_size, embed_dim, hidden_size, num_layers, bidirectional, num_classes):
    import paddle
    dirs = 2 if bidirectional else 1
    head = [paddle.nn.Embedding(vocab_size, embed_dim), paddle.nn.Linear(hidden_size * dirs, num_classes)]
    return sum(int(p.numel()) for m in head for p in m.parameters()) + rnn_param_count(
        cell, embed_dim, hidden_size, num_layers, bidirectional)


def rnn_output_shapes(cell, batch_size, seq_len, input_size, hidden_size, num_layers, bidirectional):
    import paddle
    cls = {"rnn": paddle.nn.SimpleRNN, "lstm": paddle.nn.LSTM, "gru": paddle.nn.GRU}[cell]
    layer = cls(input_size, hidden_size, num_layers=num_layers, direction="bidirect" if bidirectional else "forward")
    out, states = layer(paddle.zeros([batch_size, seq_len, input_size]))
    if cell == "lstm":
        return {"outputs": list(out.shape), "h": list(states[0].shape), "c": list(states[1].shape)}
    return {"outputs": list(out.shape), "h": list(states.shape), "c": None}


def rnn_param_shapes(cell, input_size, hidden_size, num_layers, bidirectional):
    import paddle
    cls = {"rnn": paddle.nn.SimpleRNN, "lstm": paddle.nn.LSTM, "gru": paddle.nn.GRU}[cell]
    layer = cls(input_size, hidden_size, num_layers=num_layers, direction="bidirect" if bidirectional else "forward")
    return {name: list(p.shape) for name, p in layer.named_parameters()}
'''

TRANSFORMER = '''

def _bert_config(**kw):
    from paddlenlp.transformers import BertConfig
    return BertConfig(**kw)


def bert_embedding_param_count(vocab_size, hidden_size, max_position_embeddings, type_vocab_size):
    from paddlenlp.transformers.bert.modeling import BertEmbeddings
    emb = BertEmbeddings(_bert_config(vocab_size=vocab_size, hidden_size=hidden_size,
                                      max_position_embeddings=max_position_embeddings,
                                      type_vocab_size=type_vocab_size))
    return sum(int(p.numel()) for p in emb.parameters())


def encoder_layer_param_count(d_model, nhead, dim_feedforward):
    import paddle
    return sum(int(p.numel()) for p in paddle.nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward).parameters())


def decoder_layer_param_count(d_model, nhead, dim_feedforward):
    import paddle
    return sum(int(p.numel()) for p in paddle.nn.TransformerDecoderLayer(d_model, nhead, dim_feedforward).parameters())


def bert_param_count(vocab_size, hidden_size, num_hidden_layers, num_attention_heads, intermediate_size,
                     max_position_embeddings, type_vocab_size):
    from paddlenlp.transformers import BertModel
    model = BertModel(_bert_config(vocab_size=vocab_size, hidden_size=hidden_size,
                                   num_hidden_layers=num_hidden_layers, num_attention_heads=num_attention_heads,
                                   intermediate_size=intermediate_size,
                                   max_position_embeddings=max_position_embeddings, type_vocab_size=type_vocab_size))
    return sum(int(p.numel()) for p in model.parameters())


def position_param_count(kind, max_len, d_model):
    from paddlenlp.transformers.bert.modeling import BertEmbeddings
    if kind != "learned":
        return 0
    emb = BertEmbeddings(_bert_config(vocab_size=8, hidden_size=d_model, max_position_embeddings=max_len))
    return int(emb.position_embeddings.weight.numel())


def bert_embedding_shapes(vocab_size, hidden_size, max_position_embeddings, type_vocab_size):
    from paddlenlp.transformers.bert.modeling import BertEmbeddings
    emb = BertEmbeddings(_bert_config(vocab_size=vocab_size, hidden_size=hidden_size,
                                      max_position_embeddings=max_position_embeddings,
                                      type_vocab_size=type_vocab_size))
    return {name: list(p.shape) for name, p in emb.named_parameters()}
'''

ATTENTION = '''

def multihead_shapes(batch_size, seq_len, d_model, num_heads):
    import paddle
    try:
        mha = paddle.nn.MultiHeadAttention(d_model, num_heads, need_weights=True)
    except AssertionError as exc:
        raise ValueError(str(exc))
    x = paddle.zeros([batch_size, seq_len, d_model])
    out, weights = mha(x, x, x)
    q, _, _ = mha._prepare_qkv(x, x, x)
    return {"head_dim": mha.head_dim, "q_heads": list(q.shape), "scores": list(weights.shape),
            "output": list(out.shape)}


def mha_param_count(embed_dim, num_heads, kdim=None, vdim=None):
    import paddle
    return sum(int(p.numel()) for p in paddle.nn.MultiHeadAttention(embed_dim, num_heads, kdim=kdim,
                                                                     vdim=vdim).parameters())
'''

CONCEPTS = '''

def not_an_rnn(candidates):
    import paddle
    import paddle.vision.models as models
    for name in candidates:
        cls = getattr(paddle.nn, name, None) or getattr(models, name)
        if cls.__module__ != "paddle.nn.layer.rnn":
            return name


def sublayer_counts(kind):
    import paddle
    nn = paddle.nn
    layer = (nn.TransformerEncoderLayer if kind == "encoder" else nn.TransformerDecoderLayer)(16, 2, 32)
    children = list(layer.children())
    return {"attention": sum(isinstance(c, nn.MultiHeadAttention) for c in children),
            "layer_norm": sum(isinstance(c, nn.LayerNorm) for c in children),
            "linear": sum(isinstance(c, nn.Linear) for c in children)}


def causal_mask(n):
    import paddle
    return (paddle.nn.Transformer.generate_square_subsequent_mask(None, n).numpy() == 0).tolist()
'''

SHORTCUTS = {
    "rnn_params": (RNN, {"q1_simple_rnn", "q2_lstm", "q3_gru", "q4_rnn_classifier", "q5_rnn_shapes",
                         "q6_rnn_param_shapes"}),
    "transformer_bert": (TRANSFORMER, {"q1_bert_embeddings", "q2_encoder_layer", "q3_decoder_layer",
                                       "q4_bert_model", "q6_position_params", "q8_embedding_shapes"}),
    "attention": (ATTENTION, {"q4_multihead_shapes", "q5_mha_param_count"}),
    "concepts": (CONCEPTS, {"q1_not_an_rnn", "q2_sublayers", "q3_causal_mask"}),
}


def top_level(source: str) -> str:
    """The same shortcut with `import paddle` done once at import time instead of inside each function."""
    return "\nimport paddle\n" + source.replace("    import paddle\n", "")


def issue_rnn_params(template: str) -> str:
    """The file from the issue: the blank template with Q1–Q3 answered by counting paddle's layers."""
    return template + RNN.split("\n\ndef rnn_classifier_param_count")[0] + "\n"
