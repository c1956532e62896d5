"""Outputs: text reports, grades.csv, per-student feedback, Gradescope results.json."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from .errors import HomeworkError
from .grading import BatchResult, StudentResult

GRADESCOPE_VISIBILITY = ("hidden", "after_due_date", "after_published", "visible")


def _num(x: float) -> str:
    return ("%.2f" % x).rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def student_report(res: StudentResult, *, verbose: bool = True) -> str:
    """Per-question points and feedback (Chinese), used by `check` and the feedback files."""
    lines = []
    for a in res.assignments:
        lines.append("=" * 64)
        lines.append("作业 %s：%s    得分 %s / %s" % (a.name, a.title, _num(a.score), _num(a.max_points)))
        if a.message:
            lines.append("!! " + a.message)
        lines.append("-" * 64)
        for n, q in enumerate(a.questions, 1):
            if q.skipped:
                mark = "—"
                head = "Q%d [  未评分  ] %s %s" % (n, q.title, mark)
            else:
                mark = "✓" if q.score >= q.max_points - 1e-9 else ("◐" if q.score > 0 else "✗")
                head = "Q%d [%5s/%-4s] %s %s" % (n, _num(q.score), _num(q.max_points), q.title, mark)
            lines.append(head)
            if verbose and (q.skipped or q.score < q.max_points - 1e-9):
                lines.extend("    " + line for line in q.feedback().splitlines())
    for note in res.notes:
        lines.append("注意: " + note)
    if res.run_status not in ("ok",) and res.run_reason and not any(a.message == res.run_reason
                                                                     for a in res.assignments):
        lines.append("运行状态: " + res.run_reason)
    if verbose and res.stdout.strip():
        lines.append("-" * 64)
        lines.append("你的程序的输出（前 %d 个字符）:" % min(len(res.stdout), 2000))
        lines.append(res.stdout[:2000])
    lines.append("=" * 64)
    lines.append("总分: %s / %s" % (_num(res.score), _num(res.max_points)))
    return "\n".join(lines)


def gradescope_results(res: StudentResult, *, visibility: str = "visible",
                       stdout_visibility: str = "hidden", extra: dict | None = None) -> dict:
    """One student's results in Gradescope's results.json format
    (https://gradescope-autograders.readthedocs.io/en/latest/specs/)."""
    tests = []
    for ai, a in enumerate(res.assignments, 1):
        for qi, q in enumerate(a.questions, 1):
            output = q.feedback()
            if a.message:
                output = a.message + "\n" + output
            tests.append({
                "name": "%s Q%d %s" % (a.name, qi, q.title),
                "number": "%d.%d" % (ai, qi),
                "score": round(q.score, 4),
                "max_score": q.max_points,
                "status": "passed" if q.score >= q.max_points - 1e-9 else "failed",
                "output": output,
                "output_format": "text",
                "tags": [a.name, q.qid],
                "visibility": visibility,
            })
    summary = "总分 %s / %s" % (_num(res.score), _num(res.max_points))
    if res.notes:
        summary += "\n" + "\n".join(res.notes)
    if res.run_status != "ok" and res.run_reason:
        summary += "\n运行状态: " + res.run_reason
    data = {
        "score": round(res.score, 4),
        "execution_time": round(res.seconds, 3),
        "output": summary,
        "output_format": "text",
        "test_output_format": "text",
        "test_name_format": "text",
        "visibility": visibility,
        "stdout_visibility": stdout_visibility,
        "tests": tests,
        "extra_data": dict({"student_id": res.student_id, "run_status": res.run_status, "status": res.status},
                           **(extra or {})),
    }
    return data


def question_columns(batch: BatchResult) -> list[str]:
    return ["%s/%s" % (a.name, q.qid) for a in batch.assignments for q in a.questions]


def prepare_out_dir(out: str | Path) -> Path:
    """Create the output folder (and its parents); ValueError with one line when that is impossible."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise HomeworkError("--out %s 是一个文件，不是目录：请给一个目录（不存在时会创建）" % out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / (".homework-write-test-%d" % os.getpid())
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise HomeworkError("无法写入输出目录 %s: %s" % (out, exc.strerror or exc)) from None
    return out


def write_outputs(batch: BatchResult, out: str | Path) -> dict:
    out = prepare_out_dir(out)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    (out / "gradescope").mkdir(parents=True, exist_ok=True)
    columns = question_columns(batch)
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student_id"] + columns + ["total", "max_total", "status"])
        for res in batch.students:
            scores = res.question_scores()
            writer.writerow([res.student_id] + [_num(scores.get(c, 0.0)) for c in columns]
                            + [_num(res.score), _num(res.max_points), res.status])
    for res in batch.students:
        header = "学号: %s\n" % res.student_id
        (out / "feedback" / (res.student_id + ".txt")).write_text(header + student_report(res) + "\n",
                                                                   encoding="utf-8")
        folder = out / "gradescope" / res.student_id
        folder.mkdir(exist_ok=True)
        data = gradescope_results(res, extra={"isolation": batch.isolation_name})
        (folder / "results.json").write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    summary = {
        "students": len(batch.students),
        "assignments": [a.name for a in batch.assignments],
        "max_total": batch.students[0].max_points if batch.students else 0,
        "seconds": round(batch.seconds, 2),
        "isolation": batch.isolation_name,
        "isolation_headline": batch.isolation_headline,
        "isolation_details": batch.isolation,
        "problems": batch.problems,
        "points": {"%s/%s" % k: v for k, v in batch.points.items()},
        "totals": {r.student_id: r.score for r in batch.students},
        "run_status": {r.student_id: r.run_status for r in batch.students if r.run_status != "ok"},
        "status": {r.student_id: r.status for r in batch.students if r.status != "ok"},
    }
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    return {"grades": out / "grades.csv", "feedback": out / "feedback", "gradescope": out / "gradescope",
            "summary": out / "summary.json"}
