"""Running a model's ``infer`` forward: eagerly, or exported through Paddle Inference or onnxruntime.

``export(checkpoint)`` saves ``model.infer`` as a static graph (``paddle.jit.save``, dynamic batch
and length) into ``<checkpoint>/inference/``, optionally converted to ONNX. Every runner is called
the same way, ``runner(batch) -> list of numpy arrays``, so evaluation, prediction and the bench
never ask which engine (or which task) they have.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import paddle

from tasks.config import ENGINES
from tasks.engine.checkpoint import TASK_FILE, weights_fingerprint, weights_stat
from tasks.errors import TaskError
from tasks.io import atomic_dir, write_json

EXPORT_DIR = "inference"
EXPORT_FILE = "export.json"
STATIC_PREFIX = "model"
ONNX_FILE = "model.onnx"
# Fastest first, as measured by `python -m tasks.tools bench` (benchmarks/bench-*.json).
AUTO_ORDER = ("paddle-inference", "onnx")


def _numpy(value) -> np.ndarray:
    return value.numpy() if isinstance(value, paddle.Tensor) else np.asarray(value)


class EagerRunner:
    """The model's own ``infer`` in dygraph mode, without gradients."""

    engine = "eager"

    def __init__(self, model):
        self.model = model
        self.input_names = tuple(model.infer_inputs)

    @property
    def extras(self) -> dict:
        return self.model.export_extras()

    def extra_inputs(self, batch: dict) -> dict:
        """Keyword arguments of ``infer`` besides the named inputs (a cached bottom, see frozen.py)."""
        return {}

    def __call__(self, batch: dict) -> list[np.ndarray]:
        was_training = self.model.training
        self.model.eval()
        with paddle.no_grad():
            inputs = [batch[k] if isinstance(batch[k], paddle.Tensor) else paddle.to_tensor(batch[k])
                      for k in self.input_names]
            out = self.model.infer(*inputs, **self.extra_inputs(batch))
        if was_training:
            self.model.train()
        return [_numpy(o) for o in (out if isinstance(out, (tuple, list)) else [out])]


class PaddleInferenceRunner:
    """Paddle Inference predictor on the exported graph, with oneDNN (MKL-DNN) kernels."""

    engine = "paddle-inference"

    def __init__(self, directory: Path, threads: int | None = None):
        from paddle import inference

        spec = read_export(directory)
        self.input_names, self.extras = tuple(spec["inputs"]), spec.get("extras", {})
        self.predictor = cpu_predictor(directory / spec["paddle"]["model"], directory / spec["paddle"]["params"],
                                       threads)
        self.output_names = self.predictor.get_output_names()

    def __call__(self, batch: dict) -> list[np.ndarray]:
        for name in self.input_names:
            value = np.ascontiguousarray(_numpy(batch[name]))
            handle = self.predictor.get_input_handle(name)
            handle.reshape(value.shape)
            handle.copy_from_cpu(value)
        self.predictor.run()
        return [self.predictor.get_output_handle(n).copy_to_cpu() for n in self.output_names]


def cpu_predictor(graph: Path, params: Path, threads: int | None = None):
    """A Paddle Inference predictor with oneDNN (MKL-DNN) kernels on the usable cores."""
    from paddle import inference

    config = inference.Config(str(graph), str(params))
    config.enable_mkldnn()
    config.set_cpu_math_library_num_threads(threads or _threads())
    config.disable_glog_info()
    return inference.create_predictor(config)


class OnnxRunner:
    """onnxruntime on the ONNX conversion of the exported graph."""

    engine = "onnx"

    def __init__(self, directory: Path, threads: int | None = None):
        import onnxruntime as ort

        spec = read_export(directory)
        self.input_names, self.extras = tuple(spec["inputs"]), spec.get("extras", {})
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or _threads()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(directory / spec["onnx"]), options, providers=["CPUExecutionProvider"])

    def __call__(self, batch: dict) -> list[np.ndarray]:
        return self.session.run(None, {k: _numpy(batch[k]) for k in self.input_names})


def _threads() -> int:
    from tasks.cpu import physical_cores

    return int(os.environ.get("OMP_NUM_THREADS") or physical_cores())


def as_runner(model_or_runner):
    """A Layer becomes an eager runner; a runner is returned as it is."""
    return EagerRunner(model_or_runner) if isinstance(model_or_runner, paddle.nn.Layer) else model_or_runner


def read_export(directory: Path) -> dict:
    path = Path(directory) / EXPORT_FILE
    if not path.is_file():
        raise TaskError(f"{directory}: no exported model (expected {EXPORT_FILE}); "
                        "run `python -m tasks export --checkpoint CHECKPOINT` first")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise TaskError(f"{path}: corrupt export description ({err}); export again") from None


def engine_available(engine: str) -> bool:
    if engine == "onnx":
        import importlib.util

        return importlib.util.find_spec("onnxruntime") is not None
    return True


def export_is_current(spec: dict, checkpoint: Path) -> bool:
    """The export was made from the checkpoint's present weights: their files are as they were when
    the export hashed them, or, if touched, still hash the same."""
    if spec.get("weights_stat") and spec["weights_stat"] == weights_stat(checkpoint):
        return True
    return spec.get("weights_sha256") == weights_fingerprint(checkpoint)


def open_runner(checkpoint: Path, model, engine: str = "auto"):
    """The runner for ``engine``; ``auto`` takes the fastest exported engine that is installed and
    whose export is current, else the eager model. ``model``: the eager model, or a function that
    builds it (called only when the eager engine serves)."""
    if engine not in ENGINES:
        raise TaskError(f"--engine {engine!r}: expected one of {', '.join(ENGINES)}")

    def eager():
        return EagerRunner(model if isinstance(model, paddle.nn.Layer) else model())

    if engine == "eager":
        return eager()
    directory = Path(checkpoint) / EXPORT_DIR
    spec = read_export(directory) if (directory / EXPORT_FILE).is_file() or engine != "auto" else None
    if spec is not None and not export_is_current(spec, Path(checkpoint)):
        if engine != "auto":
            raise TaskError(f"{directory} was exported from other weights than {checkpoint}; export again")
        spec = None
    if engine == "auto":
        for candidate in AUTO_ORDER:
            if spec and candidate_ready(spec, candidate):
                return _RUNNERS[candidate](directory)
        return eager()
    if not candidate_ready(spec, engine):
        raise TaskError(f"--engine {engine}: {directory} has no {engine} export"
                        + ("" if engine_available(engine) else " and onnxruntime is not installed")
                        + f"; run `python -m tasks export --checkpoint {checkpoint} --format "
                        + ("onnx" if engine == "onnx" else "paddle") + "`")
    return _RUNNERS[engine](directory)


def candidate_ready(spec: dict | None, engine: str) -> bool:
    if not spec or not engine_available(engine):
        return False
    return bool(spec.get("onnx")) if engine == "onnx" else bool(spec.get("paddle"))


_RUNNERS = {"paddle-inference": PaddleInferenceRunner, "onnx": OnnxRunner}


def export(checkpoint: Path, task, model, formats=("paddle",)) -> Path:
    """Write ``<checkpoint>/inference/``: the static graph of ``model.infer`` (and its ONNX form),
    with the tokenizer and task description beside it, so the folder can be served on its own."""
    checkpoint = Path(checkpoint)
    model.eval()
    spec = [paddle.static.InputSpec([None, None], "int64", name) for name in model.infer_inputs]
    target = checkpoint / EXPORT_DIR
    started = time.perf_counter()
    with atomic_dir(target) as tmp:
        static = paddle.jit.to_static(model.infer, input_spec=spec, full_graph=True)
        paddle.jit.save(static, str(tmp / STATIC_PREFIX))
        graph = next(p.name for p in tmp.iterdir() if p.name.startswith(STATIC_PREFIX) and
                     p.suffix in (".json", ".pdmodel"))
        description = {"inputs": list(model.infer_inputs), "outputs": list(model.infer_outputs),
                       "paddle": {"model": graph, "params": STATIC_PREFIX + ".pdiparams"},
                       "onnx": None, "extras": model.export_extras(), "weights_sha256": weights_fingerprint(checkpoint),
                       "weights_stat": weights_stat(checkpoint), "paddle_version": paddle.__version__}
        if "onnx" in formats:
            import paddle2onnx

            # optimize_tool: paddle2onnx's default, polygraphy, sets POLYGRAPHY_AUTOINSTALL_DEPS=1 and then
            # pip-installs onnx_graphsurgeon, which upgrades the pinned numpy in the user's environment
            # (and fails offline); onnxoptimizer is pinned in requirements.txt
            with quiet_native_output():  # paddle2onnx logs every pass
                paddle2onnx.export(str(tmp / graph), str(tmp / (STATIC_PREFIX + ".pdiparams")), str(tmp / ONNX_FILE),
                                   opset_version=14, enable_onnx_checker=True, verbose=False,
                                   optimize_tool="onnxoptimizer")
            description["onnx"] = ONNX_FILE
        task.tokenizer.save_pretrained(str(tmp))
        shutil.copy2(checkpoint / TASK_FILE, tmp / TASK_FILE)
        description["seconds"] = round(time.perf_counter() - started, 2)
        write_json(tmp / EXPORT_FILE, description)
    return target


@contextlib.contextmanager
def quiet_native_output():
    """Silence stdout/stderr at the file-descriptor level (C++ logging too), unless --verbose."""
    if os.environ.get("COURSE_VERBOSE") == "1":
        yield
        return
    saved = [os.dup(1), os.dup(2)]
    sys.stdout.flush()
    sys.stderr.flush()
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
