"""Supervision of one sandboxed run: start it, watch it, stop it, read what came back.

``supervise`` starts the command (the runner, possibly inside bubblewrap) with rlimits set
in ``make_preexec``, feeds the job on stdin, reads capped stdout/stderr and the result
channel, enforces the wall clock and the aggregate process / memory limits (watchdog),
kills every leftover process, and turns what happened into a ``RunResult`` with a
reason in Chinese.  It does not know how the command was isolated (``homework.isolation``).
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .cgroups import Cgroups, pids_limit_hit

# The disposable parent used when the submission shares the grader's uid and PID namespace:
# a shell that waits for the runner and exits with its status (128 + signal when killed).
KEEPER = ["/bin/sh", "-c", '"$@"; exit $?', "homework-keeper"]


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

    # ok | timeout | cpu_limit | memory_limit | output_limit | result_limit | process_limit | exited | crashed
    # | setup_error
    status: str
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


def kill_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def proc_table() -> list[tuple[int, int, int, int, int, int]]:
    """(pid, uid, session id, rss bytes, parent pid, threads) of every process."""
    rows = []
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry.name, "rb") as f:
                stat = f.read().rsplit(b")", 1)[1].split()
            uid = os.stat("/proc/" + entry.name).st_uid
            rows.append((int(entry.name), uid, int(stat[3]), int(stat[21]) * page, int(stat[1]), int(stat[17])))
        except (OSError, IndexError, ValueError):
            continue
    return rows


def descendants_or_session(table, root_pid: int) -> list:
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


def uid_process_count(uid: int) -> int:
    """Tasks (threads included: RLIMIT_NPROC counts threads) of uid."""
    return sum(row[5] for row in proc_table() if row[1] == uid)


def supervise(cmd: list, cwd: str, env: dict, preexec, read_fd: int, write_fd: int, job: dict, lim: Limits,
              uid: int | None, cgroups: list, process_limit_enforced: bool, keeper: bool = False,
              shared_nproc: int | None = None) -> RunResult:
    """Start cmd, feed it the job on stdin, collect stdout/stderr (capped) and the result channel,
    enforce the wall clock, output and aggregate limits, then kill everything that is left.

    keeper: cmd starts with a disposable parent shell (same uid and PID namespace as the grader),
    so a child that kills its parent ends only this run.
    shared_nproc: the RLIMIT_NPROC the submission shares with every process of the grader's uid
    (not root, no throwaway uid): reaching it means the submission's forks failed."""
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
    peak_uid = 0
    next_watch = start + 0.5

    def stop(status, reason):
        nonlocal killed_status, killed_reason
        if killed_status is None:
            killed_status, killed_reason = status, reason
        kill_all(proc, uid, cgroups)

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
                kill_all(proc, uid, cgroups)  # leftovers holding the pipes open
        if killed_status is None and exited_at is None and time.monotonic() >= next_watch:
            next_watch = time.monotonic() + (0.5 if process_limit_enforced else 0.1)
            verdict, count = _watchdog(proc, uid, cgroups, lim)
            peak = max(peak, count)
            if shared_nproc:
                me = os.getuid()
                peak_uid = max(peak_uid, uid_process_count(me))
            if verdict:
                stop(*verdict)

    kill_all(proc, uid, cgroups)
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
    parse_records(bytes(buffers["result"]), result)
    result.peak_processes = peak
    if peak >= lim.max_processes or (shared_nproc and peak_uid >= shared_nproc) or pids_limit_hit(cgroups):
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
    elif keeper and proc.returncode is not None and proc.returncode < 0:
        # Only the submission (same uid) can have killed its disposable parent: no result counts.
        result.status = "crashed"
        result.reason = ("提交结束了沙箱中它的父进程（信号 %d，例如 os.kill(os.getppid(), 9)），本次运行作废，"
                         "所有题目没有结果；评分程序不受影响" % -proc.returncode)
        result.calls.clear()
    elif not result.finished:
        rc = proc.returncode
        if rc in (-signal.SIGXCPU, 128 + signal.SIGXCPU) or cpu_used >= lim.cpu_seconds - 0.5:
            result.status = "cpu_limit"
            result.reason = "CPU 时间超过 %d 秒，进程已被终止" % lim.cpu_seconds
        elif rc in (-signal.SIGKILL, 128 + signal.SIGKILL) and cgroups and Cgroups.memory_hit(cgroups):
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


def make_preexec(lim: Limits, nproc: int, cgroups: list[Path], uid: int | None):
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


def kill_uid(uid: int) -> None:
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
        if not any(row[1] == uid for row in proc_table()):
            break


def kill_all(proc: subprocess.Popen, uid: int | None, cgroups: list[Path]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    for pid in Cgroups.members(cgroups):
        kill_pid(pid)
    if uid is None:
        # Processes that left the process group (bwrap's own session, or setsid).
        for row in descendants_or_session(proc_table(), proc.pid):
            kill_pid(row[0])


def _watchdog(proc, uid, cgroups, lim: Limits):
    """(verdict or None, process count): aggregate limits the kernel may not enforce."""
    table = proc_table()
    if uid is not None:
        mine = [row for row in table if row[1] == uid]
    else:
        mine = descendants_or_session(table, proc.pid)
    if len(cgroups) >= 2:  # pids and memory are enforced by the kernel
        return None, len(mine)
    if len(mine) > lim.max_processes + 4:
        return ("process_limit", "创建的进程过多（超过 %d 个），进程已被终止" % lim.max_processes), len(mine)
    if sum(row[3] for row in mine) > (lim.memory_mb << 20):
        return ("memory_limit", "内存超过 %d MB（所有子进程合计），进程已被终止" % lim.memory_mb), len(mine)
    return None, len(mine)


def parse_records(data: bytes, result: RunResult) -> None:
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
