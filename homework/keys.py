"""Answer keys of the multiple-choice questions.

They are the only stored answers in the package (computations get their truth
from the framework).  They live with the instructor: homework/instructor/keys.json
here, or the file named by HOMEWORK_KEYS.  Without the file, `check` still
validates the format of a multiple-choice answer but cannot score it.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

DEFAULT_KEYS = Path(__file__).resolve().parent / "instructor" / "keys.json"


@lru_cache(maxsize=4)
def _load(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def answer_key(assignment: str, qid: str):
    path = os.environ.get("HOMEWORK_KEYS") or str(DEFAULT_KEYS)
    value = _load(path).get(assignment, {}).get(qid)
    return value.strip().upper() if isinstance(value, str) else None
