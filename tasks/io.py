"""Files written so that a crash leaves the old version or the new one, never half of one.

Every atomic write of the package goes through here, and so does every sha256.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

REPO_ROOT = Path(__file__).resolve().parent.parent  # the checkout: data/, runs/, benchmarks/


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temp path beside ``path`` for any writer (savefig, paddle.save); moved into place on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


@contextmanager
def atomic_write(path: str | os.PathLike, encoding: str = "utf-8") -> Iterator:
    """An open text file beside ``path``; flushed, synced and renamed over it on success."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding=encoding, newline="\n") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_write(path) as out:
        out.write(text)
    return Path(path)


def write_json(path: str | os.PathLike, data) -> Path:
    return write_text(path, json.dumps(data, ensure_ascii=False, indent=2, default=float) + "\n")


def old_dir(target: Path) -> Path:
    return target.with_name(target.name + ".old")


def replace_dir(new: Path, target: Path) -> None:
    """Swap a fully written directory into place; a crash leaves ``target`` or ``target.old``."""
    new, target = Path(new), Path(target)
    old = old_dir(target)
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def existing_dir(target: Path) -> Path:
    """``target``, or its ``.old`` copy when a crash came between the two renames of replace_dir."""
    target = Path(target)
    if not target.exists() and old_dir(target).is_dir():
        return old_dir(target)
    return target


@contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """A fresh temp directory beside ``target``; swapped into place when the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        replace_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hash_key(*parts) -> str:
    """A stable sort / split key of some values (the data builders order and split by it, not by a PRNG)."""
    return sha256_text("\x1f".join(str(p) for p in parts))
