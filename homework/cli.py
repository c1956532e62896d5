"""Command line: python -m homework {list,check,grade,bench,isolation}."""

from __future__ import annotations

import argparse
import json
import os
import sys

for _key, _value in {"MKL_DEBUG_CPU_TYPE": "5", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                     "GLOG_minloglevel": "2"}.items():
    os.environ.setdefault(_key, _value)  # before anything imports paddle

from tasks.errors import CourseError  # noqa: E402  (after the thread settings above)


def _limits(args):
    from .sandbox import Limits

    lim = Limits()
    if getattr(args, "timeout", None):
        lim.wall_seconds = float(args.timeout)
        lim.cpu_seconds = max(1, int(args.timeout * 0.8))
        lim.call_seconds = min(lim.call_seconds, float(args.timeout))
    if getattr(args, "call_timeout", None):
        lim.call_seconds = float(args.call_timeout)
    if getattr(args, "memory_mb", None):
        lim.memory_mb = int(args.memory_mb)
    return lim


def cmd_list(args) -> int:
    from .checks import ASSIGNMENTS

    for a in ASSIGNMENTS.values():
        print("%-18s %s（%s 分）" % (a.name, a.title, _fmt(a.max_points)))
        for q in a.questions:
            print("    %-24s %-4s %s" % (q.qid, _fmt(q.points), q.title))
    return 0


def _fmt(x):
    return str(int(x)) if x == int(x) else str(x)


def cmd_check(args) -> int:
    from .checks import get_assignment
    from .grading import check_file, load_points
    from .reports import student_report

    assignment = get_assignment(args.assignment)
    path = args.file or str(assignment.template)
    if not os.path.isfile(path):
        print("找不到文件: %s" % path, file=sys.stderr)
        return 2
    print("正在检查 %s（作业 %s）……" % (path, assignment.name), file=sys.stderr, flush=True)
    result, seed = check_file(assignment.name, path, seed=args.seed, limits=_limits(args), mode=args.sandbox,
                              points=load_points(args.points))
    if args.json:
        from .reports import gradescope_results

        print(json.dumps(gradescope_results(result), ensure_ascii=False, indent=2))
    else:
        print("文件: %s    随机种子: %d（用 --seed %d 可复现这次的随机输入）" % (path, seed, seed))
        print(student_report(result))
    return 0 if result.score >= result.max_points - 1e-9 else 1


def cmd_grade(args) -> int:
    from .grading import check_isolation, grade_batch, load_points, print_progress
    from .reports import prepare_out_dir, write_outputs
    from .sandbox import detect_isolation

    if not os.path.isdir(args.submissions):
        print("错误: 找不到提交目录: %s" % args.submissions, file=sys.stderr)
        return 2
    if args.require_isolation and (args.sandbox or os.environ.get("HOMEWORK_SANDBOX", "")).lower() == "nobwrap":
        print("错误: --require-isolation 与 --sandbox nobwrap（或 HOMEWORK_SANDBOX=nobwrap）矛盾", file=sys.stderr)
        return 2
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        print("错误: --out %s 是一个文件，不是目录：请给一个目录（不存在时会创建）" % args.out, file=sys.stderr)
        return 2
    points = load_points(args.points)
    iso = detect_isolation(args.sandbox)
    print(iso.headline(), flush=True)  # first line of every grading run
    if args.require_isolation:
        check_isolation(iso)
    prepare_out_dir(args.out)  # before grading: a bad --out fails in a second, not after the whole batch
    _warn_if_world_readable(args.submissions, iso)
    batch = grade_batch(args.submissions, assignments=args.assignment, points=points,
                        limits=_limits(args), jobs=args.jobs, salt=args.salt or os.environ.get("HOMEWORK_SALT", ""),
                        mode=args.sandbox, progress=None if args.quiet else print_progress,
                        require_isolation=args.require_isolation)
    paths = write_outputs(batch, args.out)
    print("隔离详情（%s）:" % batch.isolation_name)
    for line in batch.isolation:
        print("  - " + line)
    for problem in batch.problems:
        print("注意: " + problem)
    failed = {}
    for res in batch.students:
        if res.status != "ok":
            failed[res.status] = failed.get(res.status, 0) + 1
    print("评分完成: %d 名学生，用时 %.1f 秒%s" % (
        len(batch.students), batch.seconds,
        "；状态不是 ok 的: " + "，".join("%s × %d" % kv for kv in sorted(failed.items())) if failed else ""))
    print("成绩: %s\n反馈: %s\nGradescope: %s" % (paths["grades"], paths["feedback"], paths["gradescope"]))
    return 0


def _warn_if_world_readable(directory: str, iso) -> None:
    if iso.bwrap:
        return
    print("警告: 没有文件系统隔离，提交可读写评分用户能访问的文件；要拒绝这种情况请加 --require-isolation"
          "（`bash run.sh grade` 默认如此）。", file=sys.stderr)
    if os.stat(directory).st_mode & 0o005:
        print("警告: 没有 bubblewrap，且提交目录 %s 对其他用户可读：沙箱中的提交可能读到其他同学的文件。"
              "请 chmod 700 该目录或安装 bubblewrap。" % directory, file=sys.stderr)


def cmd_bench(args) -> int:
    from .bench import run_bench

    report = run_bench(students=args.students, jobs=args.jobs, out=args.out, keep=args.keep, mode=args.sandbox)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


def cmd_isolation(args) -> int:
    from .sandbox import detect_isolation

    iso = detect_isolation(args.sandbox)
    print(iso.headline())
    for line in iso.describe():
        print("  - " + line)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m homework", description="自带检查的课程作业")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="列出作业和题目").set_defaults(func=cmd_list)

    def sandbox_options(p):
        p.add_argument("--sandbox", choices=["auto", "bwrap", "nobwrap"], default=None,
                       help="隔离方式（默认 auto：有 bubblewrap 就用）")
        p.add_argument("--timeout", type=float, help="每份提交的墙钟时间上限（秒）")
        p.add_argument("--call-timeout", type=float, help="单次函数调用的时间上限（秒）")
        p.add_argument("--memory-mb", type=int, help="内存上限（MB）")
        p.add_argument("--points", help="分值配置 JSON，如 {\"attention\": {\"q1_sdpa\": 5}}")

    p = sub.add_parser("check", help="学生：检查自己的作业")
    p.add_argument("assignment")
    p.add_argument("--file", help="要检查的文件（默认 homework/assignments/<作业>.py）")
    p.add_argument("--seed", type=int, help="随机输入的种子（默认每次随机）")
    p.add_argument("--json", action="store_true", help="以 Gradescope results.json 格式输出")
    sandbox_options(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("grade", help="教师：批量评分")
    p.add_argument("submissions", help="提交目录：每个学生一个文件夹（<学号>/<作业>.py）或一个文件（<学号>.py）")
    p.add_argument("--out", required=True, help="输出目录")
    p.add_argument("--assignment", action="append", help="只评这些作业（可重复）；单文件提交时用来指定作业")
    p.add_argument("--jobs", type=int, help="并行的沙箱数（默认 CPU 核数）")
    p.add_argument("--salt", help="随机输入的课程密钥（也可用环境变量 HOMEWORK_SALT）")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--require-isolation", action="store_true",
                   help="没有文件系统隔离（可用的 bubblewrap）时拒绝评分（`bash run.sh grade` 默认加上）")
    sandbox_options(p)
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("bench", help="评分速度测试（生成模拟提交并计时）")
    p.add_argument("--students", type=int, default=100)
    p.add_argument("--jobs", type=int)
    p.add_argument("--out", help="把结果 JSON 也写到这个文件")
    p.add_argument("--keep", help="保留生成的提交和评分结果到该目录")
    p.add_argument("--sandbox", choices=["auto", "bwrap", "nobwrap"], default=None)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("isolation", help="显示本机能做到的隔离")
    p.add_argument("--sandbox", choices=["auto", "bwrap", "nobwrap"], default=None)
    p.set_defaults(func=cmd_isolation)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CourseError as exc:  # the one base of both command lines' user errors
        print("错误: %s" % exc, file=sys.stderr)
        return 2
