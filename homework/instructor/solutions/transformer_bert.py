"""Reference solution: transformer_bert (instructor only)."""

import numpy as np

ASSIGNMENT = "transformer_bert"


def _linear(n_in, n_out):
    return n_in * n_out + n_out


def _layer_norm(d):
    return 2 * d


def _mha(d):
    return 4 * _linear(d, d)


def bert_embedding_param_count(vocab_size, hidden_size, max_position_embeddings, type_vocab_size):
    return hidden_size * (vocab_size + max_position_embeddings + type_vocab_size) + _layer_norm(hidden_size)


def encoder_layer_param_count(d_model, nhead, dim_feedforward):
    ffn = _linear(d_model, dim_feedforward) + _linear(dim_feedforward, d_model)
    return _mha(d_model) + ffn + 2 * _layer_norm(d_model)


def decoder_layer_param_count(d_model, nhead, dim_feedforward):
    ffn = _linear(d_model, dim_feedforward) + _linear(dim_feedforward, d_model)
    return 2 * _mha(d_model) + ffn + 3 * _layer_norm(d_model)


def bert_param_count(vocab_size, hidden_size, num_hidden_layers, num_attention_heads, intermediate_size,
                     max_position_embeddings, type_vocab_size):
    embeddings = bert_embedding_param_count(vocab_size, hidden_size, max_position_embeddings, type_vocab_size)
    layers = num_hidden_layers * encoder_layer_param_count(hidden_size, num_attention_heads, intermediate_size)
    pooler = _linear(hidden_size, hidden_size)
    return embeddings + layers + pooler


def sinusoidal_position_encoding(max_len, d_model):
    pos = np.arange(max_len)[:, None]
    two_i = np.arange(0, d_model, 2)[None, :]
    angle = pos / np.power(10000.0, two_i / d_model)
    pe = np.zeros((max_len, d_model))
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle)
    return pe


def position_param_count(kind, max_len, d_model):
    return max_len * d_model if kind == "learned" else 0


def bert_input_embedding(input_ids, token_type_ids, word_embeddings, position_embeddings,
                         token_type_embeddings, gamma, beta, eps=1e-12):
    positions = np.arange(len(input_ids))
    x = word_embeddings[input_ids] + token_type_embeddings[token_type_ids] + position_embeddings[positions]
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def bert_embedding_shapes(vocab_size, hidden_size, max_position_embeddings, type_vocab_size):
    return {
        "word_embeddings.weight": [vocab_size, hidden_size],
        "position_embeddings.weight": [max_position_embeddings, hidden_size],
        "token_type_embeddings.weight": [type_vocab_size, hidden_size],
        "layer_norm.weight": [hidden_size],
        "layer_norm.bias": [hidden_size],
    }
