"""Reference solution: attention (instructor only)."""

import math

import numpy as np

ASSIGNMENT = "attention"


def _softmax(x, axis=-1):
    x = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    weights = _softmax(scores, axis=-1)
    return weights @ v, weights


def score_variance(d_k, sigma, scaled):
    var = d_k * sigma ** 4
    return var / d_k if scaled else var


def softmax_saturation(q, keys, scaled):
    s = keys @ q
    if scaled:
        s = s / math.sqrt(len(q))
    p = _softmax(s)
    nz = p[p > 0]
    jac = np.diag(p) - np.outer(p, p)
    return {"max_prob": float(p.max()), "entropy": float(-(nz * np.log(nz)).sum()),
            "grad_norm": float(np.linalg.norm(jac))}


def multihead_shapes(batch_size, seq_len, d_model, num_heads):
    if d_model % num_heads:
        raise ValueError("d_model must be divisible by num_heads")
    head_dim = d_model // num_heads
    return {
        "head_dim": head_dim,
        "q_heads": [batch_size, num_heads, seq_len, head_dim],
        "scores": [batch_size, num_heads, seq_len, seq_len],
        "output": [batch_size, seq_len, d_model],
    }


def mha_param_count(embed_dim, num_heads, kdim=None, vdim=None):
    kdim = kdim or embed_dim
    vdim = vdim or embed_dim
    d = embed_dim
    return (d * d + d) + (kdim * d + d) + (vdim * d + d) + (d * d + d)
