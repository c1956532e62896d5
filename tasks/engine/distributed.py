"""Data-parallel training across processes (paddle.distributed.launch), CPU (gloo) or GPUs (NCCL).

Every process builds the same global batches (same seed), trains on its share of each one
through ``paddle.DataParallel`` (gradients averaged across processes), and evaluates the whole
dev set, so every process takes the same best-checkpoint and early-stop decisions. Only rank 0
writes: checkpoints, resume points, logs, plots, results. ``--batch-size`` is the global batch.
"""
from __future__ import annotations

import os

import paddle


def world_size() -> int:
    return int(os.environ.get("PADDLE_TRAINERS_NUM", "1"))


def rank() -> int:
    return int(os.environ.get("PADDLE_TRAINER_ID", "0"))


def is_main() -> bool:
    return rank() == 0


def select_device(name: str) -> str:
    """``--device``: auto takes a GPU when this paddle is built with CUDA and sees one; each
    data-parallel process takes the GPU the launcher gave it."""
    from tasks.errors import TaskError

    has_cuda = paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0
    if name == "auto":
        name = "gpu" if has_cuda else "cpu"
    if name.startswith("gpu") and not has_cuda:
        raise TaskError(f"--device {name}: this paddlepaddle has no CUDA device (CPU build, or no GPU visible); "
                        "install paddlepaddle-gpu (see README) or use --device cpu")
    if name not in ("cpu", "gpu") and not (name.startswith("gpu:") and name[4:].isdigit()):
        raise TaskError(f"--device {name!r}: expected cpu, gpu, gpu:N or auto")
    if name == "gpu" and world_size() > 1:
        name = f"gpu:{paddle.distributed.ParallelEnv().device_id}"
    paddle.set_device(name)
    return name


def check_device(config) -> str:
    """--device and --amp, checked before any data is read."""
    from tasks.errors import TaskError

    device = select_device(config.device)
    if config.amp != "off" and device == "cpu":
        raise TaskError(f"--amp {config.amp}: mixed precision needs a GPU (Paddle disables AMP on the CPU); "
                        "use --amp off, or --device gpu with paddlepaddle-gpu")
    return device


def wrap(model):
    """The model to train with: DataParallel when launched on several processes."""
    if world_size() <= 1:
        return model
    import paddle.distributed as dist

    if not dist.is_initialized():
        dist.init_parallel_env()
    return paddle.DataParallel(model)


def barrier():
    if world_size() > 1:
        import paddle.distributed as dist

        dist.barrier()


def mean(value: float) -> float:
    """The average over processes (the logged loss is the global batch's, as in one process)."""
    if world_size() <= 1:
        return value
    import paddle.distributed as dist

    tensor = paddle.to_tensor([value], dtype="float64")
    dist.all_reduce(tensor)
    return float(tensor.numpy()[0]) / world_size()


def agree(value: int) -> int:
    """Rank 0's value on every process (a decision taken from timings must be the same everywhere)."""
    if world_size() <= 1:
        return value
    import paddle.distributed as dist

    tensor = paddle.to_tensor([value], dtype="int64")
    dist.broadcast(tensor, src=0)
    return int(tensor.numpy()[0])
