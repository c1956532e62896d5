"""How a question is described: inputs it draws, truth it computes, how it judges.

A question never stores an answer.  It draws inputs (fixed public examples for
``check``, random ones seeded per student for ``grade``), asks the sandbox to
call the student's function on them, computes the expected value in the
grader's process (from paddle / PaddleNLP modules or by direct simulation) and
compares.  ``variants`` are the values known mistakes would produce; a wrong
answer that matches one gets that mistake's hint.

A question whose point is the structure (parameter counts, shapes) sets
``structure = True``: its calls carry a ``guard`` naming the question, and the
child runner refuses any use of the framework (paddle, PaddleNLP, ...) while
they run, so that building the layer and counting scores nothing.  The truth
still comes from the framework, here in the grader's process.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UnknownName
from .compare import EXACT, Tolerance, compare, fmt, matches

PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass
class Call:
    """One call of a student function with grader-chosen JSON arguments."""

    func: str
    kwargs: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)  # kwarg -> numpy dtype, converted in the child
    attr: bool = False  # read a module attribute (multiple choice) instead of calling
    guard: str = ""  # structure question: the child refuses the framework during this call (names the question)

    def to_job(self, call_id: int, module: str) -> dict:
        job = {"id": call_id, "module": module, "func": self.func, "kwargs": self.kwargs}
        if self.arrays:
            job["arrays"] = self.arrays
        if self.attr:
            job["attr"] = True
        if self.guard:
            job["guard"] = self.guard
        return job


@dataclass
class Outcome:
    """What one call produced, as seen by the grader."""

    ok: bool
    value: Any = None
    kind: str = "ok"  # ok | error | not_implemented | missing | timeout | no_result | import_error | refused | too_large
    error: str = ""
    traceback: str = ""

    def describe(self) -> str:
        if self.kind == "not_implemented":
            return "尚未实现（函数抛出了 NotImplementedError）"
        if self.kind == "missing":
            return self.error
        if self.kind == "error":
            return "运行出错: " + self.error
        return self.error or "没有结果"


@dataclass
class Case:
    calls: list
    label: str  # Chinese description of the input, shown in feedback
    data: Any = None  # grader-only data used for judging
    public: bool = False


@dataclass
class Check:
    """One graded unit: usually one case, or one statistic of a statistical test."""

    passed: bool
    label: str
    message: str = ""
    expected: str = ""
    got: str = ""
    hint: str = ""
    weight: float = 1.0
    is_input: bool = True  # label describes an input (False: names a statistic of a statistical test)


@dataclass
class QuestionResult:
    qid: str
    title: str
    max_points: float
    score: float
    checks: list
    skipped: str = ""  # why the question could not be graded here (e.g. no answer key)

    @property
    def passed(self) -> int:
        return sum(1 for c in self.checks if c.passed)

    @property
    def hints(self) -> list[str]:
        seen = []
        for c in self.checks:
            if not c.passed and c.hint and c.hint not in seen:
                seen.append(c.hint)
        return seen

    def feedback(self, max_failures: int = 3) -> str:
        """Chinese feedback a student can act on."""
        if self.skipped:
            problems = [c.message for c in self.checks if not c.passed and c.message]
            return "\n".join([self.skipped] + ["格式问题: " + m for m in dict.fromkeys(problems)])
        lines = ["通过 %d/%d 项检查" % (self.passed, len(self.checks))]
        failures = [c for c in self.checks if not c.passed]
        messages = {c.message for c in failures}
        if len(failures) > 1 and len(messages) == 1 and not any(c.expected or c.got or c.hint for c in failures):
            lines.append("✗ 全部 %d 项: %s" % (len(failures), failures[0].message))
            return "\n".join(lines)
        for c in failures[:max_failures]:
            lines.append(("✗ 输入 %s" if c.is_input else "✗ 检查「%s」") % c.label)
            if c.message:
                lines.append("    " + c.message)
            if c.expected:
                lines.append("    期望: %s" % c.expected)
            if c.got:
                lines.append("    你的: %s" % c.got)
        if len(failures) > max_failures:
            lines.append("……另有 %d 项未通过" % (len(failures) - max_failures))
        for hint in self.hints:
            lines.append("提示: " + hint)
        return "\n".join(lines)


# --------------------------------------------------------------------------
# Truth cache: framework truth is the expensive part, computed once per
# (question, input) within a process.
# --------------------------------------------------------------------------

_TRUTH_CACHE: dict = {}


def canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def cached_truth(key_prefix: str, kwargs: dict, compute):
    key = (key_prefix, canonical(kwargs))
    if key not in _TRUTH_CACHE:
        _TRUTH_CACHE[key] = compute()
    return _TRUTH_CACHE[key]


def clear_truth_cache() -> None:
    _TRUTH_CACHE.clear()


def seeded_rng(*parts) -> random.Random:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def np_rng(rng: random.Random):
    import numpy as np

    return np.random.default_rng(rng.getrandbits(64))


def rounded(array, digits: int = 6) -> list:
    """JSON-friendly list from a numpy array (rounded so inputs are exact in JSON)."""
    import numpy as np

    return np.round(np.asarray(array, dtype=float), digits).tolist()


# --------------------------------------------------------------------------
# Questions
# --------------------------------------------------------------------------


class Question:
    qid: str = ""
    title: str = ""
    points: float = 1.0
    kind: str = "computation"  # computation | statistical | choice
    cases_per_student: int = 4
    structure: bool = False  # the point is the structure: the framework is refused while the student's code runs

    @property
    def label(self) -> str:
        """How feedback names the question, e.g. Q2「LSTM 的参数量」."""
        return "%s「%s」" % (self.qid.partition("_")[0].upper(), self.title)

    def guard(self) -> str:
        return self.label if self.structure else ""

    def public_cases(self) -> list[Case]:
        return []

    def random_cases(self, rng: random.Random) -> list[Case]:
        raise NotImplementedError

    def prepare(self, case: Case) -> None:
        """Compute (and cache) the truth for a case; called before judging."""

    def judge(self, case: Case, outcomes: list[Outcome]) -> list[Check]:
        raise NotImplementedError

    def skip_reason(self) -> str:
        """Non-empty when this question cannot be graded on this machine."""
        return ""


class FunctionQuestion(Question):
    """One call per case; expected value from ``truth``; hints from ``variants``."""

    func: str = ""
    arrays: dict = {}
    tolerance: Tolerance = EXACT

    def case(self, public: bool = False, **kwargs) -> Case:
        return Case(calls=[Call(self.func, kwargs, dict(self.arrays), guard=self.guard())],
                    label=self.describe(kwargs), data=kwargs, public=public)

    def describe(self, kwargs: dict) -> str:
        shown = []
        for key, value in kwargs.items():
            shown.append("%s=%s" % (key, fmt(value, 60)))
        return "%s(%s)" % (self.func, ", ".join(shown))

    def truth(self, **kwargs):
        raise NotImplementedError

    def variants(self, **kwargs) -> list[tuple[str, Any]]:
        """[(hint, value the mistake would give)] for known mistakes."""
        return []

    def expected(self, kwargs: dict):
        return cached_truth(type(self).__module__ + "." + type(self).__name__, kwargs, lambda: self.truth(**kwargs))

    def prepare(self, case: Case) -> None:
        self.expected(case.data)

    def normalize(self, value, kwargs: dict):
        """Turn the student's raw value into the shape of the truth (override)."""
        return value

    def extra_checks(self, kwargs: dict, value) -> str:
        """Return a reason if a correct-looking value is still wrong (override)."""
        return ""

    def judge(self, case: Case, outcomes: list[Outcome]) -> list[Check]:
        outcome = outcomes[0]
        kwargs = case.data
        if not outcome.ok:
            return [Check(False, case.label, message=outcome.describe())]
        expected = self.expected(kwargs)
        try:
            value = self.normalize(outcome.value, kwargs)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            return [Check(False, case.label, message="返回值格式不对: %s" % exc, got=fmt(outcome.value))]
        try:
            ok, why = compare(expected, value, self.tolerance)
        except (ValueError, TypeError, OverflowError, RecursionError):
            ok, why = False, "返回值无法比较"
        if ok:
            why = self.extra_checks(kwargs, value)
            if not why:
                return [Check(True, case.label)]
        hint = ""
        try:
            for text, wrong in self.variants(**kwargs):
                if wrong is None:
                    continue
                if not matches(expected, wrong, self.tolerance) and matches(wrong, value, self.tolerance):
                    hint = text
                    break
        except Exception:  # noqa: BLE001 - a variant formula must never break grading
            hint = ""
        return [Check(False, case.label, message=why, expected=fmt(expected), got=fmt(value), hint=hint)]


class PartsQuestion(FunctionQuestion):
    """The answer is a breakdown {part name: shape} (e.g. one entry per parameter of a layer, named as
    the framework names it); the truth is the framework's own breakdown.  Every wrong, missing or
    extra part is reported on its own, and the first one decides the hint (``part_hint``)."""

    structure = True

    def part_hint(self, name: str, expected, got, kwargs: dict) -> str:
        """Hint for one wrong part: expected/got are shapes (lists), None when the part is missing/extra."""
        return ""

    def judge(self, case: Case, outcomes: list[Outcome]) -> list[Check]:
        outcome = outcomes[0]
        kwargs = case.data
        if not outcome.ok:
            return [Check(False, case.label, message=outcome.describe())]
        expected = self.expected(kwargs)
        value = outcome.value
        if not isinstance(value, dict):
            return [Check(False, case.label, message="应返回 dict：{参数名: 形状}，你返回的是 %s" % type(value).__name__,
                          expected=fmt(expected), got=fmt(value))]
        wrong = []  # (name, expected shape or None, your shape or None)
        for name, shape in expected.items():
            if name not in value:
                wrong.append((name, shape, None))
            elif not matches(shape, value[name], EXACT):
                wrong.append((name, shape, value[name]))
        wrong += [(name, None, value[name]) for name in value if name not in expected]
        if not wrong:
            return [Check(True, case.label)]

        def show(part):
            name, exp, got = part
            if got is None:
                return "缺少 %s（应为 %s）" % (name, fmt(exp, 40))
            if exp is None:
                return "多出了 %s（框架里没有这个参数）" % name
            return "%s 应为 %s，你的是 %s" % (name, fmt(exp, 40), fmt(got, 40))

        hint = ""
        for name, exp, got in wrong:
            try:
                hint = self.part_hint(name, exp, got, kwargs)
            except Exception:  # noqa: BLE001 - a hint rule must never break grading
                hint = ""
            if hint:
                break
        message = "%d 个部分不对：%s" % (len(wrong), "；".join(show(w) for w in wrong[:3]))
        if len(wrong) > 3:
            message += "；……"
        first = wrong[0]
        return [Check(False, case.label, message=message, hint=hint,
                      expected="%s = %s" % (first[0], fmt(first[1], 60)),
                      got="%s = %s" % (first[0], fmt(first[2], 60)))]


class ChoiceQuestion(Question):
    """Multiple choice: the key lives with the instructor (instructor/keys.json)."""

    kind = "choice"
    attr: str = ""
    options: dict = {}  # letter -> text (also printed in the template)
    explanations: dict = {}  # wrong letter -> hint
    assignment: str = ""

    def key(self):
        from .keys import answer_key

        return answer_key(self.assignment, self.qid)

    def skip_reason(self) -> str:
        if self.key() is None:
            return "选择题的答案由教师保管（本机没有 homework/instructor/keys.json），本地只检查了作答格式。"
        return ""

    def public_cases(self) -> list[Case]:
        return []  # nothing random to draw: the one case below is used by check and grade alike

    def random_cases(self, rng: random.Random) -> list[Case]:
        return [Case(calls=[Call(self.attr, attr=True)], label=self.attr)]

    def judge(self, case: Case, outcomes: list[Outcome]) -> list[Check]:
        outcome = outcomes[0]
        if not outcome.ok:
            return [Check(False, case.label, message=outcome.describe())]
        answer = outcome.value
        if answer is None:
            return [Check(False, case.label, message="尚未作答（%s 仍为 None）" % self.attr)]
        if not isinstance(answer, str) or answer.strip().upper() not in self.options:
            return [Check(False, case.label, message="答案应为 %s 之一" % "/".join(sorted(self.options)),
                          got=fmt(answer))]
        answer = answer.strip().upper()
        key = self.key()
        if key is None:
            return [Check(True, case.label)]
        if answer == key:
            return [Check(True, case.label)]
        return [Check(False, case.label, message="选择 %s 不正确" % answer, hint=self.explanations.get(answer, ""))]


@dataclass
class Assignment:
    name: str
    title: str
    questions: list

    @property
    def template(self) -> Path:
        return PACKAGE_DIR / "assignments" / (self.name + ".py")

    @property
    def solution(self) -> Path:
        return PACKAGE_DIR / "instructor" / "solutions" / (self.name + ".py")

    def question(self, qid: str) -> Question:
        for q in self.questions:
            if q.qid == qid:
                return q
        raise UnknownName("作业 %s 没有题目 %r；有: %s" % (self.name, qid, ", ".join(q.qid for q in self.questions)))

    @property
    def max_points(self) -> float:
        return sum(q.points for q in self.questions)
