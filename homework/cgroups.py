"""Per-run cgroups (v1 or v2) for the pids and memory controllers, when the grader may create them (root).

``Cgroups.detect()`` finds writable hierarchies once; ``create`` makes one cgroup per
sandboxed run with ``pids.max`` and a memory limit covering all of the submission's
processes; ``remove`` kills what is left in it and removes it.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from pathlib import Path


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


class Cgroups:
    """Per-run cgroups for the pids and memory controllers that are writable."""

    _counter = 0
    _lock = threading.Lock()

    def __init__(self, roots: dict):
        self.roots = roots  # controller -> (directory to create children in, version)

    @property
    def controllers(self) -> list[str]:
        return sorted(self.roots)

    @classmethod
    def detect(cls) -> "Cgroups | None":
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
            Cgroups._counter += 1
            name = "homework-%d-%d" % (os.getpid(), Cgroups._counter)
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
                    for pid in Cgroups.members([path]):
                        _kill(pid)
                    time.sleep(0.02)


def pids_limit_hit(paths: list[Path]) -> bool:
    """Did a fork fail because of pids.max?"""
    for path in paths:
        try:
            text = (path / "pids.events").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "max" and value.strip() not in ("", "0"):
                return True
    return False
