"""Presentation helpers shared by the lesson notebooks (nothing here computes results).

* ``start("03")``: puts the repository on ``sys.path``, applies the package's CPU settings,
  quiets library logs, picks a Chinese font for matplotlib and says which mode runs
  (``COURSE_QUICK=1`` is the quick mode CI uses).
* ``Lesson.save(fig, name)`` / ``Lesson.keep(png, name)``: figures as PNG, in
  ``notebooks/figures/`` in the default mode (the README links them) and in
  ``runs/notebooks/quick/figures/`` in quick mode, so CI never rewrites committed files.
* ``highlight_entities``, ``table``, ``run_cli``: HTML for entities, a pandas table, a CLI call.
"""
from __future__ import annotations

import html
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parent
ROOT = NOTEBOOK_DIR.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import tasks  # noqa: E402,F401  (CPU thread settings before paddle is imported)

QUICK = os.environ.get("COURSE_QUICK") == "1"
ENTITY_COLORS = {"PER": "#ffd6d6", "LOC": "#d6e8ff", "ORG": "#d9f5d6"}
ENTITY_NAMES = {"PER": "人名", "LOC": "地名", "ORG": "机构名"}


def pick(default, quick):
    """The value for this mode: ``quick`` under COURSE_QUICK=1, else ``default``."""
    return quick if QUICK else default


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython

        return get_ipython() is not None and "IPKernelApp" in get_ipython().config
    except ImportError:
        return False


def _quiet():
    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("tasks").setLevel(logging.ERROR)
    from tasks.cpu import quiet_paddle

    quiet_paddle()  # paddle imported without its OMP_NUM_THREADS start-up warning; PaddleNLP at ERROR


def use_cjk_font() -> str | None:
    """Use the Chinese font of the pinned font package for matplotlib (else CJK text shows as boxes)."""
    from tasks.fonts import use_cjk_font as _use

    name = _use(quiet=True)
    if name is None:
        from tasks.fonts import INSTALL_HINT

        print("提示：没有找到中文字体，图中的汉字会显示成方框。" + INSTALL_HINT)
    return name


class Lesson:
    def __init__(self, key: str):
        self.key = key
        self.quick = QUICK
        self.started = time.time()
        base = ROOT / "runs" / "notebooks" / ("quick" if QUICK else "default")
        self.run_dir = base / key
        self.figure_dir = base / "figures" if QUICK else NOTEBOOK_DIR / "figures"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.figure_dir.mkdir(parents=True, exist_ok=True)

    def figure_path(self, name: str) -> Path:
        return self.figure_dir / f"{self.key}_{name}.png"

    def save(self, fig, name: str) -> Path:
        """Save a matplotlib figure as PNG (it is also shown inline by Jupyter)."""
        path = self.figure_path(name)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        print(f"图已保存: {path.relative_to(ROOT)}")
        return path

    def keep(self, png, name: str, show: bool = True) -> Path:
        """Copy a PNG the package wrote (curves.png, confusion.png) next to the lesson's figures and show it."""
        path = self.figure_path(name)
        shutil.copyfile(png, path)
        print(f"图已保存: {path.relative_to(ROOT)}")
        if show:
            from IPython.display import Image, display

            display(Image(filename=str(path)))
        return path

    def elapsed(self) -> str:
        minutes = (time.time() - self.started) / 60
        return f"本课运行用时 {minutes:.1f} 分钟（{'快速' if self.quick else '默认'}模式）"


def start(key: str) -> Lesson:
    _quiet()
    import tasks.engine.plots  # noqa: F401  (it selects the file-only Agg backend) ...
    if _in_kernel():  # ... so switch back to inline figures inside Jupyter
        from IPython import get_ipython

        get_ipython().run_line_magic("matplotlib", "inline")
    _quiet()  # importing the engine imports PaddleNLP, which resets its logger
    use_cjk_font()
    lesson = Lesson(key)
    print(f"第 {key} 课 · {'快速模式 COURSE_QUICK=1（只为检查能否运行，结果没有意义）' if QUICK else '默认模式'}")
    print(f"训练输出: {lesson.run_dir.relative_to(ROOT)}    图: {lesson.figure_dir.relative_to(ROOT)}")
    return lesson


def table(rows, columns=None, index=None):
    """A list of dicts (or rows) as a pandas DataFrame, which Jupyter shows as a table."""
    import pandas as pd

    return pd.DataFrame(rows, columns=columns, index=index)


def highlight_entities(text: str, entities: list, show_type: bool = True) -> str:
    """HTML of ``text`` with entities (dicts with type/start/end, or (type, start, end) tuples) coloured."""
    spans = sorted((e["type"], e["start"], e["end"]) if isinstance(e, dict) else tuple(e) for e in entities)
    spans = sorted(spans, key=lambda s: s[1])
    out, pos = [], 0
    for kind, s, e in spans:
        if s < pos:
            continue
        out.append(html.escape(text[pos:s]))
        label = f"<sub style='font-size:70%;color:#555'>{ENTITY_NAMES.get(kind, kind)}</sub>" if show_type else ""
        out.append(f"<span style='background:{ENTITY_COLORS.get(kind, '#eee')};padding:1px 3px;border-radius:3px'>"
                   f"{html.escape(text[s:e])}{label}</span>")
        pos = e
    out.append(html.escape(text[pos:]))
    return "".join(out)


def show_html(parts):
    from IPython.display import HTML, display

    display(HTML("<br>".join(parts) if isinstance(parts, (list, tuple)) else parts))


def run_cli(args: list, expect=(0,), cwd=ROOT, timeout: int = 600, echo: bool = True) -> subprocess.CompletedProcess:
    """Run ``python <args>`` (this kernel's interpreter) in the repository root and print its output
    (``echo=False``: only the command and its exit code).

    Raises if the exit code is not one of ``expect``, so a broken command fails the notebook."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    print("$ python " + " ".join(str(a) for a in args))
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if echo:
        print(proc.stdout.rstrip())
    noise = ("OMP_NUM_THREADS", "UserWarning", "warnings.warn")  # paddle's import-time chatter
    stderr = "\n".join(line for line in proc.stderr.splitlines() if not any(n in line for n in noise))
    if stderr.strip():
        print(stderr.rstrip())
    print(f"[退出码 {proc.returncode}]")
    if proc.returncode not in expect:
        raise RuntimeError(f"exit code {proc.returncode}, expected {expect}")
    return proc


COMMITTED_EXPERIMENTS = ROOT / "benchmarks" / "experiments"


def experiment(lesson: Lesson, name: str, figure: str | None = None) -> dict:
    """An experiment's table, conclusion and figure (``python -m tasks experiment NAME``).

    Both modes show the committed default-mode run (benchmarks/experiments/NAME/: measured on a 2-core
    CPU, up to 10 minutes each; tests/test_experiments.py runs each in quick mode).
    ``COURSE_RUN_EXPERIMENTS=1`` (or the command above) measures it again on this machine (quick mode:
    in quick mode); without a committed run, it runs."""
    import json

    from IPython.display import Markdown, display

    from tasks import experiments

    committed = COMMITTED_EXPERIMENTS / name / "results.json"
    if os.environ.get("COURSE_RUN_EXPERIMENTS") == "1" or not committed.is_file():
        path = experiments.run_experiment(name, quick=QUICK, out=lesson.run_dir / name)
    else:
        path = committed
        print(f"已提交的默认模式结果：{path.parent.relative_to(ROOT)}/（重新测量：python -m tasks experiment {name}，"
              f"或 COURSE_RUN_EXPERIMENTS=1 重跑本课）")
    result = json.loads(path.read_text(encoding="utf-8"))
    display(Markdown(result["table"]))
    print(result["conclusion"])
    print(f"（{result['mode']} 模式，{result['minutes']} 分钟）")
    lesson.keep(path.parent / "figure.png", figure or name)
    return result
