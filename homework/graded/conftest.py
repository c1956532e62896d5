"""The graded suite, runnable with plain pytest (one test per question, points in the test id).

    pytest homework/graded                                  # checks homework/assignments/*.py
    pytest homework/graded --homework-dir my_work/          # checks my_work/<assignment>.py
    pytest homework/graded/test_attention.py --homework-file my_attention.py
    pytest homework/graded --homework-seed 42               # reproduce the random inputs

Environment variables HOMEWORK_DIR / HOMEWORK_FILE / HOMEWORK_SEED work too.

The suite is opt-in: a plain `pytest` from the repository root does not collect it
(the blank templates would fail the project's own CI); name homework/graded on the
command line or set HOMEWORK_GRADED=1.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

GRADED_DIR = Path(__file__).resolve().parent
_RESULTS: dict = {}


def pytest_addoption(parser):
    group = parser.getgroup("homework", "course homework")
    group.addoption("--homework-file", default=None, help="student file to check (its ASSIGNMENT decides which)")
    group.addoption("--homework-dir", default=None, help="folder with <assignment>.py files")
    group.addoption("--homework-seed", type=int, default=None, help="seed of the random inputs")


def pytest_configure(config):
    for line in ("ignore::DeprecationWarning", "ignore::UserWarning"):
        config.addinivalue_line("filterwarnings", line)


def _explicitly_requested(config) -> bool:
    if os.environ.get("HOMEWORK_GRADED") or os.environ.get("HOMEWORK_FILE") or os.environ.get("HOMEWORK_DIR"):
        return True
    for arg in config.invocation_params.args:
        if arg.startswith("-"):
            continue
        path = Path(config.invocation_params.dir, arg.split("::")[0]).resolve()
        if path == GRADED_DIR or GRADED_DIR in path.parents:
            return True
    return False


def pytest_ignore_collect(collection_path, config):
    if collection_path.parent == GRADED_DIR and collection_path.name.startswith("test_") \
            and not _explicitly_requested(config):
        return True
    return None


def _option(config, name, env):
    try:
        value = config.getoption(name)
    except ValueError:  # options not registered (conftest not initial)
        value = None
    return value if value is not None else os.environ.get(env)


@pytest.fixture(scope="session")
def homework_seed(pytestconfig):
    seed = _option(pytestconfig, "homework_seed", "HOMEWORK_SEED")
    return int(seed) if seed is not None else random.SystemRandom().randrange(1, 10 ** 6)


@pytest.fixture(scope="session")
def homework_result(pytestconfig, homework_seed):
    """function(assignment) -> AssignmentResult (the sandboxed run happens once per assignment)."""
    from homework.checks import get_assignment
    from homework.grading import check_file, declared_assignment

    single = _option(pytestconfig, "homework_file", "HOMEWORK_FILE")
    folder = _option(pytestconfig, "homework_dir", "HOMEWORK_DIR")

    def get(name):
        if name not in _RESULTS:
            assignment = get_assignment(name)
            if single:
                if declared_assignment(Path(single)) not in (None, name):
                    pytest.skip("--homework-file 是另一次作业（%s）的文件" % declared_assignment(Path(single)))
                path = Path(single)
            elif folder:
                path = Path(folder) / (name + ".py")
            else:
                path = assignment.template
            if not path.is_file():
                pytest.skip("找不到 %s" % path)
            result, _ = check_file(name, path, seed=homework_seed)
            _RESULTS[name] = (path, result.assignments[0])
        return _RESULTS[name][1]

    return get


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _RESULTS:
        return
    terminalreporter.section("作业得分")
    total = best = 0.0
    for name, (path, result) in _RESULTS.items():
        terminalreporter.write_line("%-18s %6.2f / %-6.2f  (%s)" % (name, result.score, result.max_points, path))
        total += result.score
        best += result.max_points
    terminalreporter.write_line("%-18s %6.2f / %-6.2f" % ("合计", total, best))
