"""Train the top, cache the prefix (``--train-layers K``).

With K below the encoder's depth L, the embeddings and the lower L-K Transformer layers are frozen:
the model's ``FrozenPrefix`` Layer. Its output for each distinct text is computed once, by the
fastest forward pass there is (the prefix exported as a static graph and run by Paddle Inference
with oneDNN), kept in fp16 and looked up by the text's token ids at every step and every
evaluation: a step then costs only the top K layers and the head. A text not in the cache is
computed when it is met. Entries also go to disk under a size budget, keyed by the frozen weights
and the token ids (so by model, data and max_length): a second run or ``--resume`` reads them back.

The trained model is still the whole encoder: checkpoints, export and prediction do not know that
part of it was frozen (a static graph always computes the prefix).
"""
from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import paddle
from tqdm.auto import tqdm

from tasks.engine.inference import _numpy as _array, cpu_predictor, quiet_native_output
from tasks.errors import TaskError
from tasks.io import atomic_dir

log = logging.getLogger("tasks")
BATCH = 64


def text_key(ids: np.ndarray, types: np.ndarray | None) -> bytes:
    ids = np.asarray(ids, dtype=np.int32)
    types = np.zeros_like(ids, dtype=np.int8) if types is None else np.asarray(types, dtype=np.int8)
    return ids.tobytes() + b"|" + types.tobytes()


def split_key(key: bytes) -> tuple[np.ndarray, np.ndarray]:
    n = (len(key) - 1) // 5  # 4 bytes of id + 1 byte of type per token, and the separator
    return np.frombuffer(key[:4 * n], dtype=np.int32), np.frombuffer(key[4 * n + 1:], dtype=np.int8)


class FrozenPrefix(paddle.nn.Layer):
    """The embeddings and the first ``depth`` Transformer layers of a model's encoder (depth 0: the
    embeddings alone), and, once ``freeze``d and ``fill``ed, the cache of their output per text.

    The weights stay the model's own (the prefix holds no parameters, so checkpoints are unchanged);
    ``forward`` returns the hidden states the layers above it take."""

    def __init__(self, model, depth: int = 0):
        super().__init__()
        self._model = (model,)  # a tuple: the model's weights are not registered a second time here
        self.depth = depth
        self.store: dict[bytes, np.ndarray] | None = None  # text key -> fp16 output; None: no cache
        self.stats: dict = {}

    @property
    def model(self):
        return self._model[0]

    def compute(self, input_ids, token_type_ids=None):
        hidden, bias = self.model.embed_tokens(input_ids, token_type_ids), self.model.attention_bias(input_ids)
        for layer in self.model.layers[:self.depth]:
            hidden = layer(hidden, bias)
        return hidden

    def forward(self, input_ids, token_type_ids=None):
        if self.store is not None and paddle.in_dynamic_mode():
            cached = self.lookup(input_ids, token_type_ids)
            if cached is not None:
                return cached
        return self.compute(input_ids, token_type_ids)

    def freeze(self) -> "FrozenPrefix":
        """No gradient and no optimiser state for the prefix's weights; an empty cache."""
        for p in self.parameters_frozen():
            p.stop_gradient = True
        self.store = {}
        return self

    def parameters_frozen(self) -> list:
        params = list(self.model.encoder.embeddings.parameters())
        for layer in self.model.layers[:self.depth]:
            params += list(layer.parameters())
        return params

    # -- the cache -------------------------------------------------------------
    @paddle.jit.not_to_static
    def lookup(self, input_ids, token_type_ids):
        """The cached outputs of a batch's texts, or None when one of them is not cached yet (it is
        then computed with the rest of the batch and kept)."""
        pad = self.model.pad_id
        ids = _array(input_ids)
        types = None if token_type_ids is None else _array(token_type_ids)
        keys = []
        for row in range(ids.shape[0]):
            n = int((ids[row] != pad).sum())
            keys.append((n, text_key(ids[row, :n], None if types is None else types[row, :n])))
        if not all(key in self.store for _, key in keys):
            with paddle.no_grad():
                hidden = self.compute(input_ids, token_type_ids)
            computed = hidden.numpy()
            for row, (n, key) in enumerate(keys):
                self.store.setdefault(key, computed[row, :n].astype(np.float16))
            return hidden
        hidden = np.zeros((*ids.shape, self.model.hidden_size), dtype=np.float32)
        for row, (n, key) in enumerate(keys):
            hidden[row, :n] = self.store[key]
        return paddle.to_tensor(hidden)

    def texts_of(self, features: list[dict]) -> dict[bytes, None]:
        """The keys of every text the model encodes in these features (its ``text_inputs``)."""
        keys = {}
        for f in features:
            for field, type_field in self.model.text_inputs:
                if field in f:
                    keys[text_key(f[field], f.get(type_field) if type_field else None)] = None
        return keys

    def fingerprint(self, keys) -> str:
        digest = hashlib.sha256(f"bottom:{self.depth}".encode())  # the name older caches were keyed with
        for p in self.parameters_frozen():
            digest.update(p.numpy().tobytes())
        for key in sorted(keys):
            digest.update(hashlib.sha256(key).digest())
        return digest.hexdigest()[:24]

    def fill(self, *feature_lists: list[dict], cache_dir: str | None = None, cache_gb: float = 8.0,
             progress: bool = True) -> dict:
        """Outputs for every text of the features: from disk when a previous run cached the same texts
        under the same frozen weights, else computed (and written to disk)."""
        if self.store is None:
            raise TaskError("FrozenPrefix.fill: freeze() the prefix first")
        keys = {}
        for features in feature_lists:
            keys.update(self.texts_of(features))
        started = time.time()
        cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        entry = cache_dir / self.fingerprint(keys) if cache_dir else None
        source = "disk"
        if not (entry and self._read(entry)):
            source = self._compute([k for k in keys if k not in self.store], progress)
            if entry:
                self._write(entry, list(keys), cache_gb)
        tokens = sum(len(self.store[k]) for k in keys)
        self.stats = {"texts": len(keys), "tokens": tokens, "frozen_layers": self.depth, "source": source,
                      "seconds": round(time.time() - started, 1),
                      "megabytes": round(tokens * self.model.hidden_size * 2 / 2**20, 1),
                      "cache_entry": str(entry) if entry else None}
        log.info("frozen layers 1-%d: %d texts (%d tokens, %.0f MB fp16) %s in %.1f s", self.depth, len(keys),
                 tokens, self.stats["megabytes"], "read from disk" if source == "disk" else f"computed ({source})",
                 self.stats["seconds"])
        return self.stats

    def _compute(self, keys: list[bytes], progress: bool) -> str:
        keys = sorted(keys, key=len)  # length-sorted batches: little padding
        runner, engine = graph_runner(self.model, self.compute, "frozen layers")
        pad = self.model.pad_id
        bar = tqdm(total=len(keys), desc=f"caching layers 1-{self.depth}", disable=None if progress else True,
                   leave=False, dynamic_ncols=True)
        for start in range(0, len(keys), BATCH):
            chunk = keys[start:start + BATCH]
            rows = [split_key(k) for k in chunk]
            width = max(len(ids) for ids, _ in rows)
            ids = np.full((len(rows), width), pad, dtype=np.int64)
            types = np.zeros((len(rows), width), dtype=np.int64)
            for i, (row_ids, row_types) in enumerate(rows):
                ids[i, :len(row_ids)], types[i, :len(row_types)] = row_ids, row_types
            hidden = runner(ids, types)
            for i, key in enumerate(chunk):
                self.store[key] = hidden[i, :len(rows[i][0])].astype(np.float16)
            bar.update(len(chunk))
        bar.close()
        return engine

    def _read(self, entry: Path) -> bool:
        try:
            hidden = np.load(entry / "hidden.npy", mmap_mode="r")
            ids = np.load(entry / "ids.npy")
            types = np.load(entry / "types.npy")
            offsets = np.load(entry / "offsets.npy")
        except (OSError, ValueError):
            return False
        for i in range(len(offsets) - 1):
            a, b = offsets[i], offsets[i + 1]
            self.store[text_key(ids[a:b], types[a:b])] = hidden[a:b]
        entry.touch()  # most recently used: evicted last
        return True

    def _write(self, entry: Path, keys: list[bytes], cache_gb: float):
        size = sum(self.store[k].nbytes for k in keys)
        budget = int(cache_gb * 2**30)
        if size > budget:
            log.info("frozen layers: %.1f GB exceeds the cache budget (--cache-gb %s); kept in memory only",
                     size / 2**30, cache_gb)
            return
        cache_dir = entry.parent
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            entries = sorted((p for p in cache_dir.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
            used = sum(dir_size(p) for p in entries)
            while entries and used + size > budget:  # least recently used first
                oldest = entries.pop(0)
                used -= dir_size(oldest)
                shutil.rmtree(oldest, ignore_errors=True)
            offsets = np.cumsum([0] + [len(self.store[k]) for k in keys])
            with atomic_dir(entry) as tmp:
                np.save(tmp / "hidden.npy", np.concatenate([self.store[k] for k in keys]))
                np.save(tmp / "ids.npy", np.concatenate([split_key(k)[0] for k in keys]))
                np.save(tmp / "types.npy", np.concatenate([split_key(k)[1] for k in keys]))
                np.save(tmp / "offsets.npy", offsets)
        except OSError as err:  # a full or read-only disk costs speed next time, not this run
            log.warning("frozen layers: not cached on disk (%s)", err.strerror or err)


def graph_runner(model, compute, what: str):
    """(run, engine): ``run(ids, types)`` gives ``compute(input_ids, token_type_ids)`` (a function of the
    model's own weights) as numpy, by Paddle Inference with oneDNN on the function exported as a static
    graph (2-4x the eager speed on a 2-core CPU); eager on a GPU or where the exporter cannot trace it (the same
    numbers, slower). The model is left in the mode it was in."""
    was_training = model.training
    model.eval()

    def run_eager(ids, types):
        training = model.training
        model.eval()
        try:
            with paddle.no_grad():
                return compute(paddle.to_tensor(ids), paddle.to_tensor(types)).numpy()
        finally:
            if training:
                model.train()

    if "gpu" in paddle.device.get_device():  # a GPU runs the eager forward fast enough
        return run_eager, "eager"
    try:
        folder = Path(tempfile.mkdtemp(prefix="graph-runner-"))
        spec = [paddle.static.InputSpec([None, None], "int64", n) for n in ("input_ids", "token_type_ids")]
        graph_layer = _Graph(model, compute)  # held here: to_static keeps only a weak reference to it
        with quiet_native_output():
            paddle.jit.save(paddle.jit.to_static(graph_layer.forward, input_spec=spec, full_graph=True),
                            str(folder / "graph"))
        graph = next(p for p in folder.iterdir() if p.suffix in (".json", ".pdmodel"))
        predictor = cpu_predictor(graph, folder / "graph.pdiparams")
        shutil.rmtree(folder, ignore_errors=True)
        names = predictor.get_input_names()
        output = predictor.get_output_handle(predictor.get_output_names()[0])

        def run(ids, types):
            for name, value in zip(names, (ids, types)):
                handle = predictor.get_input_handle(name)
                handle.reshape(value.shape)
                handle.copy_from_cpu(value)
            predictor.run()
            return output.copy_to_cpu()

        return run, "paddle-inference"
    except Exception as err:  # an encoder the exporter cannot trace
        log.warning("%s: export failed (%s: %s); computing them eagerly", what, type(err).__name__, err)
        return run_eager, "eager"
    finally:
        if was_training:
            model.train()


class _Graph(paddle.nn.Layer):
    """A function of the model's weights as a Layer that holds them, so that paddle.jit.save finds them."""

    def __init__(self, model, compute):
        super().__init__()
        self.model, self._compute = model, (compute,)

    def forward(self, input_ids, token_type_ids):
        return self._compute[0](input_ids, token_type_ids)


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def freeze_for_training(model, config, *feature_lists, cache: bool = True) -> FrozenPrefix | None:
    """``--train-layers K``: freeze all but the model's top K layers and fill the prefix cache with
    the texts of ``feature_lists``; None when every layer trains (K = 0 or K >= the depth)."""
    depth = len(model.layers)
    if not config.train_layers or config.train_layers >= depth:
        if config.train_layers:
            log.info("--train-layers %d: the encoder has %d layers; training all of them", config.train_layers, depth)
        return None
    prefix = model.freeze_prefix(depth - config.train_layers)
    prefix.fill(*feature_lists, cache_dir=(config.cache_dir or None) if cache else None, cache_gb=config.cache_gb,
                progress=config.progress)
    return prefix
