"""Train the top, cache the bottom (``--train-layers K``).

With K below the encoder's depth L, the embeddings and the lower L-K Transformer layers are
frozen. Their output for each distinct text is computed once, by the fastest forward pass there
is (the bottom exported as a static graph and run by Paddle Inference with oneDNN), kept in fp16,
and reused at every step and every evaluation: a step then costs only the top K layers and the
head. Entries also go to disk under a size budget, keyed by the frozen weights and the token ids
(so by model, data and max_length): a second run or ``--resume`` reads them back.

The trained model is still the whole encoder: checkpoints, export and prediction do not know
that part of it was frozen.
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

from tasks.engine.inference import EagerRunner, _numpy as _array, cpu_predictor, quiet_native_output
from tasks.errors import TaskError
from tasks.io import atomic_dir

log = logging.getLogger("tasks")
# token-id field of a batch -> (its token-type field, the model argument taking its cached bottom)
TEXT_FIELDS = {"input_ids": ("token_type_ids", "bottom"), "a_ids": (None, "a_bottom"), "b_ids": (None, "b_bottom")}
BATCH = 64


def text_key(ids: np.ndarray, types: np.ndarray | None) -> bytes:
    ids = np.asarray(ids, dtype=np.int32)
    types = np.zeros_like(ids, dtype=np.int8) if types is None else np.asarray(types, dtype=np.int8)
    return ids.tobytes() + b"|" + types.tobytes()


def split_key(key: bytes) -> tuple[np.ndarray, np.ndarray]:
    n = (len(key) - 1) // 5  # 4 bytes of id + 1 byte of type per token, and the separator
    return np.frombuffer(key[:4 * n], dtype=np.int32), np.frombuffer(key[4 * n + 1:], dtype=np.int8)


class _Bottom(paddle.nn.Layer):
    """The frozen part as a Layer of its own, so it can be exported."""

    def __init__(self, model, layers: int):
        super().__init__()
        self.model, self.layers = model, layers

    def forward(self, input_ids, token_type_ids):
        return self.model.bottom(input_ids, token_type_ids, self.layers)


class FrozenBottom:
    def __init__(self, model, train_layers: int, cache_dir: str | None = None, cache_gb: float = 8.0):
        depth = len(model.layers)
        if not 0 <= train_layers < depth:
            raise TaskError(f"--train-layers {train_layers}: expected 1 to {depth - 1} for a {depth}-layer encoder "
                            "(0 trains all layers)")
        self.model, self.layers, self.train_layers = model, depth - train_layers, train_layers
        if getattr(model, "joint_layers", 0) > train_layers > 0:
            raise TaskError(f"--train-layers {train_layers} is below --joint-layers {model.joint_layers}: frozen "
                            "layers that read both texts cannot be cached per text")
        model.trained_layers = train_layers
        frozen = list(model.encoder.embeddings.parameters())
        for layer in model.layers[:self.layers]:
            frozen += list(layer.parameters())
        for p in frozen:
            p.stop_gradient = True
        self.frozen_params = frozen
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        self.cache_gb = cache_gb
        self.store: dict[bytes, np.ndarray] = {}
        self.stats: dict = {}

    # -- filling the cache ---------------------------------------------------
    @staticmethod
    def texts_of(features: list[dict]) -> dict[bytes, None]:
        keys = {}
        for f in features:
            for field, (type_field, _) in TEXT_FIELDS.items():
                if field in f:
                    keys[text_key(f[field], f.get(type_field) if type_field else None)] = None
        return keys

    def fingerprint(self, keys) -> str:
        digest = hashlib.sha256(f"bottom:{self.layers}".encode())
        for p in self.frozen_params:
            digest.update(p.numpy().tobytes())
        for key in sorted(keys):
            digest.update(hashlib.sha256(key).digest())
        return digest.hexdigest()[:24]

    def fill(self, *feature_lists: list[dict], progress: bool = True) -> dict:
        """Bottom outputs for every text of the features: from disk when a previous run cached the
        same texts under the same frozen weights, else computed (and written to disk)."""
        keys = {}
        for features in feature_lists:
            keys.update(self.texts_of(features))
        started = time.time()
        entry = self.cache_dir / self.fingerprint(keys) if self.cache_dir else None
        source = "disk"
        if not (entry and self._read(entry)):
            missing = [k for k in keys if k not in self.store]
            source = self._compute(missing, progress)
            if entry:
                self._write(entry, list(keys))
        tokens = sum(len(self.store[k]) for k in keys)
        self.stats = {"texts": len(keys), "tokens": tokens, "frozen_layers": self.layers, "source": source,
                      "seconds": round(time.time() - started, 1),
                      "megabytes": round(tokens * self.model.hidden_size * 2 / 2**20, 1),
                      "cache_entry": str(entry) if entry else None}
        log.info("frozen layers 1-%d: %d texts (%d tokens, %.0f MB fp16) %s in %.1f s", self.layers, len(keys),
                 tokens, self.stats["megabytes"], "read from disk" if source == "disk" else f"computed ({source})",
                 self.stats["seconds"])
        return self.stats

    def _compute(self, keys: list[bytes], progress: bool) -> str:
        keys = sorted(keys, key=len)  # length-sorted batches: little padding
        runner, engine = self._runner()
        pad = self.model.pad_id
        bar = tqdm(total=len(keys), desc=f"caching layers 1-{self.layers}", disable=None if progress else True,
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

    def _runner(self):
        """Paddle Inference on the exported bottom (3-4x the eager speed on CPU); eager if export fails."""
        bottom = _Bottom(self.model, self.layers)
        bottom.eval()

        def run_eager(ids, types):
            with paddle.no_grad():
                return bottom(paddle.to_tensor(ids), paddle.to_tensor(types)).numpy()

        if "gpu" in paddle.device.get_device():  # a GPU runs the eager forward fast enough
            return run_eager, "eager"
        try:
            folder = Path(tempfile.mkdtemp(prefix="frozen-bottom-"))
            spec = [paddle.static.InputSpec([None, None], "int64", n) for n in ("input_ids", "token_type_ids")]
            with quiet_native_output():
                paddle.jit.save(paddle.jit.to_static(bottom.forward, input_spec=spec, full_graph=True),
                                str(folder / "bottom"))
            graph = next(p for p in folder.iterdir() if p.suffix in (".json", ".pdmodel"))
            predictor = cpu_predictor(graph, folder / "bottom.pdiparams")
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
        except Exception as err:  # an encoder the exporter cannot trace: same numbers, slower
            log.warning("frozen layers: export failed (%s: %s); computing them eagerly", type(err).__name__, err)
            return run_eager, "eager"

    # -- disk cache ------------------------------------------------------------
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

    def _write(self, entry: Path, keys: list[bytes]):
        size = sum(self.store[k].nbytes for k in keys)
        budget = int(self.cache_gb * 2**30)
        if size > budget:
            log.info("frozen layers: %.1f GB exceeds the cache budget (--cache-gb %s); kept in memory only",
                     size / 2**30, self.cache_gb)
            return
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            entries = sorted((p for p in self.cache_dir.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
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

    # -- batches ---------------------------------------------------------------
    def inputs(self, batch: dict) -> dict | None:
        """The cached bottoms of a batch's texts, as the model's keyword arguments; None when a text
        is not cached (the caller then runs the whole encoder)."""
        pad, out = self.model.pad_id, {}
        for field, (type_field, argument) in TEXT_FIELDS.items():
            if field not in batch:
                continue
            ids = _array(batch[field])
            types = _array(batch[type_field]) if type_field and type_field in batch else None
            hidden = np.zeros((*ids.shape, self.model.hidden_size), dtype=np.float32)
            for row in range(ids.shape[0]):
                n = int((ids[row] != pad).sum())
                cached = self.store.get(text_key(ids[row, :n], None if types is None else types[row, :n]))
                if cached is None:
                    return None
                hidden[row, :n] = cached
            out[argument] = paddle.to_tensor(hidden)
        return out


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class CachedRunner(EagerRunner):
    """Evaluation on the cached bottoms: only the trained top layers run."""

    def __init__(self, model, frozen: FrozenBottom):
        super().__init__(model)
        self.frozen = frozen

    def extra_inputs(self, batch: dict) -> dict:
        return self.frozen.inputs(batch) or {}  # a text not cached: the whole encoder runs


def runner_for(model, config, features: list[dict]):
    """The runner to evaluate a saved model on ``features``: with --train-layers, the saved model's
    own frozen layers run once per text through Paddle Inference and only its top layers eagerly
    (the same numbers as the whole eager model, to fp16 rounding of the cache, several times faster)."""
    if not config.train_layers or config.train_layers >= len(model.layers):
        return EagerRunner(model)
    frozen = FrozenBottom(model, config.train_layers, None, config.cache_gb)
    frozen.fill(features, progress=config.progress)
    return CachedRunner(model, frozen)
