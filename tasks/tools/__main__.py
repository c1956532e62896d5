"""Maintainers' tools: `python -m tasks.tools COMMAND` (bench, bench-peers, bench-step, sweep).

They measure the package (speed against its peers, a training step against the GEMM peak, recipes
against each other) and write under runs/; what is worth keeping is copied into benchmarks/ by hand.
The student's commands are `python -m tasks`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import tasks  # noqa: F401  (CPU settings before paddle)
from tasks.config import TASK_NAMES, RunConfig, add_arguments
from tasks.cpu import quiet_logs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tasks.tools", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="show Paddle's and PaddleNLP's own log lines")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sw = sub.add_parser("sweep", help="train a task's candidate recipes, record dev/test/minutes in "
                                      "runs/sweep/recipes.json and .md")
    sw.add_argument("--task", choices=TASK_NAMES, help="the task whose candidates to run")
    sw.add_argument("--candidates", help="comma-separated candidate names (default: all of the task's)")
    sw.add_argument("--runs", default=None, help="run folders (default runs/sweep)")
    sw.add_argument("--force", action="store_true", help="train again even when a run folder has results")
    sw.add_argument("--add", metavar="RUN_DIR", help="record a finished `train` run instead of training")
    sw.add_argument("--name", help="with --add: the candidate name to record it under")

    peers = sub.add_parser("bench-peers", help="wall time to a fixed dev accuracy: this engine vs PaddleNLP's "
                                               "reference loop vs HF transformers + torch (JSON)")
    peers.add_argument("--target", type=float, default=0.80, help="dev accuracy to reach (default 0.80)")
    peers.add_argument("--minutes", type=float, default=15.0, help="give up on a peer after this much training")
    peers.add_argument("--peers", default="engine,paddlenlp,hf-torch")
    peers.add_argument("--out", default="runs/bench/peers.json")

    step = sub.add_parser("bench-step", help="12-layer training step: tokens/s before/after the engine's CPU "
                                             "savings, share of the measured fp32 GEMM peak, operator profile (JSON)")
    step.add_argument("--model", default=RunConfig.model)
    step.add_argument("--out", default="runs/bench/step-profile.json")

    from tasks.tools.bench import BenchSpec

    bench = sub.add_parser("bench", help="training and inference throughput (eager vs exported), peak memory, "
                                         "retrieval latency, as JSON")
    add_arguments(bench, BenchSpec)
    bench.add_argument("--out", default=None, help="JSON file (default runs/bench/<task>.json)")
    bench.add_argument("--no-compare", action="store_true", help="skip the run with Paddle's default CPU settings")
    return parser


def cmd_sweep(args):
    from tasks.tools import sweep

    if args.add:
        row = sweep.add_run(Path(args.add), args.name)
        print(json.dumps({k: row[k] for k in ("task", "candidate", "minutes", "dev", "test")}, ensure_ascii=False))
    elif not args.task:
        from tasks.errors import TaskError

        raise TaskError("sweep: expected --task T (or --add RUN_DIR)")
    else:
        names = [n.strip() for n in args.candidates.split(",")] if args.candidates else None
        sweep.run_sweep(args.task, names, Path(args.runs) if args.runs else None, args.force)
    print(sweep.TABLE)


def cmd_bench_peers(args):
    from tasks.tools.peers import run

    result = run(Path(args.out), args.target, args.minutes, tuple(p.strip() for p in args.peers.split(",")))
    print(json.dumps({k: v for k, v in result.items() if k.startswith("speedup")}))
    print(args.out)


def cmd_bench_step(args):
    from tasks.tools.step_profile import run

    run(Path(args.out), args.model)
    print(args.out)


def cmd_bench(args):
    from tasks.tools.bench import run_bench

    run_bench(args)


COMMANDS = {"bench": cmd_bench, "bench-peers": cmd_bench_peers, "bench-step": cmd_bench_step, "sweep": cmd_sweep}


def main(argv=None) -> int:
    from tasks.errors import CourseError

    try:
        args = build_parser().parse_args(argv)
        quiet_logs(args.verbose)
        return COMMANDS[args.command](args) or 0
    except CourseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
