"""Run untrusted submissions in a child process with OS-level limits.

Layers, each used when the machine offers it (``describe_isolation`` says which):

* always: own session / process group, rlimits (CPU seconds, address space,
  file size, open files, processes), a wall-clock timeout, capped stdout /
  stderr, a scrubbed environment, a fresh temporary working directory, and a
  kill of every leftover process when the run ends;
* bubblewrap (``bwrap``): read-only view of the system and the Python install
  only, the submission's own copy read-only, private size-capped tmpfs for
  ``/tmp`` and the working directory, no network, own PID/IPC/UTS namespaces,
  killed with the grader;
* when the grader runs as root: the submission runs as a throwaway uid
  (unique per concurrent run), so RLIMIT_NPROC applies (it does not apply to
  root) and file permissions protect the grader and the other submissions;
* when a writable cgroup hierarchy exists (root): a per-run cgroup with
  ``pids.max`` and a memory limit across all of the submission's processes.

The child only returns raw values on a dedicated pipe; grading happens in the
grader's process (see ``homework.grading``).
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

RUNNER = Path(__file__).with_name("_runner.py")
SANDBOX_UID_BASE = 1_900_000_000
_IN_SANDBOX = "/sandbox"


@dataclass
class Limits:
    """Resource limits for one submission run (all of its calls together)."""

    wall_seconds: float = 60.0
    cpu_seconds: int = 40
    call_seconds: float = 15.0
    memory_mb: int = 3072
    max_processes: int = 32
    max_output_bytes: int = 8 << 20
    keep_output_bytes: int = 16 << 10
    max_result_bytes: int = 64 << 20
    max_file_mb: int = 64
    max_open_files: int = 256
    max_submission_bytes: int = 20 << 20


@dataclass
class RunResult:
    """What came back from one sandboxed run."""

    status: str  # ok | timeout | cpu_limit | memory_limit | output_limit | result_limit | process_limit | exited | crashed | setup_error
    reason: str  # Chinese, for feedback; "" when status == "ok"
    imports: dict = field(default_factory=dict)  # module -> import record
    calls: dict = field(default_factory=dict)  # call id -> call record
    finished: bool = False  # the runner reached the end of the job
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    output_bytes: int = 0
    wall_seconds: float = 0.0
    bad_records: int = 0
    duplicate_records: int = 0
    peak_processes: int = 0
    notes: list = field(default_factory=list)  # limits that were hit (Chinese)


# --------------------------------------------------------------------------
# Detection of what this machine can isolate
# --------------------------------------------------------------------------


@dataclass
class Isolation:
    bwrap: str | None  # path of a working bwrap, or None
    is_root: bool
    uid_drop: str | None  # "runner" (inside privileged bwrap), "preexec", or None
    cgroup: "_Cgroups | None"
    notes: list = field(default_factory=list)

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

    def describe(self) -> list[str]:
        """Plain statement of what is and is not isolated (Chinese)."""
        lines = ["所有模式: 独立进程组/会话、CPU 时间/内存(地址空间)/单文件大小/打开文件数/进程数 rlimit、"
                 "墙钟超时、stdout/stderr 截断、清空的环境变量、临时工作目录、结束时杀死全部残留进程；"
                 "结果只经专用管道以 JSON 返回，由评分进程比较。"]
        if self.bwrap:
            lines.append("bubblewrap: 只读系统目录与 Python 环境；只能看到本人提交的只读副本；/tmp 与工作目录为限额 tmpfs；"
                         "无网络；独立 PID/IPC/UTS 命名空间；评分进程退出时一并终止。看不到其他学生、评分程序源码和参考答案。")
        else:
            lines.append("未使用 bubblewrap: 文件系统、网络、其他进程均未隔离（子进程可读取其权限允许的一切文件，可联网）。")
        if self.uid_drop:
            lines.append("以临时的非特权 uid 运行（每个并发任务一个）：RLIMIT_NPROC 生效，不能写评分程序与其他提交"
                         + ("" if self.bwrap else "；但仍可读取所有全局可读文件、可写 /tmp"))
        elif self.is_root:
            lines.append("警告: 提交以 root 身份运行（解释器位于非特权用户无法访问的目录，且无 bubblewrap）；"
                         "RLIMIT_NPROC 对 root 无效，只有 cgroup（若可用）能限制 fork 炸弹；文件系统完全暴露。")
        else:
            lines.append("以当前用户身份运行：可读写当前用户能读写的一切文件（包括其他提交与评分程序），"
                         "RLIMIT_NPROC 按当前用户的进程总数计算。")
        if self.cgroup:
            lines.append("cgroup: %s（所有子进程合计）" % ", ".join(self.cgroup.controllers))
        else:
            lines.append("无可写 cgroup: 内存只按单个进程限制，进程数只靠 RLIMIT_NPROC 和看门狗。")
        return lines + list(self.notes)


_isolation_cache: dict = {}
_isolation_lock = threading.Lock()


def detect_isolation(mode: str | None = None) -> Isolation:
    """Probe the machine once per mode. mode: auto | bwrap | nobwrap (env HOMEWORK_SANDBOX)."""
    mode = (mode or os.environ.get("HOMEWORK_SANDBOX") or "auto").lower()
    if mode not in ("auto", "bwrap", "nobwrap"):
        raise ValueError("HOMEWORK_SANDBOX 必须是 auto / bwrap / nobwrap")
    with _isolation_lock:
        if mode not in _isolation_cache:
            _isolation_cache[mode] = _detect(mode)
        return _isolation_cache[mode]


def _detect(mode: str) -> Isolation:
    is_root = os.geteuid() == 0
    notes: list[str] = []
    cgroup = _Cgroups.detect() if is_root else None
    bwrap = None
    if mode != "nobwrap":
        # HOMEWORK_BWRAP: path of bwrap, or "none" to behave as if it were not installed
        candidate = os.environ.get("HOMEWORK_BWRAP") or shutil.which("bwrap")
        if candidate == "none":
            candidate = None
        if candidate and _probe_bwrap(candidate, is_root):
            bwrap = candidate
        elif mode == "bwrap":
            raise RuntimeError("要求使用 bubblewrap，但 bwrap 不存在或无法创建命名空间")
        elif candidate:
            notes.append("找到了 bwrap 但无法使用（命名空间被禁止），已退回无 bubblewrap 模式。")
    uid_drop = None
    if is_root:
        if bwrap:
            uid_drop = "runner"
        elif _probe_uid_reachable():
            uid_drop = "preexec"
        else:
            notes.append("Python 解释器 %s 对非特权 uid 不可访问，无法降权。" % os.path.realpath(sys.executable))
    return Isolation(bwrap=bwrap, is_root=is_root, uid_drop=uid_drop, cgroup=cgroup, notes=notes)


def _probe_bwrap(bwrap: str, is_root: bool) -> bool:
    uid = SANDBOX_UID_BASE + 999_999
    code = "import os\nif %r:\n    os.setgroups([]); os.setgid(%d); os.setuid(%d)\n" % (is_root, uid, uid)
    cmd = _bwrap_prefix(bwrap, is_root, None, None) + [sys.executable, "-I", "-c", code]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=30, env=_child_env("/"))
        return proc.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _probe_uid_reachable() -> bool:
    uid = SANDBOX_UID_BASE + 999_998

    def drop():
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)

    try:
        proc = subprocess.run([sys.executable, "-I", "-c", "import json, random"], preexec_fn=drop,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=30, env=_child_env("/"), cwd="/")
        return proc.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


# --------------------------------------------------------------------------
# cgroups (v1 or v2), root only
# --------------------------------------------------------------------------


class _Cgroups:
    """Per-run cgroups for the pids and memory controllers that are writable."""

    _counter = 0
    _lock = threading.Lock()

    def __init__(self, roots: dict):
        self.roots = roots  # controller -> (directory to create children in, version)

    @property
    def controllers(self) -> list[str]:
        return sorted(self.roots)

    @classmethod
    def detect(cls) -> "_Cgroups | None":
        if os.environ.get("HOMEWORK_NO_CGROUP"):
            return None
        try:
            mounts = Path("/proc/self/mounts").read_text().splitlines()
            own = Path("/proc/self/cgroup").read_text().splitlines()
        except OSError:
            return None
        own_paths = {}
        for line in own:
            parts = line.split(":", 2)
            if len(parts) == 3:
                for ctrl in parts[1].split(",") if parts[1] else ["<v2>"]:
                    own_paths[ctrl] = parts[2]
        roots = {}
        for line in mounts:
            fields = line.split()
            if len(fields) < 4:
                continue
            where, fstype, options = fields[1], fields[2], fields[3].split(",")
            for ctrl in ("pids", "memory"):
                if ctrl in roots:
                    continue
                if fstype == "cgroup" and ctrl in options:
                    base = Path(where) / own_paths.get(ctrl, "/").lstrip("/")
                    if cls._try(base, ctrl, 1):
                        roots[ctrl] = (base, 1)
                elif fstype == "cgroup2":
                    base = Path(where) / own_paths.get("<v2>", "/").lstrip("/")
                    try:
                        enabled = (base / "cgroup.subtree_control").read_text().split()
                    except OSError:
                        enabled = []
                    if ctrl in enabled and cls._try(base, ctrl, 2):
                        roots[ctrl] = (base, 2)
        return cls(roots) if roots else None

    @staticmethod
    def _limit_file(ctrl: str, version: int) -> str:
        if ctrl == "pids":
            return "pids.max"
        return "memory.limit_in_bytes" if version == 1 else "memory.max"

    @classmethod
    def _try(cls, base: Path, ctrl: str, version: int) -> bool:
        probe = base / ("homework-probe-%d" % os.getpid())
        try:
            probe.mkdir(exist_ok=True)
            try:
                (probe / cls._limit_file(ctrl, version)).write_text("100000000" if ctrl == "memory" else "10")
                return True
            finally:
                probe.rmdir()
        except OSError:
            return False

    def create(self, max_processes: int, memory_bytes: int) -> list[Path]:
        with self._lock:
            _Cgroups._counter += 1
            name = "homework-%d-%d" % (os.getpid(), _Cgroups._counter)
        made = []
        for ctrl, (base, version) in self.roots.items():
            path = base / name
            try:
                path.mkdir()
                value = max_processes if ctrl == "pids" else memory_bytes
                (path / self._limit_file(ctrl, version)).write_text(str(value))
                if ctrl == "memory" and version == 2:
                    try:
                        (path / "memory.swap.max").write_text("0")
                    except OSError:
                        pass
                made.append(path)
            except OSError:
                shutil.rmtree(path, ignore_errors=True)
        return made

    @staticmethod
    def members(paths: list[Path]) -> set[int]:
        pids: set[int] = set()
        for path in paths:
            try:
                pids.update(int(x) for x in (path / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        return pids

    @staticmethod
    def memory_hit(paths: list[Path]) -> bool:
        for path in paths:
            for name, key in (("memory.failcnt", None), ("memory.events", "oom_kill")):
                try:
                    text = (path / name).read_text()
                except OSError:
                    continue
                if key is None and text.strip() not in ("", "0"):
                    return True
                if key is not None:
                    for line in text.splitlines():
                        k, _, v = line.partition(" ")
                        if k == key and v.strip() not in ("", "0"):
                            return True
        return False

    @staticmethod
    def remove(paths: list[Path]) -> None:
        for path in paths:
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    for pid in _Cgroups.members([path]):
                        _kill(pid)
                    time.sleep(0.02)


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


class _UidPool:
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


_uids = _UidPool()


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def _proc_table() -> list[tuple[int, int, int, int, int]]:
    """(pid, uid, session id, rss bytes, parent pid) of every process."""
    rows = []
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry.name, "rb") as f:
                stat = f.read().rsplit(b")", 1)[1].split()
            uid = os.stat("/proc/" + entry.name).st_uid
            rows.append((int(entry.name), uid, int(stat[3]), int(stat[21]) * page, int(stat[1])))
        except (OSError, IndexError, ValueError):
            continue
    return rows


def _descendants_or_session(table, root_pid: int) -> list:
    """Rows of root_pid's process tree, plus anything still in its session."""
    children: dict = {}
    for row in table:
        children.setdefault(row[4], []).append(row)
    found, todo = {}, [root_pid]
    while todo:
        for row in children.get(todo.pop(), []):
            if row[0] not in found:
                found[row[0]] = row
                todo.append(row[0])
    for row in table:
        if row[2] == root_pid:
            found.setdefault(row[0], row)
    return list(found.values())


def _uid_process_count(uid: int) -> int:
    return sum(1 for row in _proc_table() if row[1] == uid)


def _child_env(home: str) -> dict:
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


def _mkdirs_args(path: str, done: set) -> list[str]:
    args = []
    parts = Path(path).parts
    for i in range(2, len(parts)):
        parent = str(Path(*parts[:i]))
        if parent not in done:
            done.add(parent)
            args += ["--perms", "0755", "--dir", parent]
    return args


def _bwrap_prefix(bwrap: str, is_root: bool, work_mb: int | None, tmp_mb: int | None) -> list[str]:
    """bwrap arguments up to (not including) the command."""
    args = [bwrap, "--die-with-parent", "--new-session"]
    if is_root:
        # Privileged bwrap, no user namespace: the runner drops to a throwaway
        # uid itself (it keeps only CAP_SETUID/CAP_SETGID to do so).
        args += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                 "--unshare-cgroup-try", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-all", "--unshare-user", "--disable-userns"]
    args += ["--hostname", "sandbox"]
    for top in ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    created: set = set()
    binds = []
    for prefix in {sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))}:
        prefix = os.path.realpath(prefix)
        if prefix.startswith(("/usr/", "/etc/")) or prefix in ("/usr", "/"):
            continue
        binds.append(prefix)
    for prefix in sorted(set(binds), key=len):
        if any(prefix.startswith(other + "/") for other in binds if other != prefix):
            continue
        args += _mkdirs_args(prefix, created) + ["--ro-bind", prefix, prefix]
    if sys.prefix != os.path.realpath(sys.prefix):  # venv reached through a symlink
        args += _mkdirs_args(sys.prefix, created) + ["--symlink", os.path.realpath(sys.prefix), sys.prefix]
    args += ["--proc", "/proc", "--dev", "/dev"]
    if tmp_mb:
        args += ["--perms", "1777", "--size", str(tmp_mb << 20), "--tmpfs", "/tmp"]
    else:
        args += ["--tmpfs", "/tmp"]
    if work_mb:
        args += ["--perms", "0755", "--dir", _IN_SANDBOX,
                 "--perms", "0777", "--size", str(work_mb << 20), "--tmpfs", _IN_SANDBOX + "/work"]
    return args


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
    def __init__(self, limits: Limits | None = None, mode: str | None = None):
        self.limits = limits or Limits()
        self.isolation = detect_isolation(mode)

    def run(self, modules: list[tuple[str, Path]], calls: list[dict], support_dir: Path | None = None) -> RunResult:
        """Import each (name, file) in a sandboxed child and make the calls.

        calls: [{"id", "module", "func", "kwargs", "arrays"?, "attr"?}, ...]
        support_dir: the student's own folder, whose other .py files are made available.
        """
        lim = self.limits
        iso = self.isolation
        tmp = Path(tempfile.mkdtemp(prefix="homework-sb-"))
        uid = _uids.acquire() if iso.uid_drop else None
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
                base = _IN_SANDBOX
                cmd = _bwrap_prefix(iso.bwrap, iso.is_root, lim.max_file_mb, lim.max_file_mb)
                cmd += ["--ro-bind", str(tmp / "submission"), base + "/submission",
                        "--ro-bind", str(tmp / "runner.py"), base + "/runner.py",
                        "--chdir", base + "/work"]
                cwd = "/"
            else:
                base = str(tmp)
                cmd = []
                cwd = str(tmp / "work")
            job = {
                "modules": [{"name": n, "path": base + "/submission/" + f} for n, f in copied],
                "calls": calls,
                "call_timeout": lim.call_seconds,
            }

            if iso.cgroup:
                cgroups = iso.cgroup.create(lim.max_processes + 4, lim.memory_mb << 20)

            read_fd, write_fd = os.pipe()
            cmd += [sys.executable, "-I", "-B", base + "/runner.py", str(write_fd)]
            if uid is not None and iso.uid_drop == "runner":
                cmd += ["--drop-uid", str(uid)]
            nproc = lim.max_processes + (4 if iso.bwrap else 0)
            if uid is None and not iso.is_root:
                nproc += _uid_process_count(os.getuid())
            preexec = _make_preexec(lim, nproc, cgroups, uid if iso.uid_drop == "preexec" else None)
            home = (_IN_SANDBOX + "/work") if iso.bwrap else cwd
            return self._execute(cmd, cwd, _child_env(home), preexec, read_fd, write_fd, job, uid, cgroups)
        finally:
            if cgroups:
                _Cgroups.remove(cgroups)
            if uid is not None:
                _kill_uid(uid)
                _uids.release(uid)
            shutil.rmtree(tmp, ignore_errors=True)

    def _execute(self, cmd, cwd, env, preexec, read_fd, write_fd, job, uid, cgroups) -> RunResult:
        lim = self.limits
        start = time.monotonic()
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    pass_fds=(write_fd,), cwd=cwd, env=env, preexec_fn=preexec, close_fds=True)
        except OSError as exc:
            os.close(read_fd)
            os.close(write_fd)
            return RunResult(status="setup_error", reason="沙箱启动失败: %s" % exc)
        os.close(write_fd)
        payload = json.dumps(job).encode("utf-8")
        writer = threading.Thread(target=_feed_stdin, args=(proc.stdin, payload), daemon=True)
        writer.start()

        buffers = {"stdout": bytearray(), "stderr": bytearray(), "result": bytearray()}
        streams = {proc.stdout.fileno(): "stdout", proc.stderr.fileno(): "stderr", read_fd: "result"}
        sel = selectors.DefaultSelector()
        for fd in streams:
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
        output_bytes = 0
        killed_status, killed_reason = None, ""
        exited_at = None
        rusage = None
        peak = 0
        next_watch = start + 0.5

        def stop(status, reason):
            nonlocal killed_status, killed_reason
            if killed_status is None:
                killed_status, killed_reason = status, reason
            _kill_all(proc, uid, cgroups)

        while sel.get_map():
            now = time.monotonic()
            if killed_status is None and now - start > lim.wall_seconds:
                stop("timeout", "运行超时：整个提交运行超过 %.0f 秒（墙钟时间），进程已被终止" % lim.wall_seconds)
            if exited_at is not None and now - exited_at > 1.0:
                break
            if killed_status is not None and now - start > lim.wall_seconds + 3:
                break
            for key, _ in sel.select(timeout=0.2):
                try:
                    data = os.read(key.fd, 1 << 16)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(key.fd)
                    continue
                which = streams[key.fd]
                if which == "result":
                    buffers["result"] += data
                    if len(buffers["result"]) > lim.max_result_bytes:
                        stop("result_limit", "返回的数据超过 %d MB，进程已被终止" % (lim.max_result_bytes >> 20))
                        sel.unregister(key.fd)
                else:
                    output_bytes += len(data)
                    room = lim.keep_output_bytes - len(buffers[which])
                    if room > 0:
                        buffers[which] += data[:room]
                    if output_bytes > lim.max_output_bytes and killed_status is None:
                        stop("output_limit", "输出过多：stdout/stderr 超过 %d MB，进程已被终止"
                             % (lim.max_output_bytes >> 20))
            if exited_at is None:
                reaped = _try_reap(proc)
                if reaped is not None:
                    rusage = reaped[0]
                    exited_at = time.monotonic()
                    _kill_all(proc, uid, cgroups)  # leftovers holding the pipes open
            if killed_status is None and exited_at is None and time.monotonic() >= next_watch:
                next_watch = time.monotonic() + (0.5 if self.isolation.process_limit_enforced else 0.1)
                verdict, count = _watchdog(proc, uid, cgroups, lim)
                peak = max(peak, count)
                if verdict:
                    stop(*verdict)

        _kill_all(proc, uid, cgroups)
        if exited_at is None:
            try:
                _, wait_status, rusage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(wait_status)
            except ChildProcessError:
                proc.wait()
        for fd in list(sel.get_map()):
            sel.unregister(fd)
        sel.close()
        os.close(read_fd)
        for stream in (proc.stdout, proc.stderr):
            stream.close()
        writer.join(timeout=1)

        result = RunResult(status="ok", reason="", returncode=proc.returncode,
                           stdout=buffers["stdout"].decode("utf-8", "replace"),
                           stderr=buffers["stderr"].decode("utf-8", "replace"),
                           output_bytes=output_bytes, wall_seconds=time.monotonic() - start)
        _parse_records(bytes(buffers["result"]), result)
        result.peak_processes = peak
        if peak >= lim.max_processes or _pids_limit_hit(cgroups):
            result.notes.append("进程数达到上限（%d 个）：提交在不停地创建子进程（fork 炸弹？），超出的 fork 都失败了"
                                % lim.max_processes)
        if result.bad_records:
            result.notes.append("结果通道中有 %d 条无法识别的数据，已忽略" % result.bad_records)
        if result.duplicate_records:
            result.notes.append("结果通道中出现了 %d 条重复的结果（提交试图伪造结果？）；每个调用只采用第一条，"
                                "并与评分程序自己算出的正确值比较" % result.duplicate_records)
        cpu_used = (rusage.ru_utime + rusage.ru_stime) if rusage else 0.0
        if killed_status:
            result.status, result.reason = killed_status, killed_reason
        elif not result.finished:
            rc = proc.returncode
            if rc in (-signal.SIGXCPU, 128 + signal.SIGXCPU) or cpu_used >= lim.cpu_seconds - 0.5:
                result.status = "cpu_limit"
                result.reason = "CPU 时间超过 %d 秒，进程已被终止" % lim.cpu_seconds
            elif rc in (-signal.SIGKILL, 128 + signal.SIGKILL) and cgroups and _Cgroups.memory_hit(cgroups):
                result.status = "memory_limit"
                result.reason = "内存超过 %d MB，进程被终止" % lim.memory_mb
            elif rc == 0:
                result.status = "exited"
                result.reason = "提交在评分完成前自行结束了进程（例如 os._exit / 关闭了结果通道），之后的题目没有结果"
            else:
                result.status = "crashed"
                result.reason = "提交的进程异常退出（退出码 %s），之后的题目没有结果" % rc
        return result


def _try_reap(proc: subprocess.Popen):
    """Non-blocking wait that keeps the rusage (Popen.poll would drop it).

    Returns None while the child runs, else (rusage or None)."""
    try:
        pid, wait_status, rusage = os.wait4(proc.pid, os.WNOHANG)
    except ChildProcessError:
        if proc.returncode is None:
            proc.returncode = -1
        return (None,)
    if pid == 0:
        return None
    proc.returncode = os.waitstatus_to_exitcode(wait_status)
    return (rusage,)


def _feed_stdin(stream, payload: bytes) -> None:
    try:
        stream.write(payload)
        stream.close()
    except (BrokenPipeError, OSError, ValueError):
        pass


def _make_preexec(lim: Limits, nproc: int, cgroups: list[Path], uid: int | None):
    cgroup_procs = [str(p / "cgroup.procs") for p in cgroups]
    limits = [
        (resource.RLIMIT_CPU, (lim.cpu_seconds, lim.cpu_seconds + 1)),
        (resource.RLIMIT_AS, (lim.memory_mb << 20, lim.memory_mb << 20)),
        (resource.RLIMIT_FSIZE, (lim.max_file_mb << 20, lim.max_file_mb << 20)),
        (resource.RLIMIT_NOFILE, (lim.max_open_files, lim.max_open_files)),
        (resource.RLIMIT_CORE, (0, 0)),
        (resource.RLIMIT_NPROC, (nproc, nproc)),
    ]

    def preexec():  # runs in the forked child before exec: no imports, no locks
        os.setsid()
        for path in cgroup_procs:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, str(os.getpid()).encode())
            finally:
                os.close(fd)
        for which, value in limits:
            resource.setrlimit(which, value)
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)

    return preexec


def _kill_uid(uid: int) -> None:
    """SIGKILL every process of the throwaway uid (kill -1 from that uid)."""
    def become():
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)

    kill = shutil.which("kill") or "/bin/kill"
    for _ in range(3):
        try:
            subprocess.run([kill, "-9", "-1"], preexec_fn=become, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10, env={})
        except (OSError, subprocess.SubprocessError):
            break
        if not any(row[1] == uid for row in _proc_table()):
            break


def _kill_all(proc: subprocess.Popen, uid: int | None, cgroups: list[Path]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    for pid in _Cgroups.members(cgroups):
        _kill(pid)
    if uid is None:
        # Processes that left the process group (bwrap's own session, or setsid).
        for row in _descendants_or_session(_proc_table(), proc.pid):
            _kill(row[0])


def _watchdog(proc, uid, cgroups, lim: Limits):
    """(verdict or None, process count): aggregate limits the kernel may not enforce."""
    table = _proc_table()
    if uid is not None:
        mine = [row for row in table if row[1] == uid]
    else:
        mine = _descendants_or_session(table, proc.pid)
    if len(cgroups) >= 2:  # pids and memory are enforced by the kernel
        return None, len(mine)
    if len(mine) > lim.max_processes + 4:
        return ("process_limit", "创建的进程过多（超过 %d 个），进程已被终止" % lim.max_processes), len(mine)
    if sum(row[3] for row in mine) > (lim.memory_mb << 20):
        return ("memory_limit", "内存超过 %d MB（所有子进程合计），进程已被终止" % lim.memory_mb), len(mine)
    return None, len(mine)


def _pids_limit_hit(cgroups: list[Path]) -> bool:
    for path in cgroups:
        try:
            text = (path / "pids.events").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "max" and value.strip() not in ("", "0"):
                return True
    return False


def _parse_records(data: bytes, result: RunResult) -> None:
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, UnicodeDecodeError, RecursionError):
            result.bad_records += 1
            continue
        if not isinstance(record, dict):
            result.bad_records += 1
            continue
        event = record.get("event")
        if event == "import" and isinstance(record.get("module"), str):
            result.imports.setdefault(record["module"], record)
        elif event == "call" and isinstance(record.get("id"), int):
            if record["id"] in result.calls:
                result.duplicate_records += 1
            result.calls.setdefault(record["id"], record)
        elif event == "done":
            result.finished = True
        else:
            result.bad_records += 1
