"""Run untrusted submissions in a child process with OS-level limits.

Layers, each used when the machine offers it (``python -m homework isolation`` says which):

* always: own session / process group, rlimits (CPU seconds, address space,
  file size, open files, processes), a wall-clock timeout, capped stdout /
  stderr, a scrubbed environment, a fresh temporary working directory, and a
  kill of every leftover process when the run ends;
* bubblewrap (``bwrap``): read-only view of the system and the Python install
  only, the submission's own copy read-only, private size-capped tmpfs for
  ``/tmp`` and the working directory, no network, own PID/IPC/UTS namespaces,
  killed with the grader; works for a grader that is not root (user namespace)
  and for an interpreter or virtualenv under ``/tmp``;
* when the grader runs as root: the submission runs as a throwaway uid
  (unique per concurrent run), so RLIMIT_NPROC applies (it does not apply to
  root) and file permissions protect the grader and the other submissions;
* when a writable cgroup hierarchy exists (root): a per-run cgroup with
  ``pids.max`` and a memory limit across all of the submission's processes;
* without bubblewrap or a throwaway uid (same uid and PID namespace as the
  grader): the runner's parent is a disposable shell, so a submission that
  kills its parent ends only its own run.

The modules: ``isolation`` (what the machine offers, bwrap arguments, uids),
``cgroups``, ``supervision`` (start, watch, stop, read the results) and this one,
which puts a run together.  The child only returns raw values on a dedicated
pipe; grading happens in the grader's process (see ``homework.grading``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .cgroups import Cgroups
from .isolation import (IN_SANDBOX, SANDBOX_UID_BASE, Interpreter, Isolation, bwrap_prefix,  # noqa: F401
                        child_env, detect_isolation, uids)
from .supervision import (KEEPER, Limits, RunResult, kill_uid, make_preexec, proc_table, supervise,  # noqa: F401
                          uid_process_count)

RUNNER = Path(__file__).with_name("_runner.py")
_proc_table = proc_table  # the name the tests used before the split


def _copy_submission(files: list[tuple[str, Path]], dest: Path, limit: int,
                     support_dir: Path | None) -> list[tuple[str, str]]:
    """Copy the student's files (regular files only, size-capped) into dest.

    files: (module name, path of the student's .py file).  The other .py files of
    support_dir (the student's own folder, never a folder shared with other
    students) are copied too, so a submission may import its own helpers.
    Returns (module name, file name inside dest).
    """
    dest.mkdir(parents=True)
    total = 0
    out = []
    copied = set()
    helpers = sorted(Path(support_dir).glob("*.py")) if support_dir else []
    for name, path in files:
        path = Path(path)
        for src in [path] + helpers:
            if src.name in copied or src.is_symlink() or not src.is_file():
                continue
            size = src.stat().st_size
            if total + size > limit:
                continue
            shutil.copyfile(src, dest / src.name)
            copied.add(src.name)
            total += size
        out.append((name, path.name))
    return out


# --------------------------------------------------------------------------
# The run itself
# --------------------------------------------------------------------------


class Sandbox:
    def __init__(self, limits: Limits | None = None, mode: str | None = None, python: str | None = None):
        """mode: auto | bwrap | nobwrap; python: the interpreter that runs submissions (default: this one;
        it needs only the standard library, and numpy for questions that pass arrays)."""
        self.limits = limits or Limits()
        self.isolation = detect_isolation(mode, python)

    def run(self, modules: list[tuple[str, Path]], calls: list[dict], support_dir: Path | None = None) -> RunResult:
        """Import each (name, file) in a sandboxed child and make the calls.

        calls: [{"id", "module", "func", "kwargs", "arrays"?, "attr"?}, ...]
        support_dir: the student's own folder, whose other .py files are made available.
        """
        lim = self.limits
        iso = self.isolation
        tmp = Path(tempfile.mkdtemp(prefix="homework-sb-%d-" % os.getpid()))  # the grader's pid: whose leftovers
        uid = uids.acquire() if iso.uid_drop else None
        cgroups: list[Path] = []
        try:
            copied = _copy_submission(modules, tmp / "submission", lim.max_submission_bytes, support_dir)
            shutil.copyfile(RUNNER, tmp / "runner.py")
            (tmp / "work").mkdir()
            if uid is not None:
                for root, dirs, files in os.walk(tmp):
                    for item in dirs + files:
                        os.chown(os.path.join(root, item), uid, uid)
                os.chown(tmp, uid, uid)
            os.chmod(tmp, 0o700)

            if iso.bwrap:
                base = IN_SANDBOX
                cmd = bwrap_prefix(iso.bwrap, iso.is_root, iso.interpreter, lim.max_file_mb, lim.max_file_mb)
                cmd += ["--ro-bind", str(tmp / "submission"), base + "/submission",
                        "--ro-bind", str(tmp / "runner.py"), base + "/runner.py",
                        "--chdir", base + "/work"]
                cwd = "/"
            else:
                base = str(tmp)
                cmd = list(KEEPER) if iso.keeper else []
                cwd = str(tmp / "work")
            job = {
                "modules": [{"name": n, "path": base + "/submission/" + f} for n, f in copied],
                "calls": calls,
                "call_timeout": lim.call_seconds,
            }

            if iso.cgroup:
                cgroups = iso.cgroup.create(lim.max_processes + 4, lim.memory_mb << 20)

            read_fd, write_fd = os.pipe()
            cmd += [iso.interpreter.launch, "-I", "-B", base + "/runner.py", str(write_fd)]
            if uid is not None and iso.uid_drop == "runner":
                cmd += ["--drop-uid", str(uid)]
            nproc = lim.max_processes + (4 if iso.bwrap else 0)
            if uid is None and not iso.is_root:
                nproc += uid_process_count(os.getuid()) + (1 if iso.keeper else 0)
            preexec = make_preexec(lim, nproc, cgroups, uid if iso.uid_drop == "preexec" else None)
            home = (IN_SANDBOX + "/work") if iso.bwrap else cwd
            return supervise(cmd, cwd, child_env(home), preexec, read_fd, write_fd, job, lim, uid, cgroups,
                             iso.process_limit_enforced, keeper=iso.keeper,
                             shared_nproc=nproc if uid is None and not iso.is_root else None)
        finally:
            if cgroups:
                Cgroups.remove(cgroups)
            if uid is not None:
                kill_uid(uid)
                uids.release(uid)
            shutil.rmtree(tmp, ignore_errors=True)
