"""The setups the sandbox must isolate in, besides a clone outside /tmp graded by root.

* a clone under /tmp: its virtualenv lives under /tmp, which the sandbox replaces with a
  private tmpfs; the interpreter's folders must be bound back (before the fix the grader
  said "bwrap found but cannot be used (namespaces forbidden)");
* a grader that is not root: bubblewrap in a user namespace, and without bubblewrap a
  submission that shares the grader's uid and kills its parent must not end the run.

The helpers here are also used by test_homework_hostile.py, which grades every hostile
submission in each setup.  The non-root grader is a uid with no account (no useradd, so
nothing on the machine changes), started from this root test process; the interpreter it
runs is a virtualenv under /tmp made from a Python that non-root users can execute, with
numpy hard-linked from this virtualenv (the sandboxed runner needs only the standard
library, and numpy for questions that pass arrays).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import REPO

NONROOT_UID = 64_321  # an unused uid (no account) for the non-root grader

NONROOT_HELPER = r'''
import dataclasses, json, os, sys
from concurrent.futures import ThreadPoolExecutor
sys.path.insert(0, sys.argv[1])
from homework.sandbox import Limits, Sandbox
job = json.load(sys.stdin)
sandbox = Sandbox(Limits(**job["limits"]), mode=job["mode"])
iso = sandbox.isolation

def one(st):
    run = sandbox.run([tuple(m) for m in st["modules"]], st["calls"], support_dir=st["support_dir"])
    return st["sid"], dataclasses.asdict(run)

with ThreadPoolExecutor(job.get("jobs", 2)) as pool:
    results = dict(pool.map(one, job["students"]))
json.dump({"grader_pid": os.getpid(), "name": iso.name, "headline": iso.headline(), "bwrap": iso.bwrap,
           "uid_drop": iso.uid_drop,
           "is_root": iso.is_root, "process_limit_enforced": iso.process_limit_enforced, "keeper": iso.keeper,
           "filesystem": iso.filesystem, "describe": iso.describe(), "interpreter_prefix": iso.interpreter.prefix,
           "results": results}, sys.stdout)
'''


def _link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def make_tmp_venv(python: str) -> Path:
    """A virtualenv under /tmp (as in a project cloned there) with numpy; returns its folder."""
    root = Path(tempfile.mkdtemp(prefix="homework-clone-", dir="/tmp"))
    os.chmod(root, 0o755)
    venv = root / ".venv"
    subprocess.run([python, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=180,
                   stdout=subprocess.DEVNULL)
    site = next(venv.glob("lib/python3*/site-packages"))
    import numpy

    here = Path(numpy.__file__).resolve().parent.parent
    for src in [here / "numpy", here / "numpy.libs"] + sorted(here.glob("numpy-*.dist-info")):
        if src.is_dir():
            shutil.copytree(src, site / src.name, copy_function=_link_or_copy)
    return root


def venv_python(root: Path) -> str:
    return str(root / ".venv" / "bin" / "python")


def as_nonroot(**kw) -> dict:
    return dict(user=NONROOT_UID, group=NONROOT_UID, extra_groups=[], **kw)


def nonroot_python() -> tuple[str | None, str]:
    """(a Python of this version that a non-root uid can run, or None; why not)."""
    if os.geteuid() != 0:
        return None, "需要 root 才能以另一个非 root 的 uid 启动评分程序（本测试以非 root 运行时，其余测试本身就是非 root 评分）"
    try:
        pwd.getpwuid(NONROOT_UID)
        return None, "uid %d 已被占用" % NONROOT_UID
    except KeyError:
        pass
    want = "%d.%d" % sys.version_info[:2]
    for cand in [getattr(sys, "_base_executable", None), os.path.realpath(sys.executable),
                 "/usr/bin/python" + want, "/usr/local/bin/python" + want, "/usr/bin/python3"]:
        if not cand or not os.path.exists(cand):
            continue
        try:
            proc = subprocess.run([cand, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                  capture_output=True, text=True, timeout=60, cwd="/", **as_nonroot())
        except (OSError, subprocess.SubprocessError):
            continue
        if proc.returncode == 0 and proc.stdout.strip() == want:
            return cand, ""
    return None, "没有非 root 用户可以运行的 Python %s（numpy 要同一版本）" % want


@pytest.fixture(scope="session")
def tmp_clone():
    """A project 'cloned' under /tmp: its packages (homework shares tasks' error base) and a virtualenv,
    all under /tmp."""
    root = make_tmp_venv(getattr(sys, "_base_executable", None) or sys.executable)
    for package in ("homework", "tasks"):
        shutil.copytree(REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def nonroot_grader():
    """(python under /tmp that the non-root uid runs, the uid); skipped with the reason when impossible."""
    python, why = nonroot_python()
    if python is None:
        pytest.skip(why)
    root = make_tmp_venv(python)
    probe = subprocess.run([venv_python(root), "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                            "import homework.sandbox, numpy", str(REPO)],
                           capture_output=True, text=True, timeout=120, cwd="/", **as_nonroot())
    if probe.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip("非 root 用户无法读取仓库 %s 或 numpy: %s" % (REPO, probe.stderr.strip()[-300:]))
    yield SimpleNamespace(python=venv_python(root), uid=NONROOT_UID, root=root)
    shutil.rmtree(root, ignore_errors=True)


def run_as_nonroot(grader, mode: str, students: list, limits: dict, jobs: int = 2, home: str = "/tmp") -> dict:
    """Run Sandbox.run for each student as the non-root uid.

    students: [{"sid", "modules": [[name, path]], "calls": [...], "support_dir": path or None}]
    Returns the helper's report with RunResult objects under "results"."""
    from homework.sandbox import RunResult

    job = {"mode": mode, "limits": limits, "students": students, "jobs": jobs}
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8"}
    proc = subprocess.run([grader.python, "-c", NONROOT_HELPER, str(REPO)], input=json.dumps(job),
                          capture_output=True, text=True, timeout=600, cwd=home, env=env, **as_nonroot())
    assert proc.returncode == 0, "非 root 评分进程失败（退出码 %s）: %s" % (proc.returncode, proc.stderr[-3000:])
    report = json.loads(proc.stdout)
    results = {}
    for sid, raw in report["results"].items():
        raw["calls"] = {int(k): v for k, v in raw["calls"].items()}
        results[sid] = RunResult(**raw)
    report["results"] = results
    return report


def chown_tree(path: Path, uid: int) -> None:
    os.chown(path, uid, uid)
    for root, dirs, files in os.walk(path):
        for item in dirs + files:
            os.chown(os.path.join(root, item), uid, uid, follow_symlinks=False)


def _bwrap_or_skip():
    if not shutil.which("bwrap"):
        pytest.skip("本机没有安装 bubblewrap（`bash run.sh grade` 以 root 运行时会安装；CI 的 .ci/run 也会安装）")


# --------------------------------------------------------------------------
# A clone under /tmp
# --------------------------------------------------------------------------


def test_clone_under_tmp_gets_bubblewrap(tmp_clone):
    """`python -m homework isolation` from a clone whose .venv is under /tmp: bubblewrap works."""
    _bwrap_or_skip()
    proc = subprocess.run([venv_python(tmp_clone), "-m", "homework", "isolation"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_clone)
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith("隔离方式: bwrap"), proc.stdout
    assert "无法使用" not in proc.stdout and "命名空间被禁止" not in proc.stdout


def test_interpreter_under_tmp_sees_only_itself_in_tmp(tmp_clone):
    _bwrap_or_skip()
    from homework.sandbox import Limits, Sandbox

    secret = Path("/tmp/homework-secret-%s.txt" % uuid.uuid4().hex)
    secret.write_text("grader data\n")
    escape = "/tmp/homework-escape-%s.txt" % uuid.uuid4().hex
    sub = tmp_clone / "probe.py"
    sub.write_text(
        "import os, sys\n"
        "def look(secret, escape):\n"
        "    listing = sorted(os.listdir('/tmp'))\n"
        "    with open(escape, 'w') as f:\n"
        "        f.write('x')\n"
        "    try:\n"
        "        open(os.path.join(sys.prefix, 'pwned.txt'), 'w').write('x')\n"
        "        venv_writable = True\n"
        "    except OSError:\n"
        "        venv_writable = False\n"
        "    import numpy\n"
        "    return sys.prefix, listing, os.path.exists(secret), venv_writable, numpy.__version__\n")
    try:
        sandbox = Sandbox(Limits(wall_seconds=30), mode="bwrap", python=venv_python(tmp_clone))
        assert sandbox.isolation.bwrap and sandbox.isolation.interpreter.prefix.startswith("/tmp/")
        run = sandbox.run([("m", sub)], [{"id": 0, "module": "m", "func": "look",
                                          "kwargs": {"secret": str(secret), "escape": escape}}])
        assert run.status == "ok", (run.reason, run.stderr)
        prefix, listing, sees_secret, venv_writable, _ = run.calls[0]["value"]
        assert prefix == str(tmp_clone / ".venv")
        assert listing == [tmp_clone.name]  # only the folder that leads to the interpreter
        assert not sees_secret and not venv_writable
        assert not os.path.exists(escape) and not (tmp_clone / ".venv" / "pwned.txt").exists()
    finally:
        secret.unlink()
        for path in (escape, tmp_clone / ".venv" / "pwned.txt"):
            if os.path.exists(path):
                os.unlink(path)


# --------------------------------------------------------------------------
# A grader that is not root
# --------------------------------------------------------------------------


def test_nonroot_grader_isolation_line_names_the_mode(nonroot_grader):
    _bwrap_or_skip()
    proc = subprocess.run([nonroot_grader.python, "-m", "homework", "isolation"], capture_output=True, text=True,
                          timeout=120, cwd=REPO, env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"}, **as_nonroot())
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith("隔离方式: bwrap"), proc.stdout  # user namespaces work here
    assert "用户命名空间" in first


def test_nonroot_grader_survives_a_submission_that_kills_its_parent(nonroot_grader):
    """Bad input 3: without bubblewrap the submission shares the grader's uid; killing its parent ends
    only its own run (the other student is still graded)."""
    work = Path(tempfile.mkdtemp(prefix="homework-nonroot-", dir="/tmp"))
    try:
        (work / "killer.py").write_text("import os\nos.kill(os.getppid(), 9)\ndef f():\n    return 1\n")
        (work / "good.py").write_text("def f():\n    return 2\n")
        chown_tree(work, NONROOT_UID)
        os.chmod(work, 0o700)
        students = [{"sid": sid, "modules": [["m", str(work / (sid + ".py"))]],
                     "calls": [{"id": 0, "module": "m", "func": "f", "kwargs": {}}], "support_dir": None}
                    for sid in ("killer", "good")]
        report = run_as_nonroot(nonroot_grader, "nobwrap", students, dict(wall_seconds=20), home=str(work))
        assert report["keeper"] and not report["filesystem"] and report["name"] == "rlimits"
        killer, good = report["results"]["killer"], report["results"]["good"]
        assert killer.status == "crashed" and "父进程" in killer.reason and not killer.calls
        assert good.status == "ok" and good.calls[0]["value"] == 2
    finally:
        shutil.rmtree(work, ignore_errors=True)


def student_jobs(subs: Path, assignments: list, salt: str = ""):
    """Plans and sandbox jobs for every submission under subs (what grade_batch does before running)."""
    from homework.checks import get_assignment
    from homework.grading import build_calls, discover, plan

    found, _ = discover(subs, assignments)
    graded = [get_assignment(n) for n in assignments]
    plans, jobs = {}, []
    for s in found:
        plans[s.student_id] = [plan(a, s.files.get(a.name), student_id=s.student_id, salt=salt) for a in graded]
        calls, index = build_calls(plans[s.student_id])
        modules = [[p.assignment.name, str(p.file)] for p in plans[s.student_id] if p.file is not None]
        jobs.append({"sid": s.student_id, "modules": modules, "calls": calls,
                     "support_dir": str(s.folder) if s.folder else None, "index": index})
    return found, graded, plans, jobs


def grade_as_nonroot(grader, subs: Path, assignments: list, mode: str, limits: dict, home: str):
    """grade_batch, with the sandboxes started by the non-root uid and the judging done here."""
    import time

    from homework.grading import BatchResult, _student_result, prepare_truth

    start = time.monotonic()
    found, graded, plans, jobs = student_jobs(subs, assignments)
    indexes = {j["sid"]: j.pop("index") for j in jobs}
    report = run_as_nonroot(grader, mode, jobs, limits, home=home)
    students = []
    for s in found:
        prepare_truth(plans[s.student_id])
        students.append(_student_result(s.student_id, plans[s.student_id], report["results"][s.student_id],
                                        indexes[s.student_id], {}, 0.0))
    iso = SimpleNamespace(**{k: v for k, v in report.items() if k != "results"})
    batch = BatchResult(students, graded, {}, time.monotonic() - start, report["describe"], report["name"], [],
                        report["headline"])
    return batch, iso

