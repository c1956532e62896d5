"""Comparison of a student's raw value with the grader's expected value.

Everything here runs in the grader's process on plain JSON data that came back
from the sandbox (numbers, strings, nested lists, dicts).  Values of any shape
or type may arrive (the submission is untrusted), so every function is total:
it returns (ok, reason) and never raises on odd input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    rtol: float = 0.0
    atol: float = 0.0
    exact_int: bool = False  # counts: must be an integer equal to the truth
    note: str = ""  # where the expected value comes from, if it is an estimate

    def describe(self) -> str:
        if self.exact_int:
            return "必须是精确的整数"
        parts = []
        if self.rtol:
            parts.append("相对误差 ≤ %g" % self.rtol)
        if self.atol:
            parts.append("绝对误差 ≤ %g" % self.atol)
        if self.note:
            parts.append(self.note)
        return "，".join(parts) or "必须完全相等"


EXACT = Tolerance(exact_int=True)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def compare(expected, actual, tol: Tolerance, path: str = "") -> tuple[bool, str]:
    """True if actual matches expected within tol; otherwise a Chinese reason."""
    where = ("%s: " % path) if path else ""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return False, "%s应返回 dict（键为 %s），你返回的是 %s" % (where, _keys(expected), _type_name(actual))
        missing = [k for k in expected if k not in actual]
        if missing:
            return False, "%s缺少键 %s" % (where, _keys(missing))
        for key in expected:
            ok, why = compare(expected[key], actual[key], tol, path=(path + "." if path else "") + str(key))
            if not ok:
                return False, why
        return True, ""
    if isinstance(expected, str):
        if not isinstance(actual, str):
            return False, "%s应返回字符串，你返回的是 %s" % (where, _type_name(actual))
        if actual.strip().lower() != expected.strip().lower():
            return False, "%s结果不对" % where
        return True, ""
    if expected is None:
        return (actual is None, "" if actual is None else "%s应为 None" % where)
    if isinstance(expected, bool):
        if actual is expected or (_is_number(actual) and actual == int(expected)):
            return True, ""
        return False, "%s结果不对" % where
    if _is_number(expected):
        if not _is_number(actual):
            if isinstance(actual, list) and len(actual) == 1 and _is_number(actual[0]):
                actual = actual[0]  # a one-element array is fine for a scalar
            else:
                return False, "%s应返回一个数，你返回的是 %s" % (where, _type_name(actual))
        if tol.exact_int:
            if isinstance(actual, float) and not (math.isfinite(actual) and actual.is_integer()):
                return False, "%s应为整数，你返回的是 %s" % (where, fmt(actual))
            if int(actual) != int(expected):
                return False, "%s数值不对" % where
            return True, ""
        if not math.isfinite(actual):
            return False, "%s结果是 %s" % (where, actual)
        if abs(actual - expected) <= tol.atol + tol.rtol * abs(expected):
            return True, ""
        return False, "%s数值不对（超出容差：%s）" % (where, tol.describe())
    if isinstance(expected, list):
        return _compare_arrays(expected, actual, tol, where)
    return False, "%s无法比较的期望值类型" % where


def _compare_arrays(expected, actual, tol: Tolerance, where: str) -> tuple[bool, str]:
    exp = np.asarray(expected, dtype=float)
    if not isinstance(actual, list):
        return False, "%s应返回形状为 %s 的数组，你返回的是 %s" % (where, _shape(exp.shape), _type_name(actual))
    try:
        act = np.asarray(actual, dtype=float)
    except (ValueError, TypeError, OverflowError):
        return False, "%s返回的不是规则的数值数组" % where
    if act.shape != exp.shape:
        return False, "%s形状应为 %s，你的是 %s" % (where, _shape(exp.shape), _shape(act.shape))
    if exp.size == 0:
        return True, ""
    if tol.exact_int:
        bad = act != exp
    else:
        with np.errstate(invalid="ignore"):
            bad = ~(np.abs(act - exp) <= tol.atol + tol.rtol * np.abs(exp))
    if not bad.any():
        return True, ""
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    count = int(bad.sum())
    return False, "%s有 %d/%d 个元素超出容差（%s），例如位置 %s：期望 %s，你的 %s" % (
        where, count, exp.size, tol.describe(), list(idx), fmt(float(exp[idx])), fmt(float(act[idx])))


def matches(expected, actual, tol: Tolerance) -> bool:
    try:
        return compare(expected, actual, tol)[0]
    except (ValueError, TypeError, OverflowError, RecursionError):
        return False


def _keys(keys) -> str:
    return "、".join(repr(k) for k in keys)


def _shape(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _type_name(x) -> str:
    if x is None:
        return "None"
    if isinstance(x, bool):
        return "bool"
    if isinstance(x, list):
        try:
            return "形状 %s 的数组/列表" % _shape(np.asarray(x, dtype=float).shape)
        except (ValueError, TypeError, OverflowError):
            return "list（长度 %d）" % len(x)
    return type(x).__name__


def fmt(value, limit: int = 160) -> str:
    """Short human-readable rendering for feedback."""
    if isinstance(value, bool) or value is None:
        text = str(value)
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = ("%.6g" % value) if math.isfinite(value) else str(value)
    elif isinstance(value, str):
        text = repr(value)
    elif isinstance(value, dict):
        text = "{" + ", ".join("%r: %s" % (k, fmt(v, 60)) for k, v in value.items()) + "}"
    elif isinstance(value, list):
        try:
            arr = np.asarray(value, dtype=float)
            if arr.ndim >= 1 and arr.size > 6:
                flat = ", ".join("%.4g" % v for v in arr.ravel()[:4])
                text = "形状 %s 的数组 [%s, ...]" % (_shape(arr.shape), flat)
            else:
                text = "[" + ", ".join(fmt(v, 40) for v in value) + "]"
        except (ValueError, TypeError, OverflowError):
            text = "[" + ", ".join(fmt(v, 40) for v in value[:6]) + (", ..." if len(value) > 6 else "") + "]"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
