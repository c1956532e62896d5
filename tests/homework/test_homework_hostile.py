"""Hostile submissions are graded as failures with a clear reason; everyone else is graded correctly.

The batch runs once per setup (test_isolation_setups.py makes them):

* ``bwrap``: bubblewrap, this interpreter (a clone outside /tmp);
* ``bwrap-tmp-venv``: bubblewrap, the submissions run by a virtualenv under /tmp (a clone under /tmp);
* ``nonroot-bwrap``: the grader is not root (a uid with no account), bubblewrap in a user namespace;
* ``nonroot-nobwrap``: the grader is not root and has no bubblewrap (same uid as the submissions);
* ``nobwrap``: this grader without bubblewrap.

A setup this machine cannot make is skipped with the reason.  Submissions that attack the
file system or other processes are only run where the sandbox can stop them (bubblewrap, or
a throwaway uid when the grader is root); elsewhere those cases are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from homework.checks import ASSIGNMENTS
from homework.grading import grade_batch
from homework.reports import write_outputs
from homework.sandbox import Limits, detect_isolation

from conftest import REPO
from test_isolation_setups import (chown_tree, grade_as_nonroot, make_tmp_venv, nonroot_grader,  # noqa: F401
                                   run_as_nonroot, venv_python)

REFERENCE = ASSIGNMENTS["attention"].solution.read_text(encoding="utf-8")
TEMPLATE = ASSIGNMENTS["attention"].template.read_text(encoding="utf-8")
LIMITS = dict(wall_seconds=12.0, cpu_seconds=8, call_seconds=2.0, memory_mb=1024, max_processes=16,
              max_output_bytes=4 << 20)


@dataclass
class Hostile:
    sid: str
    source: str  # may contain @VICTIM@, @SENTINEL@, @OUTDIR@, @PWNED@, @PREFIX_PWNED@, @REPO@ (quoted paths)
    score: float  # expected score on `attention` (11 points)
    reason: tuple  # at least one of these substrings appears in the student's feedback/report
    needs: str = ""  # "fs" / "proc": needs file-system / process isolation; "nproc": a process limit


HOSTILES = [
    Hostile("h01-infinite-loop", "while True:\n    pass\n", 0, ("超时",)),
    Hostile("h02-loop-in-one-function", REFERENCE + "\n\ndef softmax_saturation(q, keys, scaled):\n"
            "    while True:\n        pass\n", 9, ("超时",)),
    Hostile("h03-ignores-timer", "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
            "while True:\n    pass\n", 0, ("超时", "CPU")),
    Hostile("h04-memory-bomb", "blocks = []\nwhile True:\n    blocks.append(bytearray(64 << 20))\n", 0,
            ("MemoryError", "内存")),
    Hostile("h05-fork-bomb", "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n"
            "        pass\n", 0, ("进程",), needs="nproc"),
    Hostile("h06-sys-exit", REFERENCE.replace("ASSIGNMENT = \"attention\"", "import sys\nsys.exit(0)"), 0,
            ("sys.exit",)),
    Hostile("h07-os-exit", "import os\nos._exit(0)\n", 0, ("自行结束",)),
    Hostile("h08-fake-results",
            "import json, os, sys\n"
            "print(json.dumps({'score': 11, 'tests': [{'name': 'all', 'score': 11, 'max_score': 11}]}))\n"
            "print(json.dumps({'event': 'call', 'id': 0, 'ok': True, 'value': 'PASS'}))\n"
            "fd = int(sys.argv[1])\n"
            "for i in range(200):\n"
            "    os.write(fd, (json.dumps({'event': 'call', 'id': i, 'ok': True, 'value': 0}) + '\\n').encode())\n"
            "os.write(fd, b'{\"event\": \"done\"}\\n')\n" + TEMPLATE, 0, ("伪造",)),
    Hostile("h09-monkeypatch-grader",
            "import builtins, json, sys\n"
            "sys.path.insert(0, @REPO@)\n"
            "try:\n"
            "    import homework.compare, homework.spec\n"
            "    homework.compare.compare = lambda *a, **k: (True, '')\n"
            "    homework.compare.matches = lambda *a, **k: True\n"
            "    homework.spec.FunctionQuestion.judge = lambda *a, **k: []\n"
            "except Exception:\n"
            "    pass\n"
            "builtins.abs = lambda x: 0\n"
            "_dumps = json.dumps\n"
            "json.dumps = lambda obj, **kw: _dumps(dict(obj, ok=True, value=1) if isinstance(obj, dict) "
            "and obj.get('event') == 'call' else obj, **kw)\n" + TEMPLATE, 0, ("数值不对", "应返回")),
    Hostile("h10-read-other-student",
            "exec(open(@VICTIM@).read())\n", 0, ("Error",), needs="fs"),
    Hostile("h11-write-outside",
            "import os\n"
            "for path in (@VICTIM@, @SENTINEL@, os.path.join(@OUTDIR@, 'pwned.txt'), @PWNED@, @PREFIX_PWNED@):\n"
            "    try:\n"
            "        with open(path, 'w') as f:\n"
            "            f.write('raise SystemExit(\"pwned\")\\n')\n"
            "    except Exception as exc:\n"
            "        print('blocked', path, exc)\n" + TEMPLATE, 0, ("尚未实现",), needs="fs"),
    Hostile("h12-huge-output", "import sys\nwhile True:\n    sys.stdout.write('x' * 1000000)\n", 0,
            ("输出过多",)),
    Hostile("h13-import-crash", "raise RuntimeError('boom at import')\n", 0, ("RuntimeError: boom",)),
    Hostile("h14-syntax-error", "def scaled_dot_product_attention(q, k, v, mask=None:\n    pass\n", 0,
            ("语法错误",)),
    Hostile("h15-huge-return-value", REFERENCE + "\n\ndef scaled_dot_product_attention(q, k, v, mask=None):\n"
            "    row = [0.0] * 4000\n    return [row] * 4000, [row] * 4000\n", 8, ("超时", "过大", "MemoryError")),
    Hostile("h16-kill-everything",
            "import os, signal\n"
            "for target in (-1, os.getppid()):\n"
            "    try:\n"
            "        os.kill(target, signal.SIGKILL)\n"
            "    except Exception:\n"
            "        pass\n" + TEMPLATE, 0, ("尚未实现",), needs="proc"),
    # bad input 3: killing the parent must end only this student's run, in every setup
    Hostile("h17-kill-parent", "import os, signal\ntry:\n    os.kill(os.getppid(), signal.SIGKILL)\n"
            "except OSError:\n    pass\n" + TEMPLATE, 0,
            ("父进程", "尚未实现")),
]


SETUPS = ["bwrap", "bwrap-tmp-venv", "nonroot-bwrap", "nonroot-nobwrap", "nobwrap"]


def _bwrap_works() -> bool:
    try:
        return bool(detect_isolation("auto").bwrap)
    except RuntimeError:
        return False


def _supported(hostile, iso) -> str:
    """'' if this sandbox mode can safely run the hostile submission, else the skip reason."""
    if hostile.needs == "fs" and not (iso.bwrap or iso.uid_drop):
        return "本机此模式没有文件系统隔离（无 bubblewrap，且无法降权到临时 uid）"
    if hostile.needs == "proc" and not (iso.bwrap or iso.uid_drop):
        return "本机此模式下提交与评分进程同一身份、同一 PID 命名空间，kill(-1) 会杀掉评分程序"
    if hostile.needs == "nproc" and not iso.process_limit_enforced:
        return "本机此模式下没有内核级的进程数限制（root、无临时 uid、无 pids cgroup），不在共享机器上运行 fork 炸弹"
    return ""


@pytest.fixture(scope="module", params=SETUPS)
def hostile_batch(request, private_tmp):
    setup = request.param
    mode = "nobwrap" if setup.endswith("nobwrap") else "bwrap"
    if mode == "bwrap" and not _bwrap_works():
        pytest.skip("本机没有可用的 bubblewrap（见 python -m homework isolation）")
    python = grader = None
    cleanup = []
    if setup.startswith("nonroot"):
        grader = request.getfixturevalue("nonroot_grader")
        if mode == "bwrap" and not run_as_nonroot(grader, "auto", [], LIMITS)["bwrap"]:
            pytest.skip("非 root 用户在本机无法使用 bubblewrap（用户命名空间被禁止）")
        root = Path(tempfile.mkdtemp(prefix="homework-hostile-", dir="/tmp"))  # the non-root grader's own folder
        cleanup.append(root)
        iso = None
    else:
        if setup == "bwrap-tmp-venv":
            clone = make_tmp_venv(getattr(sys, "_base_executable", None) or sys.executable)
            cleanup.append(clone)
            python = venv_python(clone)
        iso = detect_isolation(mode, python)
        root = private_tmp / ("hostile-" + setup)
    subs, out = root / "submissions", root / "out"
    subs.mkdir(parents=True)
    out.mkdir()
    sentinel = root / "grader-owned.txt"
    sentinel.write_text("grader data\n")
    pwned = "/tmp/homework-pwned-%s.txt" % uuid.uuid4().hex
    prefix = (Path(grader.python).parent.parent if grader else
              Path(iso.interpreter.prefix))
    prefix_pwned = str(prefix / ("homework-pwned-%s.txt" % uuid.uuid4().hex))
    for good in ("good-a", "good-b", "good-z"):
        (subs / good).mkdir()
        (subs / good / "attention.py").write_text(REFERENCE, encoding="utf-8")
    victim = subs / "good-a" / "attention.py"
    if grader:
        # what the non-root grader's sandbox will offer (detected by the grader itself during the run;
        # asserted below) decides which hostile kinds are safe to run
        iso = _nonroot_expected(mode)
    skipped = {}
    for h in HOSTILES:
        reason = _supported(h, iso)
        if reason:
            skipped[h.sid] = reason
            continue
        (subs / h.sid).mkdir()
        source = h.source
        for key, value in (("@VICTIM@", victim), ("@SENTINEL@", sentinel), ("@OUTDIR@", out), ("@PWNED@", pwned),
                           ("@PREFIX_PWNED@", prefix_pwned), ("@REPO@", REPO)):
            source = source.replace(key, repr(str(value)))
        (subs / h.sid / "attention.py").write_text(source, encoding="utf-8")
    if grader:
        chown_tree(root, grader.uid)
        os.chmod(root, 0o700)
        batch, seen = grade_as_nonroot(grader, subs, ["attention"], mode, LIMITS, home=str(root))
        assert bool(seen.bwrap) == iso.bwrap and not seen.is_root, seen.headline
        iso = seen
    else:
        batch = grade_batch(subs, assignments=["attention"], limits=Limits(**LIMITS), jobs=2, mode=mode,
                            python=python)
    write_outputs(batch, out)
    yield {"batch": batch, "students": {s.student_id: s for s in batch.students}, "iso": iso, "victim": victim,
           "sentinel": sentinel, "out": out, "pwned": pwned, "prefix_pwned": prefix_pwned, "skipped": skipped,
           "setup": setup, "mode": mode}
    for path in (pwned, prefix_pwned):
        if os.path.exists(path):
            os.unlink(path)
    for path in cleanup:
        shutil.rmtree(path, ignore_errors=True)


def _nonroot_expected(mode):
    from types import SimpleNamespace

    bwrap = mode == "bwrap"
    return SimpleNamespace(bwrap=bwrap, uid_drop=None, is_root=False, process_limit_enforced=True)


def test_at_least_ten_hostile_kinds():
    assert len(HOSTILES) >= 10


def test_well_behaved_students_are_graded_correctly(hostile_batch):
    students = hostile_batch["students"]
    for sid in ("good-a", "good-b", "good-z"):
        assert students[sid].score == 11, (sid, students[sid].run_reason)
    assert hostile_batch["victim"].read_text(encoding="utf-8") == REFERENCE


@pytest.mark.parametrize("hostile", HOSTILES, ids=[h.sid for h in HOSTILES])
def test_hostile_submission_fails_with_clear_reason(hostile_batch, hostile):
    if hostile.sid in hostile_batch["skipped"]:
        pytest.skip(hostile_batch["skipped"][hostile.sid])
    from homework.reports import student_report

    student = hostile_batch["students"][hostile.sid]
    assert student.score == pytest.approx(hostile.score), student_report(student)
    report = student_report(student)
    assert any(r in report for r in hostile.reason), report


def test_no_file_written_outside_the_sandbox(hostile_batch):
    if "h11-write-outside" in hostile_batch["skipped"]:
        pytest.skip(hostile_batch["skipped"]["h11-write-outside"])
    assert hostile_batch["sentinel"].read_text() == "grader data\n"
    assert not (hostile_batch["out"] / "pwned.txt").exists()
    assert hostile_batch["victim"].read_text(encoding="utf-8") == REFERENCE
    assert not os.path.exists(hostile_batch["prefix_pwned"])  # nor into the interpreter's virtualenv
    if not hostile_batch["iso"].bwrap:
        pytest.skip("没有 bubblewrap 时 /tmp 对临时 uid 可写（不隔离）；其余断言已通过")
    assert not os.path.exists(hostile_batch["pwned"])


def test_isolation_line_names_the_mode(hostile_batch):
    batch = hostile_batch["batch"]
    assert batch.isolation_headline.startswith("隔离方式: " + batch.isolation_name)
    assert batch.isolation_name.startswith("bwrap" if hostile_batch["mode"] == "bwrap" else "rlimits")
    if hostile_batch["mode"] == "bwrap":
        assert "文件系统隔离" in batch.isolation_headline and "没有文件系统隔离" not in batch.isolation_headline
    else:
        assert "没有文件系统隔离" in batch.isolation_headline


def test_every_student_is_graded(hostile_batch):
    """No submission stops the batch: every student has a row, with a reason wherever the run failed."""
    students = hostile_batch["students"]
    expected = {"good-a", "good-b", "good-z"} | {h.sid for h in HOSTILES if h.sid not in hostile_batch["skipped"]}
    assert set(students) == expected
    with open(hostile_batch["out"] / "grades.csv", encoding="utf-8") as f:
        assert len(f.read().splitlines()) == len(expected) + 1
    for sid, student in students.items():
        assert (student.status == "ok") == (student.run_status == "ok" and
                                            all(a.status == "ok" for a in student.assignments)), sid
        if student.run_status != "ok":
            assert student.run_reason, sid


def test_no_sandbox_process_survives(hostile_batch):
    """Nothing this batch started is left: no process of its throwaway uids, none that names its sandbox
    folders (homework-sb-<grader pid>-...).  Only this run's graders count: other test runs on the same
    machine may be grading at the same time."""
    from homework.sandbox import SANDBOX_UID_BASE, _proc_table

    graders = [os.getpid()] + [p for p in [getattr(hostile_batch["iso"], "grader_pid", None)] if p]
    pools = [SANDBOX_UID_BASE + (pid % 15_000) * 64 for pid in graders]
    leftovers = [row for row in _proc_table() if any(base <= row[1] < base + 64 for base in pools)]
    assert not leftovers
    markers = [b"homework-sb-%d-" % pid for pid in graders]
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open("/proc/%s/cmdline" % entry.name, "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            assert not any(m in cmdline for m in markers), cmdline


def test_an_import_that_times_out_while_filling_memory_says_so():
    """On a slow machine the memory bomb can outlast the import timeout before it reaches the memory
    limit: the timeout message then names the memory it had taken (and a merely slow import does not)."""
    import subprocess
    import textwrap

    code = textwrap.dedent("""
        import resource
        from homework._runner import _memory_note
        print(repr(_memory_note()))
        resource.setrlimit(resource.RLIMIT_AS, (1024 << 20, 1024 << 20))
        blocks = []
        try:
            while True:
                blocks.append(bytearray(64 << 20))
        except MemoryError:
            pass
        print(repr(_memory_note()))
    """)
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    quiet, filled = out.stdout.splitlines()
    assert quiet == "''"
    assert "内存" in filled and "上限 1024 MB" in filled
