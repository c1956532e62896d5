"""Child-side runner: executed inside the sandbox, one process per submission.

It is deliberately standalone (standard library only; numpy is imported only
when a call needs array arguments) so that it never imports the grader, the
checks or paddle.  It

1. reads the job (JSON) from stdin: which student modules to import and which
   functions to call with which grader-chosen arguments;
2. imports each student module, then calls the functions one by one, each under
   a per-call timer;
3. writes one JSON record per event to the result file descriptor given on the
   command line (never to stdout, which belongs to the student and is capped).

Nothing here decides whether an answer is right: the raw return values go back
to the grader, which compares them against truth computed in its own process.
A submission can tamper with this process as much as it likes; the worst it can
do is send wrong values, which the grader then marks wrong.

Structure questions (parameter counts, shapes) come with a ``guard`` naming the
question: while such a call runs, importing a framework that builds the layers
(paddle, PaddleNLP, the grader's own package, ...) is refused by a meta-path
hook installed before the student's module is imported, and running code from
one that the module imported earlier is caught by a profile hook.  The call is
then reported as ``refused`` with the question and the module, whatever it
returns.  This keeps honest students honest (the point of those questions is
to work the structure out); it is not a security boundary.
"""

import importlib.util
import json
import os
import resource
import signal
import sys
import time
import traceback


# Top-level packages a structure question may not use: frameworks that build the layers it asks about,
# and the grader's own package (its checks hold the formulas).  The course's `tasks` package needs no
# entry: everything in it that builds a layer runs paddle code, which is caught anyway.
REFUSED = frozenset(["paddle", "paddlenlp", "paddlex", "paddle_bfloat", "homework", "torch", "tensorflow",
                     "keras", "jax", "flax", "transformers", "mindspore", "oneflow"])


IMPORT_TIMEOUT_FLOOR = 5.0  # seconds


class RefusedImport(ImportError):
    """Raised when a structure question's call imports or runs a refused framework."""


class _Guard:
    """The structure question whose call is running (None outside such calls) and what it touched."""

    question = None
    ran = None  # a refused module whose code the call ran: the call is refused whatever it returns
    blocked = None  # a refused import: the call is refused if it then fails (a caught ImportError is fine)


def _reset_guard(question=None):
    _Guard.question, _Guard.ran, _Guard.blocked = question, None, None


def _refusal_error(module_name):
    return RefusedImport("%s 考的是结构，不能使用 %s" % (_Guard.question, module_name.partition(".")[0]))


class _RefuseFinder:
    """Meta-path hook: while a guarded call runs, importing a refused package fails."""

    def find_spec(self, name, path=None, target=None):
        if _Guard.question is not None and _refused_name(name):
            if _Guard.blocked is None:
                _Guard.blocked = name
            raise _refusal_error(name)
        return None


def _refused_name(name):
    return isinstance(name, str) and name.partition(".")[0] in REFUSED


def _profile(frame, event, arg):
    """While a guarded call runs: running Python code of a refused package (imported before the
    call, e.g. at the top of the file) or calling one of its C functions counts as using it."""
    if event == "call":
        name = frame.f_globals.get("__name__")
    elif event == "c_call":
        name = getattr(arg, "__module__", None)
    else:
        return
    if _refused_name(name):
        if _Guard.ran is None:
            _Guard.ran = name
        raise _refusal_error(name)  # CPython switches the profile off after this; _Guard.ran stays set


def _refusal_text(question, module_name):
    top = module_name.partition(".")[0]
    shown = top if module_name == top else "%s（%s）" % (top, module_name)
    return ("%s要你自己根据结构推导：这道题的函数运行时不能导入或调用 %s 等会构造这些层的框架，"
            "检测到它用了 %s。" % (question, top, shown))


class ValueTooLarge(Exception):
    """The return value would not fit in max_value_bytes once encoded as JSON."""


class CallTimeout(BaseException):
    """Raised by the per-call timer (a BaseException so `except Exception` in
    student code cannot swallow it)."""


def _on_alarm(signum, frame):
    raise CallTimeout()


def _short_traceback(exc, path_hint):
    """Traceback limited to frames in the student's files (no grader paths)."""
    try:
        return _format_traceback(exc, path_hint)
    except BaseException:  # noqa: BLE001
        return ""


def _format_traceback(exc, path_hint):
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if path_hint and f.filename.startswith(path_hint)]
    lines = traceback.format_list(mine[-4:]) if mine else []
    lines += traceback.format_exception_only(type(exc), exc)
    text = "".join(lines)
    return text[-2000:]


def _error_text(exc):
    if isinstance(exc, SystemExit):
        return "SystemExit: 调用了 sys.exit(%r)" % (exc.code,)
    if isinstance(exc, MemoryError):
        return "MemoryError: 内存超过上限"
    try:
        msg = str(exc)
    except BaseException:  # noqa: BLE001 - a hostile __str__
        msg = "<无法显示的异常信息>"
    if len(msg) > 500:
        msg = msg[:500] + "..."
    return "%s: %s" % (type(exc).__name__, msg) if msg else type(exc).__name__


class _Budget:
    """A lower bound on the JSON size of what has been converted so far, so that a huge value is
    refused early: a 50-million-element list after one len(), not element by element."""

    def __init__(self, limit):
        self.limit = limit
        self.used = 0

    def check(self, nbytes):
        if self.used + nbytes > self.limit:
            raise ValueTooLarge()

    def take(self, nbytes):
        self.check(nbytes)
        self.used += nbytes


def _to_jsonable(value, depth=0, budget=None):
    if depth > 20:
        raise TypeError("返回值嵌套过深")
    if budget is None:
        budget = _Budget(float("inf"))
    if value is None or isinstance(value, (bool, int, float)):
        budget.take(1)
        return value
    if isinstance(value, str):
        budget.take(len(value) + 2)
        return value
    if isinstance(value, (list, tuple)):
        budget.take(2 * len(value))  # brackets and ", " separators
        budget.check(len(value))  # and at least one character per element
        return [_to_jsonable(v, depth + 1, budget) for v in value]
    if isinstance(value, dict):
        budget.take(6 * len(value))  # quotes, ": " and ", " around every entry
        out = {}
        for k, v in value.items():
            key = str(k)
            budget.take(len(key))
            out[key] = _to_jsonable(v, depth + 1, budget)
        return out
    size = getattr(value, "size", None)  # numpy arrays, paddle tensors: refuse before tolist()
    if isinstance(size, int) and not isinstance(size, bool):
        budget.check(3 * size)
    tolist = getattr(value, "tolist", None)  # numpy arrays/scalars, paddle tensors
    if callable(tolist):
        return _to_jsonable(tolist(), depth + 1, budget)
    numpy_fn = getattr(value, "numpy", None)
    if callable(numpy_fn):
        return _to_jsonable(numpy_fn(), depth + 1, budget)
    raise TypeError("无法识别的返回值类型 %s" % type(value).__name__)


def _convert_args(kwargs, arrays):
    if not arrays:
        return dict(kwargs)
    import numpy as np  # only when the question passes arrays

    out = dict(kwargs)
    for name, dtype in arrays.items():
        if out.get(name) is not None:
            out[name] = np.asarray(out[name], dtype=dtype)
    return out


def _drop_privileges(uid):
    """Become the throwaway sandbox uid before any student code runs.

    Used when the grader is root and bubblewrap runs privileged (the interpreter
    may live in a directory only root can reach, so the uid change has to
    happen after the interpreter started).  Refuses to continue if it fails.
    """
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid or os.getgid() != uid:
        raise SystemExit("sandbox: could not drop privileges")


def _memory_note() -> str:
    """Why an import timed out, when it was filling memory: on a slow machine, zeroing gigabytes of
    pages can take longer than the import timeout, before the memory limit stops the module."""
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10  # Linux: kilobytes
    if limit == resource.RLIM_INFINITY or peak < limit // 2:
        return ""
    return "；此时已占用内存 %d MB（上限 %d MB）：模块在导入时大量分配内存" % (peak >> 20, limit >> 20)


def main():
    result_fd = int(sys.argv[1])
    if len(sys.argv) > 2 and sys.argv[2] == "--drop-uid":
        _drop_privileges(int(sys.argv[3]))
    started = time.monotonic()

    def emit(record, value_json=None):
        text = json.dumps(record, allow_nan=True)
        if value_json is not None:  # splice the already-encoded value in (avoids encoding it twice)
            text = text[:-1] + ', "value": ' + value_json + "}"
        data = (text + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            written = os.write(result_fd, view)
            view = view[written:]

    job = json.loads(sys.stdin.read())
    sys.stdin.close()
    call_timeout = float(job.get("call_timeout", 10))
    # An import may legitimately pull in numpy (a second or more on a loaded machine), and a module that
    # exhausts its memory must be reported as that, not as a slow import: imports get a floor.
    import_timeout = max(call_timeout, IMPORT_TIMEOUT_FLOOR)
    max_value_bytes = int(job.get("max_value_bytes", 4_000_000))
    signal.signal(signal.SIGALRM, _on_alarm)
    if any(call.get("guard") for call in job["calls"]):
        sys.meta_path.insert(0, _RefuseFinder())  # before any student code is imported

    modules = {}
    folders = {}
    for spec_info in job["modules"]:
        name, path = spec_info["name"], spec_info["path"]
        folder = folders[name] = os.path.dirname(path)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        t0 = time.monotonic()
        record = {"event": "import", "module": name}
        try:
            signal.setitimer(signal.ITIMER_REAL, import_timeout)
            spec = importlib.util.spec_from_file_location("submission_" + name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            signal.setitimer(signal.ITIMER_REAL, 0)
            modules[name] = module
            record["ok"] = True
        except CallTimeout:
            record.update(ok=False, error="导入超时（超过 %g 秒）" % import_timeout + _memory_note(), kind="timeout")
        except BaseException as exc:  # noqa: BLE001 - anything the student raises
            signal.setitimer(signal.ITIMER_REAL, 0)
            record.update(ok=False, error=_error_text(exc), traceback=_short_traceback(exc, folder),
                          kind="syntax" if isinstance(exc, SyntaxError) else "error")
        record["time"] = round(time.monotonic() - t0, 4)
        emit(record)

    timed_out = set()
    for call in job["calls"]:
        module = modules.get(call["module"])
        if module is None:
            continue  # the grader knows the import failed
        record = {"event": "call", "id": call["id"]}
        _reset_guard()
        key = (call["module"], call["func"])
        if key in timed_out:
            record.update(ok=False, kind="timeout", error="已跳过：%s 在前一次调用中超时" % call["func"])
            emit(record)
            continue
        t0 = time.monotonic()
        try:
            target = getattr(module, call["func"], None)
            if call.get("attr"):
                value = target
            elif target is None:
                record.update(ok=False, kind="missing", error="没有找到函数 %s" % call["func"])
                emit(record)
                continue
            elif not callable(target):
                record.update(ok=False, kind="missing", error="%s 不是函数" % call["func"])
                emit(record)
                continue
            else:
                kwargs = _convert_args(call.get("kwargs", {}), call.get("arrays"))
            guard = call.get("guard")
            # the timer also covers converting the return value (a huge value is slow to encode)
            signal.setitimer(signal.ITIMER_REAL, call_timeout)
            try:
                if guard:
                    _reset_guard(str(guard))
                    sys.setprofile(_profile)
                try:
                    if not call.get("attr"):
                        value = target(**kwargs)
                    value_json = json.dumps(_to_jsonable(value, budget=_Budget(max_value_bytes)), allow_nan=True)
                finally:
                    if guard:
                        sys.setprofile(None)
                        _Guard.question = None  # keeps what the call used
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            if guard and _Guard.ran is not None:
                raise _refusal_error(_Guard.ran)
            if len(value_json) > max_value_bytes:
                raise ValueTooLarge()
            record.update(ok=True)
            record["time"] = round(time.monotonic() - t0, 4)
            emit(record, value_json)
            continue
        except BaseException as exc:  # noqa: BLE001 - anything the student raises
            used = (_Guard.ran or _Guard.blocked) if call.get("guard") else None
            if isinstance(exc, CallTimeout):
                timed_out.add(key)
            if used:  # whatever the student's code then did with the refusal
                record.update(ok=False, kind="refused", error=_refusal_text(call["guard"], used))
            elif isinstance(exc, CallTimeout):
                record.update(ok=False, kind="timeout", error="运行超时（单次调用超过 %g 秒）" % call_timeout)
            elif isinstance(exc, ValueTooLarge):
                record.update(ok=False, kind="too_large",
                              error="返回值过大：编码成 JSON 超过 %d 字节（%.1f MB）的上限" % (
                                  max_value_bytes, max_value_bytes / 1e6))
            elif isinstance(exc, NotImplementedError):
                record.update(ok=False, kind="not_implemented", error=_error_text(exc))
            else:
                record.update(ok=False, kind="error", error=_error_text(exc),
                              traceback=_short_traceback(exc, folders[call["module"]]))
        record["time"] = round(time.monotonic() - t0, 4)
        emit(record)

    emit({"event": "done", "time": round(time.monotonic() - started, 4)})
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip atexit handlers the submission may have registered


if __name__ == "__main__":
    main()
