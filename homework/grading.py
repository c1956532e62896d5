"""Student `check` and instructor `grade`: plan inputs, run the sandbox, judge.

The flow for one student:

1. ``plan``: every question draws its cases (public examples plus random ones
   for `check`; random ones seeded by the student id for `grade`);
2. ``Sandbox.run``: one child process imports the student's files and calls
   the functions on those inputs, returning raw values;
3. ``judge``: in this process, each value is compared with the truth computed
   here from paddle / PaddleNLP (cached per question and input).

For a batch, step 2 runs in a thread pool (each thread waits on its own child
process) while the main thread computes the truth for all planned inputs.
"""

from __future__ import annotations

import ast
import json
import os
import random
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .errors import HomeworkError, NoIsolation
from .checks import ASSIGNMENTS, get_assignment
from .sandbox import Limits, RunResult, Sandbox
from .spec import Assignment, Case, Check, Outcome, QuestionResult, seeded_rng

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")


@dataclass
class Plan:
    assignment: Assignment
    file: Path | None  # None: not submitted
    questions: list  # [(question, [Case, ...])]


@dataclass
class AssignmentResult:
    name: str
    title: str
    questions: list  # [QuestionResult]
    status: str = "ok"  # ok | missing | syntax_error | import_error | <sandbox status>
    message: str = ""  # Chinese explanation when status != ok

    @property
    def score(self) -> float:
        return sum(q.score for q in self.questions)

    @property
    def max_points(self) -> float:
        return sum(q.max_points for q in self.questions if not q.skipped)


@dataclass
class StudentResult:
    student_id: str
    assignments: list  # [AssignmentResult]
    run_status: str = "ok"
    run_reason: str = ""
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    notes: list = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(a.score for a in self.assignments)

    @property
    def max_points(self) -> float:
        return sum(a.max_points for a in self.assignments)

    @property
    def status(self) -> str:
        """One word for grades.csv: the run's status, else what went wrong per assignment
        (syntax_error, import_error, missing; "assignment:status" when several were graded)."""
        if self.run_status != "ok":
            return self.run_status
        several = len(self.assignments) > 1
        problems = [("%s:%s" % (a.name, a.status)) if several else a.status
                    for a in self.assignments if a.status != "ok"]
        return ";".join(problems) or "ok"

    def question_scores(self) -> dict:
        return {"%s/%s" % (a.name, q.qid): q.score for a in self.assignments for q in a.questions}


# --------------------------------------------------------------------------
# Points
# --------------------------------------------------------------------------


def load_points(path: str | Path | None) -> dict:
    """{(assignment, qid): points} from JSON: {"attention": {"q1_sdpa": 5}} or {"attention/q1_sdpa": 5}."""
    if not path:
        return {}
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    out = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            for qid, pts in value.items():
                out[(key, qid)] = float(pts)
        else:
            name, _, qid = key.replace(".", "/").partition("/")
            out[(name, qid)] = float(value)
    for (name, qid), pts in out.items():
        get_assignment(name).question(qid)  # raises KeyError on typos
        if pts < 0:
            raise HomeworkError("分值不能为负: %s/%s" % (name, qid))
    return out


def points_of(assignment: Assignment, question, points: dict) -> float:
    return points.get((assignment.name, question.qid), float(question.points))


# --------------------------------------------------------------------------
# Planning and judging
# --------------------------------------------------------------------------


def plan(assignment: Assignment, file: Path | None, *, student_id: str | None = None, salt: str = "",
         seed: int | None = None, public: bool = False) -> Plan:
    """Cases for every question.

    grade: student_id given -> random cases seeded by (salt, student, assignment, question).
    check: public=True -> the public examples plus random draws from `seed`.
    """
    questions = []
    for q in assignment.questions:
        cases: list[Case] = []
        if public:
            cases += q.public_cases()
        if student_id is not None:
            cases += q.random_cases(seeded_rng(salt, student_id, assignment.name, q.qid))
        elif seed is not None:
            cases += q.random_cases(seeded_rng("check", seed, assignment.name, q.qid))
        questions.append((q, cases))
    return Plan(assignment=assignment, file=file, questions=questions)


def build_calls(plans: list[Plan]) -> tuple[list[dict], dict]:
    calls, index = [], {}
    for p in plans:
        if p.file is None:
            continue
        for qi, (_, cases) in enumerate(p.questions):
            for ci, case in enumerate(cases):
                for k, call in enumerate(case.calls):
                    call_id = len(calls)
                    calls.append(call.to_job(call_id, p.assignment.name))
                    index[(p.assignment.name, qi, ci, k)] = call_id
    return calls, index


def prepare_truth(plans: list[Plan]) -> None:
    for p in plans:
        for q, cases in p.questions:
            if q.skip_reason():
                continue
            for case in cases:
                try:
                    q.prepare(case)
                except Exception:  # noqa: BLE001 - reported per question by judge()
                    pass


def _outcome(record: dict | None, run: RunResult, import_record: dict | None, name: str) -> Outcome:
    if import_record is not None and not import_record.get("ok"):
        error = str(import_record.get("error", ""))
        kind = import_record.get("kind")
        what = "语法错误" if kind == "syntax" else ("导入超时" if kind == "timeout" else "导入时出错")
        return Outcome(False, kind="import_error", error="%s.py %s: %s" % (name, what, error))
    if isinstance(record, dict):
        if record.get("ok") is True:
            return Outcome(True, value=record.get("value"))
        return Outcome(False, kind=str(record.get("kind", "error")), error=str(record.get("error", ""))[:600],
                       traceback=str(record.get("traceback", ""))[:2000])
    if import_record is None and run.status == "ok":
        return Outcome(False, kind="no_result", error="%s.py 没有被导入" % name)
    return Outcome(False, kind="no_result", error=run.reason or "没有结果")


def judge(plans: list[Plan], run: RunResult | None, index: dict, points: dict,
          grading: bool = True) -> list[AssignmentResult]:
    results = []
    for p in plans:
        a = p.assignment
        qresults = []
        status, message = "ok", ""
        import_record = run.imports.get(a.name) if run else None
        if p.file is None:
            status, message = "missing", "没有提交 %s.py" % a.name
        elif import_record is not None and not import_record.get("ok"):
            status = "syntax_error" if import_record.get("kind") == "syntax" else "import_error"
            message = _outcome(None, run, import_record, a.name).error
        elif run is not None and run.status != "ok":
            status, message = run.status, run.reason
        for qi, (q, cases) in enumerate(p.questions):
            pts = points_of(a, q, points)
            skip = q.skip_reason()
            checks = []
            for ci, case in enumerate(cases):
                if p.file is None:
                    outcomes = [Outcome(False, kind="no_result", error=message)] * len(case.calls)
                else:
                    outcomes = [_outcome(run.calls.get(index[(a.name, qi, ci, k)]), run, import_record, a.name)
                                for k in range(len(case.calls))]
                if skip and grading:
                    checks.append(Check(False, case.label, message=skip))
                    continue
                try:
                    checks.extend(q.judge(case, outcomes))
                except Exception as exc:  # noqa: BLE001 - a checker bug must not stop the batch
                    checks.append(Check(False, case.label, message="评分程序内部错误（请联系教师）: %r" % exc))
            if skip and not grading:  # e.g. no answer key here: only the format was checked
                qresults.append(QuestionResult(q.qid, q.title, pts, 0.0, checks, skipped=skip))
                continue
            total = sum(c.weight for c in checks) or 1.0
            score = pts * sum(c.weight for c in checks if c.passed) / total
            qresults.append(QuestionResult(q.qid, q.title, pts, round(score, 4), checks))
        results.append(AssignmentResult(a.name, a.title, qresults, status, message))
    return results


def run_plans(student_id: str, plans: list[Plan], sandbox: Sandbox,
              support_dir: Path | None = None) -> tuple[RunResult | None, dict]:
    calls, index = build_calls(plans)
    modules = [(p.assignment.name, p.file) for p in plans if p.file is not None]
    if not modules:
        return None, index
    return sandbox.run(modules, calls, support_dir=support_dir), index


def _student_result(student_id: str, plans, run, index, points, seconds, grading=True) -> StudentResult:
    assignments = judge(plans, run, index, points, grading=grading)
    res = StudentResult(student_id, assignments, seconds=seconds)
    if run is not None:
        res.run_status, res.run_reason = run.status, run.reason
        res.stdout, res.stderr = run.stdout, run.stderr
        res.notes.extend(run.notes)
    return res


# --------------------------------------------------------------------------
# Student side: check one file
# --------------------------------------------------------------------------


def check_file(name: str, file: str | Path | None = None, *, seed: int | None = None,
               limits: Limits | None = None, mode: str | None = None, public: bool = True,
               points: dict | None = None, python: str | None = None) -> tuple[StudentResult, int]:
    """Run the checks of one assignment on a student's file; returns (result, seed used)."""
    assignment = get_assignment(name)
    path = Path(file) if file else assignment.template
    if seed is None:
        seed = random.SystemRandom().randrange(1, 10 ** 6)
    p = plan(assignment, path, seed=seed, public=public)
    sandbox = Sandbox(limits or Limits(), mode=mode, python=python)
    start = time.monotonic()
    run, index = run_plans("check", [p], sandbox, support_dir=path.parent)
    prepare_truth([p])
    result = _student_result("check", [p], run, index, points or {}, time.monotonic() - start, grading=False)
    return result, seed


# --------------------------------------------------------------------------
# Instructor side: a directory of submissions
# --------------------------------------------------------------------------


@dataclass
class Submission:
    student_id: str
    files: dict  # assignment -> Path
    notes: list = field(default_factory=list)
    folder: Path | None = None  # the student's own folder (None for a single-file submission)


def declared_assignment(path: Path) -> str | None:
    """Read a top-level `ASSIGNMENT = "name"` without executing the file."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        # a file with a syntax error still names its assignment: grade it (as a syntax error)
        match = re.search(r"^ASSIGNMENT\s*=\s*[\"']([A-Za-z_][A-Za-z0-9_]*)[\"']\s*(?:#.*)?$", text, re.M)
        return match.group(1) if match and match.group(1) in ASSIGNMENTS else None
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                and node.targets[0].id == "ASSIGNMENT" and isinstance(node.value, ast.Constant) \
                and isinstance(node.value.value, str) and node.value.value in ASSIGNMENTS:
            return node.value.value
    return None


def discover(directory: str | Path, assignments: list[str] | None = None) -> tuple[list[Submission], list[str]]:
    """Find submissions: a folder per student (files named <assignment>.py) or a file per student."""
    directory = Path(directory)
    wanted = assignments or list(ASSIGNMENTS)
    subs, problems = [], []
    for entry in sorted(directory.iterdir(), key=lambda e: e.name):
        if entry.name.startswith((".", "_")):
            continue
        sid = entry.name if entry.is_dir() else entry.stem
        if entry.is_symlink():
            problems.append("跳过符号链接 %s" % entry.name)
            continue
        if not STUDENT_ID.match(sid):
            problems.append("跳过 %s：学号只能包含字母、数字和 _.@+-" % entry.name)
            continue
        if entry.is_dir():
            files = {}
            for name in wanted:
                f = entry / (name + ".py")
                if f.is_file() and not f.is_symlink():
                    files[name] = f
            subs.append(Submission(sid, files, folder=entry))
        elif entry.is_file() and entry.suffix == ".py":
            name = declared_assignment(entry)
            if name is None and len(wanted) == 1:
                name = wanted[0]
            if name is None or name not in wanted:
                problems.append("%s：无法确定作业名（文件中没有 ASSIGNMENT = \"...\"，可用 --assignment 指定）" % entry.name)
                subs.append(Submission(sid, {}, notes=["无法确定提交的是哪一次作业"]))
                continue
            subs.append(Submission(sid, {name: entry}))
    seen = {}
    for s in subs:
        if s.student_id in seen:
            problems.append("学号 %s 出现了多次（文件和文件夹同名？），只评第一个" % s.student_id)
        seen.setdefault(s.student_id, s)
    return list(seen.values()), problems


@dataclass
class BatchResult:
    students: list  # [StudentResult]
    assignments: list  # [Assignment]
    points: dict
    seconds: float
    isolation: list  # description lines
    isolation_name: str
    problems: list
    isolation_headline: str = ""


def grade_batch(directory: str | Path, *, assignments: list[str] | None = None, points: dict | None = None,
                limits: Limits | None = None, jobs: int | None = None, salt: str = "", mode: str | None = None,
                progress=None, python: str | None = None, require_isolation: bool = False) -> BatchResult:
    """Grade every submission under directory.

    python: the interpreter that runs submissions (default: this one); require_isolation: refuse
    (RuntimeError) unless submissions get their own view of the file system (bubblewrap)."""
    start = time.monotonic()
    sandbox = Sandbox(limits or Limits(), mode=mode, python=python)
    if require_isolation:
        check_isolation(sandbox.isolation)
    points = points or {}
    subs, problems = discover(directory, assignments)
    if assignments:
        graded = [get_assignment(n) for n in assignments]
    else:
        present = {n for s in subs for n in s.files}
        graded = [a for n, a in ASSIGNMENTS.items() if n in present]
    for a in graded:
        for q in a.questions:
            reason = q.skip_reason()
            if reason:
                raise HomeworkError("无法评分 %s/%s: %s" % (a.name, q.qid, reason))
    jobs = max(1, jobs or os.cpu_count() or 1)
    plans = {s.student_id: [plan(a, s.files.get(a.name), student_id=s.student_id, salt=salt) for a in graded]
             for s in subs}

    def work(sub):
        t0 = time.monotonic()
        run, index = run_plans(sub.student_id, plans[sub.student_id], sandbox, support_dir=sub.folder)
        return run, index, time.monotonic() - t0

    results = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(work, s) for s in subs]
        for s in subs:  # truth for everyone, while the children run
            prepare_truth(plans[s.student_id])
        for n, (s, fut) in enumerate(zip(subs, futures), 1):
            run, index, seconds = fut.result()
            res = _student_result(s.student_id, plans[s.student_id], run, index, points, seconds)
            res.notes.extend(s.notes)
            results.append(res)
            if progress:
                progress(n, len(subs), res)
    iso = sandbox.isolation
    return BatchResult(results, graded, points, time.monotonic() - start, iso.describe(), iso.name, problems,
                       iso.headline())


def check_isolation(iso) -> None:
    """--require-isolation: RuntimeError (one line, what to do) unless the file system is isolated."""
    if not iso.filesystem:
        from .isolation import INSTALL_BWRAP

        raise NoIsolation("要求文件系统隔离（--require-isolation），但本机没有: %s。%s；"
                           "或者明确地不隔离评分: 去掉 --require-isolation 并加 --sandbox nobwrap"
                           % (iso.no_bwrap_reason or "未使用 bubblewrap", INSTALL_BWRAP))


def print_progress(n: int, total: int, res: StudentResult) -> None:
    extra = "" if res.status == "ok" else "  [%s]" % res.status
    print("[%d/%d] %s %.1f/%.1f%s" % (n, total, res.student_id, res.score, res.max_points, extra),
          file=sys.stderr, flush=True)
