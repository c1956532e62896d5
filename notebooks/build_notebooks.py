"""Writes the lesson notebooks (nbformat v4, no outputs) from the cell texts in notebooks/lessons/.

Each lesson is one Python file in jupytext's "percent" format: a line ``# %% [markdown]``
starts a markdown cell (its lines are commented with ``# ``), a line ``# %%`` starts a code
cell. Edit those files, then

    python notebooks/build_notebooks.py            # rewrite notebooks/NN_*.ipynb
    python notebooks/build_notebooks.py --check    # exit 1 if a notebook is out of date

The .ipynb files are committed too (students open those); cell ids are fixed so that
rebuilding an unchanged lesson gives a byte-identical file.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "lessons"
MARKDOWN, CODE = "# %% [markdown]", "# %%"
METADATA = {
    "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
    "language_info": {"name": "python", "pygments_lexer": "ipython3"},
}


def parse(text: str) -> list[tuple[str, str]]:
    cells, kind, lines = [], None, []
    for line in text.splitlines():
        marker = line.strip()
        if marker in (MARKDOWN, CODE):
            if kind is not None:
                cells.append((kind, "\n".join(lines).strip("\n")))
            kind, lines = ("markdown" if marker == MARKDOWN else "code"), []
        elif kind is not None:
            lines.append(line)
    if kind is not None:
        cells.append((kind, "\n".join(lines).strip("\n")))
    return [(k, uncomment(s) if k == "markdown" else s) for k, s in cells if s.strip()]


def uncomment(text: str) -> str:
    out = []
    for line in text.splitlines():
        if line.startswith("# "):
            line = line[2:]
        elif line.strip() == "#":
            line = ""
        out.append(line)
    return "\n".join(out).strip("\n")


def build(source: Path):
    nb = new_notebook(metadata=METADATA)
    stem = source.stem.split("_", 1)[0]
    for i, (kind, text) in enumerate(parse(source.read_text(encoding="utf-8"))):
        cell = new_markdown_cell(text) if kind == "markdown" else new_code_cell(text)
        cell["id"] = f"l{stem}-{i:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def target(source: Path) -> Path:
    return HERE / (source.stem + ".ipynb")


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for source in sorted(SOURCES.glob("[0-9][0-9]_*.py")):
        text = nbformat.writes(build(source)) + "\n"
        path = target(source)
        if check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(HERE.parent)}")
    if stale:
        print("out of date (run python notebooks/build_notebooks.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
