"""CPU settings that must be in the environment before paddle is imported.

On AMD CPUs Paddle's MKL picks a slow code path and one thread for fp32 matmul
(measured 42 GFLOP/s here); MKL_DEBUG_CPU_TYPE=5 plus one thread per core gave
197 GFLOP/s and ~2x faster BERT training. Intel CPUs ignore the first flag.

The same seed must give the same metric on any machine. MKL on an Intel CPU with AVX-512 takes its
AVX-512 path, whose matmuls round differently from the AVX2 path that AMD CPUs (above) and most
laptops take; a run from random weights amplifies that (`pretraining`: one of 36 runs, sentiment
0.655 vs 0.648). MKL_CBWR=AVX2 puts such CPUs on the AVX2 path: all 36 the same as on AMD, for
about 16% more time there (MKL_CBWR=AUTO gives the speed back).
Values already set by the user are left alone.
"""
import os
import sys

TUNED_ENV_KEYS = ("MKL_DEBUG_CPU_TYPE", "MKL_CBWR", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def physical_cores() -> int:
    """Cores this process may use (respects taskset / cgroup affinity)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS / Windows
        return max(1, os.cpu_count() or 1)


def _cpuinfo() -> str:
    """The first processor's entry of /proc/cpuinfo ("" where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            return f.read(8192).split("\n\n")[0]
    except OSError:
        return ""


def is_amd_cpu() -> bool:
    return "AuthenticAMD" in _cpuinfo()


def cpu_flags() -> set[str]:
    for line in _cpuinfo().splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def tuned_env() -> dict:
    threads = str(physical_cores())
    env = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    if is_amd_cpu():  # MKL's fast AVX2 path is gated on Intel; this opens it on AMD
        env["MKL_DEBUG_CPU_TYPE"] = "5"
    elif "avx2" in cpu_flags():  # the AVX2 path on Intel too (AVX-512 rounds differently; see above)
        env["MKL_CBWR"] = "AVX2"
    return env


def apply_cpu_settings() -> dict:
    """Set the tuned values unless the user set them; return what is in effect.

    Set COURSE_CPU_DEFAULTS=1 to keep Paddle's own defaults (used by `bench`
    to measure the difference).
    """
    if os.environ.get("COURSE_CPU_DEFAULTS") == "1":
        return {k: os.environ.get(k) for k in TUNED_ENV_KEYS}
    if "paddle" in sys.modules:
        # Too late to matter for MKL/OpenMP; still report what is in effect.
        return {k: os.environ.get(k) for k in TUNED_ENV_KEYS}
    for key, value in tuned_env().items():
        os.environ.setdefault(key, value)
    return {k: os.environ.get(k) for k in TUNED_ENV_KEYS}


def quiet_paddle() -> None:
    """Import paddle without its start-up warning about OMP_NUM_THREADS > 1 (set on purpose above),
    and keep PaddleNLP's INFO lines (every save and load) out of the way. Called by the command
    lines unless --verbose; other output of the import is passed on."""
    import contextlib
    import io

    if "paddle" not in sys.modules:
        captured = io.StringIO()
        with contextlib.redirect_stderr(captured):
            import paddle  # noqa: F401
        rest = [line for line in captured.getvalue().splitlines()
                if "OMP_NUM_THREADS" not in line]
        if rest:
            print("\n".join(rest), file=sys.stderr)
    from paddlenlp.utils.log import logger

    logger.set_level("ERROR")


def quiet_logs(verbose: bool):
    """Our own log lines at INFO; Paddle's, PaddleNLP's and Python's warnings only with --verbose."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if verbose:
        os.environ["COURSE_VERBOSE"] = "1"
        return
    import warnings

    warnings.filterwarnings("ignore")
    quiet_paddle()
