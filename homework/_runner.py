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
"""

import importlib.util
import json
import os
import signal
import sys
import time
import traceback


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


def _to_jsonable(value, depth=0):
    if depth > 20:
        raise TypeError("返回值嵌套过深")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_jsonable(v, depth + 1) for k, v in value.items()}
    tolist = getattr(value, "tolist", None)  # numpy arrays/scalars, paddle tensors
    if callable(tolist):
        return _to_jsonable(tolist(), depth + 1)
    numpy_fn = getattr(value, "numpy", None)
    if callable(numpy_fn):
        return _to_jsonable(numpy_fn(), depth + 1)
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
    max_value_bytes = int(job.get("max_value_bytes", 4_000_000))
    signal.signal(signal.SIGALRM, _on_alarm)

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
            signal.setitimer(signal.ITIMER_REAL, call_timeout)
            spec = importlib.util.spec_from_file_location("submission_" + name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            signal.setitimer(signal.ITIMER_REAL, 0)
            modules[name] = module
            record["ok"] = True
        except CallTimeout:
            record.update(ok=False, error="导入超时（超过 %g 秒）" % call_timeout, kind="timeout")
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
            # the timer also covers converting the return value (a huge value is slow to encode)
            signal.setitimer(signal.ITIMER_REAL, call_timeout)
            try:
                if not call.get("attr"):
                    value = target(**kwargs)
                value_json = json.dumps(_to_jsonable(value), allow_nan=True)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            if len(value_json) > max_value_bytes:
                raise ValueError("返回值过大（%d 字节）" % len(value_json))
            record.update(ok=True)
            record["time"] = round(time.monotonic() - t0, 4)
            emit(record, value_json)
            continue
        except CallTimeout:
            timed_out.add(key)
            record.update(ok=False, kind="timeout", error="运行超时（单次调用超过 %g 秒）" % call_timeout)
        except NotImplementedError as exc:
            record.update(ok=False, kind="not_implemented", error=_error_text(exc))
        except BaseException as exc:  # noqa: BLE001
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
