"""The lesson notebooks run top to bottom (quick mode) and are stored without outputs.

Each notebook is executed with nbclient in a fresh `python3` kernel, which is this
interpreter (jupyter_client starts kernels whose argv says `python` with sys.executable),
with COURSE_QUICK=1 and the working directory notebooks/, as a student opening it would.
A cell that raises fails the test with the cell's traceback.
"""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
CELL_TIMEOUT = int(os.environ.get("NOTEBOOK_CELL_TIMEOUT", "900"))  # generous: a loaded 2-core machine


def execute(nb, timeout=CELL_TIMEOUT):
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()
    return nb


@pytest.fixture
def quick_env(monkeypatch):
    monkeypatch.setenv("COURSE_QUICK", "1")
    monkeypatch.setenv("COURSE_OFFLINE", "1")


def test_there_are_seven_lessons():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07"], NOTEBOOKS


# Decimal numbers in a lesson's prose that are not measurements (versions, constants, corpus sizes).
NOT_MEASURED = {"01": {"1.0", "2.0"},   # ERNIE 1.0 / 2.0
                "02": {"2.77"},         # ln 16, the entropy of a uniform distribution over 16 keys
                "04": {"2.8", "4.5"},   # paddlenlp 2.8.1; MSRA's 4.5 万句
                "07": {"1.0"}}          # ERNIE 1.0
NUMBER = re.compile(r"(?<![\w.])\d+\.\d+%?")


def prose_numbers(nb) -> set[str]:
    return {n for c in nb.cells if c.cell_type == "markdown" for n in NUMBER.findall(c.source)}


def output_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            parts.append(out.get("text", ""))
            for kind in ("text/plain", "text/markdown", "text/html"):
                value = out.get("data", {}).get(kind, "")
                parts.append("".join(value) if isinstance(value, list) else value)
    return "\n".join(parts)


def printed(number: str, text: str) -> bool:
    """``number`` (as the prose writes it) is printed in ``text``, possibly with more decimals."""
    percent = number.endswith("%")
    value = number.rstrip("%")
    decimals = len(value.split(".")[1])
    for found in NUMBER.findall(text):
        if found.endswith("%") == percent and len(found.rstrip("%").split(".")[1]) >= decimals \
                and round(float(found.rstrip("%")), decimals) == float(value):
            return True
    return False


def unprinted_numbers(nb, key: str) -> list[str]:
    """Numbers the prose quotes that no cell printed (this run) and notebooks/README.md does not list."""
    readme = (NOTEBOOK_DIR / "README.md").read_text(encoding="utf-8")
    outputs = output_text(nb)
    return sorted(n for n in prose_numbers(nb) - NOT_MEASURED.get(key, set())
                  if not printed(n, outputs) and not printed(n, readme))


def test_the_number_check_catches_an_unprinted_number():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("准确率 0.873，召回 77.7%，版本 2.0"),
                                         nbformat.v4.new_code_cell("print(0.8731, '77.7%')")])
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="0.8731 77.7% 2.0\n")]
    assert unprinted_numbers(nb, "99") == []
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="0.8749 78%\n")]
    assert unprinted_numbers(nb, "99") == ["0.873", "2.0", "77.7%"]


def test_kernel_is_this_interpreter(quick_env):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os, sys; print(sys.executable); print(os.environ.get('COURSE_QUICK'))")])
    out = execute(nb, timeout=120).cells[0].outputs[0]["text"].split()
    assert Path(out[0]).resolve() == Path(sys.executable).resolve()
    assert out[1] == "1"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; clear them (or rebuild with build_notebooks.py)"


def test_notebooks_match_their_sources():
    proc = subprocess.run([sys.executable, str(NOTEBOOK_DIR / "build_notebooks.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, quick_env, offline_data, encoder_dir):
    nb = nbformat.read(path, as_version=4)
    started = time.time()
    try:
        execute(nb)
    except nbclient.exceptions.CellExecutionError as err:
        pytest.fail(f"{path.name}: a cell failed\n{err}", pytrace=False)
    seconds = time.time() - started
    # every figure the lesson commits (notebooks/figures/NN_*.png) was drawn again by this run (quick
    # mode writes them under runs/notebooks/quick/figures), and the notebook shows figures inline
    prefix = path.name[:2]
    drawn = {p.name for p in (REPO_ROOT / "runs" / "notebooks" / "quick" / "figures").glob(f"{prefix}_*.png")
             if p.stat().st_mtime >= started and p.stat().st_size > 5000}
    committed = {p.name for p in (NOTEBOOK_DIR / "figures").glob(f"{prefix}_*.png")}
    assert committed and committed <= drawn, sorted(committed - drawn)
    # every decimal the prose quotes was printed by a cell (or is in notebooks/README.md's default-mode table)
    assert unprinted_numbers(nb, prefix) == [], f"{path.name}: prose numbers no cell printed"
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 1
    assert "快速模式" in "".join(o.get("text", "") for o in outputs)  # lu.start announced the quick mode
    log = REPO_ROOT / "runs" / "notebooks" / "quick" / "timings.json"
    log.parent.mkdir(parents=True, exist_ok=True)
    timings = json.loads(log.read_text()) if log.is_file() else {}
    timings[path.stem] = round(seconds, 1)
    log.write_text(json.dumps(timings, indent=1))
