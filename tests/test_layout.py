"""The engine's shape (issue "Engine v3"): checked on the source, so a change that brings back what it
removed fails here with the file and line."""
import ast
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
TASKS = REPO_ROOT / "tasks"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path) -> set[str]:
    """Modules of tasks/ imported when ``path`` is imported (not inside functions or classes)."""
    found = set()

    def visit(nodes):
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, (ast.If, ast.Try)) and not (
                    isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)):
                visit(node.body + getattr(node, "orelse", []) + [n for h in getattr(node, "handlers", []) for n in h.body])

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return {m for m in found if m == "tasks" or m.startswith("tasks.")}


def test_no_module_level_import_circle():
    modules = {module_name(p): p for p in TASKS.rglob("*.py")}
    graph = {name: {m for m in top_level_imports(path) if m in modules and m != name} for name, path in modules.items()}
    state, stack = {}, []

    def walk(name):
        state[name] = "open"
        stack.append(name)
        for nxt in sorted(graph[name]):
            if state.get(nxt) == "open":
                pytest.fail("import circle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                walk(nxt)
        stack.pop()
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            walk(name)


def function_lines(path: Path, name: str) -> int:
    node = next(n for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                if isinstance(n, ast.FunctionDef) and n.name == name)
    return node.end_lineno - node.lineno + 1


def test_the_training_loop_reads_in_one_sitting():
    assert function_lines(TASKS / "engine" / "trainer.py", "train") <= 50


@pytest.mark.parametrize("pattern,where", [(r"bottom", "engine/modeling.py"), (r"\._learning_rate\b", "**/*.py"),
                                           (r"late_join\b", "**/*.py")])
def test_removed_shapes_stay_removed(pattern, where):
    """Models take no cached-bottom arguments (the FrozenPrefix Layer owns the cache); no code swaps the
    optimiser's private learning rate (the plan is made before training); the late-join single tower is
    its own class, not a flag."""
    hits = [f"{p.relative_to(REPO_ROOT)}:{i}" for p in TASKS.glob(where)
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if re.search(pattern, line)]
    assert not hits, hits


def test_the_students_cli_has_no_maintainers_commands():
    from tasks.cli import COMMANDS
    from tasks.tools.__main__ import COMMANDS as TOOLS

    assert set(COMMANDS) == {"prepare", "data", "models", "train", "evaluate", "predict", "export", "index",
                             "search", "demo", "baseline", "experiment"}
    assert set(TOOLS) == {"bench", "bench-peers", "bench-step", "sweep"}


def test_tasks_has_few_top_level_modules():
    """Data, models, engine, the four tasks and the maintainers' tools are packages of their own."""
    top = sorted(p.name for p in TASKS.glob("*.py"))
    assert len(top) <= 14, top
    for package in ("data", "models", "engine", "tools", "classification", "ner", "single_tower", "dual_tower"):
        assert (TASKS / package / "__init__.py").is_file(), package
