"""Lazy access to the framework that provides the truth (paddle, PaddleNLP).

Imported only in the grader's process, and only when a question needs it: the
sandboxed child never imports paddle unless the student's own file does.
"""

from __future__ import annotations

import math
import os

_ENV = {"MKL_DEBUG_CPU_TYPE": "5", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "GLOG_minloglevel": "2"}


_PADDLE = None


def paddle():
    global _PADDLE
    if _PADDLE is None:
        for key, value in _ENV.items():
            os.environ.setdefault(key, value)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import paddle as _paddle

        _paddle.set_device("cpu")
        _PADDLE = _paddle
    return _PADDLE


def bert():
    """(BertConfig, BertModel, BertEmbeddings) from PaddleNLP."""
    paddle()
    from paddlenlp.transformers.bert.configuration import BertConfig
    from paddlenlp.transformers.bert.modeling import BertEmbeddings, BertModel

    return BertConfig, BertModel, BertEmbeddings


def numel(layer, trainable_only: bool = False) -> int:
    """Number of parameters of a paddle Layer (optionally only trainable ones)."""
    return int(sum(math.prod(p.shape) for p in layer.parameters()
                   if not trainable_only or not p.stop_gradient))


def structure_only(paddlenlp: bool = False):
    """Context for building a module only to count its parameters: no weight
    initialisation (paddle.LazyGuard, plus PaddleNLP's no_init_weights for
    PaddleNLP models: the same contexts PaddleNLP's from_pretrained uses).
    Shapes are exact; values are never materialised."""
    import contextlib

    p = paddle()
    stack = contextlib.ExitStack()
    if paddlenlp:
        from paddlenlp.transformers.model_utils import no_init_weights

        stack.enter_context(no_init_weights(True))
    stack.enter_context(p.LazyGuard())
    return stack


def rnn_structure_only():
    """Like structure_only for paddle's RNN layers.  Their __init__ ends with
    flatten_parameters(), which only packs the (already created) weights into one
    contiguous buffer for cuDNN and cannot run on lazy parameters; it is skipped."""
    import contextlib
    from unittest import mock

    p = paddle()
    stack = contextlib.ExitStack()
    stack.enter_context(mock.patch.object(p.nn.layer.rnn.RNNBase, "flatten_parameters", lambda self: None))
    stack.enter_context(p.LazyGuard())
    return stack
