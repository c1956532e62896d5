"""What this machine can isolate, and the bubblewrap arguments that do it.

``detect_isolation(mode, python)`` probes once per (mode, interpreter) and returns an
``Isolation``: a working ``bwrap`` (or why not), whether the grader is root and can run
submissions as a throwaway uid, and the writable cgroups.  ``Isolation.headline()`` is the
one line every grading run prints first; ``describe()`` says plainly what is and is not
isolated.

The sandbox's interpreter may live anywhere, including under ``/tmp`` (a project cloned
there, its ``.venv``): the sandbox mounts a private ``/tmp`` first and then binds the
interpreter's ``bin``/``lib`` back, read-only, at the same paths.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field

from .errors import HomeworkError, NoIsolation
from .cgroups import Cgroups

SANDBOX_UID_BASE = 1_900_000_000
IN_SANDBOX = "/sandbox"
SYSTEM_DIRS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
INSTALL_BWRAP = ("安装 bubblewrap：Debian/Ubuntu `sudo apt-get install bubblewrap`，Fedora `sudo dnf install bubblewrap`，"
                 "Arch `sudo pacman -S bubblewrap`（`bash run.sh grade ...` 以 root 运行时会自动安装）")


# --------------------------------------------------------------------------
# The interpreter that runs inside the sandbox
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Interpreter:
    """A Python interpreter and the directories it needs to start (found by asking it)."""

    launch: str  # absolute path to start it by: the real directory of the given path, given file name
    prefix: str
    base_prefix: str
    real_executable: str

    @classmethod
    def of(cls, python: str | None = None) -> "Interpreter":
        if python is None or os.path.abspath(python) == os.path.abspath(sys.executable):
            return cls._make(sys.executable, sys.prefix, sys.base_prefix)
        python = os.path.abspath(python)
        try:
            code = "import json, sys; print(json.dumps([sys.prefix, sys.base_prefix]))"
            proc = subprocess.run([python, "-I", "-c", code], stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=60)
            prefix, base_prefix = json.loads(proc.stdout)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            raise HomeworkError("无法运行沙箱用的 Python 解释器 %s: %s" % (python, exc)) from None
        return cls._make(python, prefix, base_prefix)

    @classmethod
    def _make(cls, python: str, prefix: str, base_prefix: str) -> "Interpreter":
        python = os.path.abspath(python)
        launch = os.path.join(os.path.realpath(os.path.dirname(python)), os.path.basename(python))
        return cls(launch, os.path.realpath(prefix), os.path.realpath(base_prefix), os.path.realpath(python))

    def visible_paths(self) -> list[str]:
        """Files and folders to bind read-only into the sandbox (outside the system directories)."""
        wanted = []
        for root in (self.prefix, self.base_prefix, os.path.dirname(os.path.dirname(self.real_executable))):
            for name in ("bin", "lib", "lib64", "lib32", "pyvenv.cfg"):
                wanted.append(os.path.join(root, name))
        wanted += [os.path.dirname(self.launch), os.path.dirname(self.real_executable)]
        out: list[str] = []
        for path in sorted(set(wanted), key=lambda p: (p.count("/"), p)):
            if not os.path.lexists(path) or _under_system_dir(path) or \
                    any(path == o or path.startswith(o + "/") for o in out):
                continue
            out.append(path)
        return out


def _under_system_dir(path: str) -> bool:
    return path in ("/", "/tmp") or any(path == d or path.startswith(d + "/") for d in SYSTEM_DIRS)


# --------------------------------------------------------------------------
# What is isolated
# --------------------------------------------------------------------------


@dataclass
class Isolation:
    bwrap: str | None  # path of a working bwrap, or None
    is_root: bool
    uid_drop: str | None  # "runner" (inside privileged bwrap), "preexec", or None
    cgroup: Cgroups | None
    notes: list = field(default_factory=list)
    interpreter: Interpreter | None = None
    no_bwrap_reason: str = ""  # why bubblewrap is not used (Chinese), "" when it is

    @property
    def filesystem(self) -> bool:
        """Does the submission get its own view of the file system (bubblewrap)?"""
        return bool(self.bwrap)

    @property
    def keeper(self) -> bool:
        """Same uid and PID namespace as the grader: start the runner under a disposable parent,
        so that killing its parent (os.getppid()) ends only its own run."""
        return not self.bwrap and not self.uid_drop

    @property
    def process_limit_enforced(self) -> bool:
        """Does the kernel cap the number of processes (RLIMIT_NPROC for a non-root uid, or a pids cgroup)?"""
        return bool(self.uid_drop or not self.is_root or (self.cgroup and "pids" in self.cgroup.controllers))

    @property
    def name(self) -> str:
        parts = ["bwrap" if self.bwrap else "rlimits"]
        if self.uid_drop:
            parts.append("uid")
        if self.cgroup:
            parts.append("cgroup")
        return "+".join(parts)

    def headline(self) -> str:
        """One line naming the mode and whether the file system is isolated."""
        if self.bwrap:
            who = "临时 uid" if self.uid_drop else ("评分用户（在用户命名空间内）" if not self.is_root else "root")
            return ("隔离方式: %s（文件系统隔离：只读系统、私有 /tmp、看不到其他提交与评分程序；无网络；独立 PID 命名空间；"
                    "运行身份: %s）" % (self.name, who))
        return "隔离方式: %s（没有文件系统隔离：%s；提交可读写%s能读写的文件、可联网）" % (
            self.name, self.no_bwrap_reason or "未使用 bubblewrap", "临时 uid " if self.uid_drop else "评分用户")

    def describe(self) -> list[str]:
        """Plain statement of what is and is not isolated (Chinese)."""
        lines = ["所有模式: 独立进程组/会话、CPU 时间/内存(地址空间)/单文件大小/打开文件数/进程数 rlimit、"
                 "墙钟超时、stdout/stderr 截断、清空的环境变量、临时工作目录、结束时杀死全部残留进程；"
                 "结果只经专用管道以 JSON 返回，由评分进程比较。"]
        if self.bwrap:
            lines.append("bubblewrap: 只读系统目录与 Python 环境；只能看到本人提交的只读副本；/tmp 与工作目录为限额 tmpfs；"
                         "无网络；独立 PID/IPC/UTS 命名空间；评分进程退出时一并终止。看不到其他学生、评分程序源码和参考答案。")
        else:
            lines.append("未使用 bubblewrap（%s）: 文件系统、网络、其他进程均未隔离（子进程可读取其权限允许的一切文件，可联网）。"
                         % (self.no_bwrap_reason or "未知原因") + INSTALL_BWRAP + "。")
        if self.uid_drop:
            lines.append("以临时的非特权 uid 运行（每个并发任务一个）：RLIMIT_NPROC 生效，不能写评分程序与其他提交"
                         + ("" if self.bwrap else "；但仍可读取所有全局可读文件、可写 /tmp"))
        elif self.is_root and not self.bwrap:
            lines.append("警告: 提交以 root 身份运行（解释器位于非特权用户无法访问的目录，且无 bubblewrap）；"
                         "RLIMIT_NPROC 对 root 无效，只有 cgroup（若可用）能限制 fork 炸弹；文件系统完全暴露。")
        elif not self.bwrap:
            lines.append("以当前用户身份运行：可读写当前用户能读写的一切文件（包括其他提交与评分程序），"
                         "RLIMIT_NPROC 按当前用户的进程总数计算。")
        if self.keeper:
            lines.append("提交的父进程是一个占位进程：提交结束父进程（os.kill(os.getppid(), 9)）只会让本人得 0 分，"
                         "其他学生照常评分；但同一身份的提交仍能找到并结束评分进程本身。")
        if self.cgroup:
            lines.append("cgroup: %s（所有子进程合计）" % ", ".join(self.cgroup.controllers))
        else:
            lines.append("无可写 cgroup: 内存只按单个进程限制，进程数只靠 RLIMIT_NPROC 和看门狗。")
        return lines + list(self.notes)


_isolation_cache: dict = {}
_isolation_lock = threading.Lock()


def detect_isolation(mode: str | None = None, python: str | None = None) -> Isolation:
    """Probe the machine once per (mode, interpreter). mode: auto | bwrap | nobwrap (env HOMEWORK_SANDBOX);
    python: the interpreter that runs submissions (default: this one)."""
    mode = (mode or os.environ.get("HOMEWORK_SANDBOX") or "auto").lower()
    if mode not in ("auto", "bwrap", "nobwrap"):
        raise HomeworkError("HOMEWORK_SANDBOX 必须是 auto / bwrap / nobwrap")
    interp = Interpreter.of(python)
    key = (mode, interp.launch)
    with _isolation_lock:
        if key not in _isolation_cache:
            _isolation_cache[key] = _detect(mode, interp)
        return _isolation_cache[key]


def _detect(mode: str, interp: Interpreter) -> Isolation:
    is_root = os.geteuid() == 0
    notes: list[str] = []
    cgroup = Cgroups.detect() if is_root else None
    bwrap = None
    reason = ""
    if mode == "nobwrap":
        reason = "按要求不使用 bubblewrap（--sandbox nobwrap 或 HOMEWORK_SANDBOX=nobwrap）"
    else:
        # HOMEWORK_BWRAP: path of bwrap, or "none" to behave as if it were not installed
        candidate = os.environ.get("HOMEWORK_BWRAP") or shutil.which("bwrap")
        if candidate == "none":
            candidate = None
        if not candidate:
            reason = "未安装 bubblewrap（找不到 bwrap）"
        else:
            ok, problem = _probe_bwrap(candidate, is_root, interp)
            if ok:
                bwrap = candidate
            else:
                reason = problem
                notes.append("找到了 bwrap 但无法使用: %s；已退回无 bubblewrap 模式。" % problem)
        if mode == "bwrap" and not bwrap:
            raise NoIsolation("要求使用 bubblewrap，但无法使用: %s。%s" % (reason, INSTALL_BWRAP))
    uid_drop = None
    if is_root:
        if bwrap:
            uid_drop = "runner"
        elif _probe_uid_reachable(interp):
            uid_drop = "preexec"
        else:
            notes.append("Python 解释器 %s 对非特权 uid 不可访问，无法降权。" % interp.real_executable)
    return Isolation(bwrap=bwrap, is_root=is_root, uid_drop=uid_drop, cgroup=cgroup, notes=notes,
                     interpreter=interp, no_bwrap_reason=reason)


def _tail(text: str, n: int = 300) -> str:
    text = " ".join(text.split())
    return text[-n:] if text else "无输出"


def _probe_bwrap(bwrap: str, is_root: bool, interp: Interpreter) -> tuple[bool, str]:
    """(works, why not): start the interpreter inside the real sandbox layout (and drop to a uid when root)."""
    uid = SANDBOX_UID_BASE + 999_999
    code = "import json, os, selectors, signal\nif %r:\n    os.setgroups([]); os.setgid(%d); os.setuid(%d)\n" % (
        is_root, uid, uid)
    cmd = bwrap_prefix(bwrap, is_root, interp, None, None) + [interp.launch, "-I", "-c", code]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=30, env=child_env("/"))
    except (OSError, subprocess.SubprocessError) as exc:
        return False, "bwrap 无法运行（%s）" % exc
    if proc.returncode == 0:
        return True, ""
    detail = _tail(proc.stderr.decode("utf-8", "replace"))
    bare = [bwrap] + _namespace_args(is_root) + ["--ro-bind", "/", "/", shutil.which("true") or "/bin/true"]
    try:
        namespaces_ok = subprocess.run(bare, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        namespaces_ok = False
    if namespaces_ok:
        return False, "bwrap 可以创建命名空间，但 Python 解释器 %s 在沙箱中无法启动（%s）" % (interp.launch, detail)
    return False, "bwrap 无法创建命名空间（内核或容器禁止非特权用户命名空间？）: %s" % detail


def _probe_uid_reachable(interp: Interpreter) -> bool:
    uid = SANDBOX_UID_BASE + 999_998

    def drop():
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)

    try:
        proc = subprocess.run([interp.launch, "-I", "-c", "import json, random"], preexec_fn=drop,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=30, env=child_env("/"), cwd="/")
        return proc.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


# --------------------------------------------------------------------------
# bubblewrap arguments, environment, throwaway uids
# --------------------------------------------------------------------------


def _namespace_args(is_root: bool) -> list[str]:
    if is_root:
        # Privileged bwrap, no user namespace: the runner drops to a throwaway
        # uid itself (it keeps only CAP_SETUID/CAP_SETGID to do so).
        return ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                "--unshare-cgroup-try", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return ["--unshare-all", "--unshare-user", "--disable-userns"]


def _mkdirs_args(path: str, done: set) -> list[str]:
    """--dir for every missing parent of path (mode 0755)."""
    args = []
    parts = path.split("/")
    for i in range(2, len(parts)):
        parent = "/".join(parts[:i])
        if parent not in done:
            done.add(parent)
            args += ["--perms", "0755", "--dir", parent]
    return args


def bwrap_prefix(bwrap: str, is_root: bool, interp: Interpreter, work_mb: int | None,
                 tmp_mb: int | None) -> list[str]:
    """bwrap arguments up to (not including) the command.

    Order matters: the private /tmp is mounted before the interpreter's folders are bound,
    so an interpreter (or virtualenv) under /tmp stays visible, read-only, on top of it."""
    args = [bwrap, "--die-with-parent", "--new-session"] + _namespace_args(is_root) + ["--hostname", "sandbox"]
    created = {"/tmp", "/proc", "/dev", IN_SANDBOX}
    for top in SYSTEM_DIRS:
        created.add(top)
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    args += ["--proc", "/proc", "--dev", "/dev"]
    if tmp_mb:
        args += ["--perms", "1777", "--size", str(tmp_mb << 20), "--tmpfs", "/tmp"]
    else:
        args += ["--perms", "1777", "--tmpfs", "/tmp"]
    for path in interp.visible_paths():
        if os.path.islink(path):
            args += _mkdirs_args(path, created) + ["--symlink", os.readlink(path), path]
        else:
            args += _mkdirs_args(path, created) + ["--ro-bind", path, path]
        created.add(path)
    if work_mb:
        args += ["--perms", "0755", "--dir", IN_SANDBOX,
                 "--perms", "0777", "--size", str(work_mb << 20), "--tmpfs", IN_SANDBOX + "/work"]
    return args


def child_env(home: str) -> dict:
    threads = "1"
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MKL_DEBUG_CPU_TYPE": "5",
        "FLAGS_use_system_allocator": "1",
    }


class UidPool:
    """Throwaway uids, one per concurrent run, unique per grader process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._free = list(range(64))
        self._base = SANDBOX_UID_BASE + (os.getpid() % 15_000) * 64

    def acquire(self) -> int:
        with self._lock:
            if not self._free:
                raise RuntimeError("too many concurrent sandboxes")
            return self._base + self._free.pop(0)

    def release(self, uid: int) -> None:
        with self._lock:
            self._free.append(uid - self._base)


uids = UidPool()
