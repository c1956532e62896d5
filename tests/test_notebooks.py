"""The lesson notebooks run top to bottom (quick mode) and are stored without outputs.

Each notebook is executed with nbclient in a fresh `python3` kernel, which is this
interpreter (jupyter_client starts kernels whose argv says `python` with sys.executable),
with COURSE_QUICK=1 and the working directory notebooks/, as a student opening it would.
A cell that raises fails the test with the cell's traceback.
"""
import json
import os
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


def test_there_are_six_lessons():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06"], NOTEBOOKS


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
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 1
    assert "快速模式" in "".join(o.get("text", "") for o in outputs)  # lu.start announced the quick mode
    log = REPO_ROOT / "runs" / "notebooks" / "quick" / "timings.json"
    log.parent.mkdir(parents=True, exist_ok=True)
    timings = json.loads(log.read_text()) if log.is_file() else {}
    timings[path.stem] = round(seconds, 1)
    log.write_text(json.dumps(timings, indent=1))
