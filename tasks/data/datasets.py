"""Datasets for the three supervised tasks: one in-memory format, three kinds of source.

Uniform examples (one token per character for NER):
  classification  {"text": str, "label": str}
  matching        {"text_a": str, "text_b": str, "label": str}
  ner             {"tokens": list[str], "labels": list[str]}

``load_examples(task, source, split)`` reads them from
  * ``"offline"``: the files ``python -m tasks data build`` writes under data/
    (see tasks/data/build.py and data/manifest.json),
  * a PaddleNLP dataset name (``chnsenticorp``, ``lcqmc``, ``msra_ner``): downloaded
    by PaddleNLP when online; offline it fails within seconds with a clear message,
  * a local file, or a directory holding ``train/dev/test`` files, in the usual formats:
      classification  ``label<TAB>text_a`` (header ``label\ttext_a`` optional), or
                      ChnSentiCorp dev/test style with a header such as ``qid\tlabel\ttext_a``
      matching        ``text_a<TAB>text_b<TAB>label`` (LCQMC; a header line is optional)
      ner             CoNLL, one ``char<space or TAB>tag`` per line (BIO), blank line
                      between sentences.

Bad input (missing/unreadable file, non-UTF-8 bytes, wrong column count, empty text,
a label or tag outside the label set) raises ``DataError`` naming file and line.
Repairable oddities (an I- tag after O, a duplicate row, a blank line in a TSV) are
repaired, counted and logged once per kind with the first file:line.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path
from typing import Iterable, Sequence

from tasks.errors import DataError, OfflineError  # noqa: F401  (re-exported)
from tasks.models.hub import DOWNLOAD_HOSTS, OFFLINE_ENV, hosts_reachable, offline_requested, paddlenlp_home
from tasks.io import REPO_ROOT, atomic_write

log = logging.getLogger(__name__)


TASKS = ("classification", "matching", "ner")
TASK_ALIASES = {
    "classification": "classification", "cls": "classification", "sentiment": "classification",
    "text_classification": "classification", "seq_cls": "classification",
    "matching": "matching", "text_matching": "matching", "similarity": "matching", "pair": "matching",
    "ner": "ner", "token_classification": "ner", "tagging": "ner", "token_cls": "ner",
}
SPLITS = ("train", "dev", "test")
NER_TYPES = ("PER", "LOC", "ORG")
NER_LABELS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG")
MATCHING_LABELS = ("0", "1")
ANY = "any"  # pass labels=ANY to accept any well-formed label / BIO tag

# Offline data written by tasks/data/build.py, relative to the repository root.
DATA_DIR = "data"
OFFLINE_DIRS = {"classification": "sentiment", "matching": "matching_derived", "ner": "ner"}
WORD_ORDER_DIR = "matching_word_order"  # a second matching set (tasks/data/word_order.py): --data data/matching_word_order
OFFLINE_EXT = {"classification": ".tsv", "matching": ".tsv", "ner": ".txt"}

FORMATS = {
    "classification": "label<TAB>text_a rows (optional header 'label\\ttext_a' or 'qid\\tlabel\\ttext_a')",
    "matching": "text_a<TAB>text_b<TAB>label rows (LCQMC; optional header)",
    "ner": "CoNLL: one 'char<space or TAB>tag' per line (BIO), blank line between sentences",
}


# ----------------------------------------------------------------------------- errors


class Repairs:
    """Counts of repaired/dropped oddities, with the first place each kind was seen."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.first: dict[str, str] = {}

    def add(self, kind: str, path: str | os.PathLike | None = None, line: int | None = None, n: int = 1) -> None:
        if n <= 0:
            return
        self.counts[kind] = self.counts.get(kind, 0) + n
        if kind not in self.first:
            self.first[kind] = f"{path}:{line}" if line is not None else str(path)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def as_dict(self) -> dict:
        return {k: {"count": self.counts[k], "first": self.first[k]} for k in sorted(self.counts)}

    def report(self, logger: logging.Logger = log) -> None:
        """One warning line per kind: count and first file:line."""
        for kind in sorted(self.counts):
            logger.warning("%s: %d (first at %s)", kind, self.counts[kind], self.first[kind])


# ----------------------------------------------------------------------------- files


def read_lines(path: str | os.PathLike) -> list[str]:
    """All lines of a UTF-8 text file, without line endings (``\\n`` or ``\\r\\n``).

    A leading BOM is dropped; a final newline does not make an extra empty line.
    Raises DataError for a missing/unreadable file, non-UTF-8 bytes or NUL bytes.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError("file not found", path) from None
    except IsADirectoryError:
        raise DataError("is a directory, expected a file", path) from None
    except OSError as err:
        raise DataError(f"cannot read file ({err.strerror or err})", path) from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DataError("contains NUL bytes (a binary or UTF-16 file?); expected UTF-8 text",
                        path, data.count(b"\n", 0, nul) + 1)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        bad = data[err.start:err.start + 4]
        raise DataError(f"not valid UTF-8 (bytes {bad!r}); expected a UTF-8 text file", path, line) from None
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def normalize_text(text: str) -> str:
    """Collapse every run of whitespace (tabs, newlines, U+3000, ...) to one space; strip."""
    return " ".join(text.split())


def _check_field(value: str, what: str, path, line) -> None:
    if any(c in value for c in "\t\r\n"):
        raise DataError(f"{what} contains a tab or line break; cannot be written as one TSV field", path, line)


def write_classification(path: str | os.PathLike, examples: Iterable[dict]) -> int:
    """ChnSentiCorp's train format: header ``label\\ttext_a`` then ``label\\ttext`` rows."""
    n = 0
    with atomic_write(path) as out:
        out.write("label\ttext_a\n")
        for n, ex in enumerate(examples, 1):
            _check_field(ex["text"], "text", path, n + 1)
            out.write(f"{ex['label']}\t{ex['text']}\n")
    return n


def write_matching(path: str | os.PathLike, examples: Iterable[dict]) -> int:
    """LCQMC's format: ``text_a\\ttext_b\\tlabel`` rows, no header."""
    n = 0
    with atomic_write(path) as out:
        for n, ex in enumerate(examples, 1):
            _check_field(ex["text_a"], "text_a", path, n)
            _check_field(ex["text_b"], "text_b", path, n)
            out.write(f"{ex['text_a']}\t{ex['text_b']}\t{ex['label']}\n")
    return n


def write_conll(path: str | os.PathLike, examples: Iterable[dict]) -> int:
    """CoNLL char-per-line BIO: ``char tag`` lines, a blank line after every sentence."""
    n = 0
    with atomic_write(path) as out:
        for n, ex in enumerate(examples, 1):
            out.write("".join(f"{tok} {tag}\n" for tok, tag in zip(ex["tokens"], ex["labels"])) + "\n")
    return n


# ----------------------------------------------------------------------------- readers


def _label_ok(label: str, labels, path, line, what: str = "label") -> None:
    if labels is None or labels == ANY:
        if len(label) > 32 or any(c.isspace() for c in label):
            raise DataError(f"{what} {label[:40]!r} looks like text, not a label; columns swapped? "
                            "expected label<TAB>text_a", path, line)
        return
    if label not in labels:
        raise DataError(f"{what} {label!r} is not in the label set {sorted(labels)}", path, line)


_CLS_COLUMNS = {"qid": "qid", "label": "label", "text_a": "text", "text": "text"}
_MATCH_COLUMNS = {"text_a": "text_a", "query": "text_a", "sentence1": "text_a",
                  "text_b": "text_b", "title": "text_b", "sentence2": "text_b", "label": "label"}


def _header(fields: list[str], known: dict, key: str, path) -> list[str] | None:
    """Column names if ``fields`` is a header row (it names the ``key`` column), else None."""
    names = [f.strip().lower() for f in fields]
    if not any(known.get(n) == key for n in names):
        return None
    unknown = [n for n in names if n not in known]
    mapped = [known.get(n) for n in names]
    if unknown or len(set(mapped)) != len(mapped):
        raise DataError(f"header {fields!r} has unknown or repeated columns; expected some of {sorted(known)}", path, 1)
    return mapped


def _tsv_rows(path: Path, known: dict, key: str, default_columns: list[str], rep: Repairs, header_check=None):
    """(line number, {column: field}) for each non-blank row; the header (if any) names the columns.

    Every row must have as many tab-separated fields as there are columns.
    """
    columns = None
    for lineno, line in enumerate(read_lines(path), 1):
        if not line.strip():
            rep.add("blank lines skipped", path, lineno)
            continue
        fields = line.split("\t")
        if columns is None:
            columns = _header(fields, known, key, path)
            if columns is not None:
                if header_check:
                    header_check(columns, fields, lineno)
                continue
            columns = default_columns
        if len(fields) != len(columns):
            shown = "<TAB>".join("text_a" if c == "text" else c for c in columns)
            raise DataError(f"found {len(fields)} tab-separated columns, expected {len(columns)} ({shown})", path, lineno)
        yield lineno, dict(zip(columns, fields))


def read_classification(path: str | os.PathLike, *, labels: Sequence[str] | str | None = None,
                        repairs: Repairs | None = None, dedup: bool = False) -> list[dict]:
    """``label\\ttext_a`` TSV (header optional), or a header naming qid/label/text_a columns.
    ``dedup``: drop repeated (text, label) rows, counted (training data only: dev and test are
    scored row for row as given, so results compare with published ones).

    A header without a label column (ChnSentiCorp's unlabelled test) gives label "".
    """
    path = Path(path)
    rep = Repairs() if repairs is None else repairs
    examples, seen = [], set()
    for lineno, row in _tsv_rows(path, _CLS_COLUMNS, "text", ["label", "text"], rep):
        text = row["text"].strip()
        if not text:
            raise DataError("empty text; expected a non-empty text_a column", path, lineno)
        label = row.get("label", "").strip()
        if "label" in row:
            if not label:
                raise DataError("empty label", path, lineno)
            if text.isdigit() and not label.lstrip("-").isdigit() and labels in (None, ANY):
                raise DataError(f"label {label[:40]!r} with text {text!r}: columns swapped? "
                                "expected label<TAB>text_a", path, lineno)
            _label_ok(label, labels, path, lineno)
        key = (text, label)
        if dedup and key in seen:
            rep.add("duplicate rows dropped", path, lineno)
            continue
        seen.add(key)
        examples.append({"text": text, "label": label})
    if not examples:
        raise DataError(f"no examples; expected {FORMATS['classification']}", path)
    if repairs is None:
        rep.report()
    return examples


def read_matching(path: str | os.PathLike, *, labels: Sequence[str] | str | None = MATCHING_LABELS,
                  repairs: Repairs | None = None, dedup: bool = False) -> list[dict]:
    """LCQMC ``text_a\\ttext_b\\tlabel`` TSV; a header (text_a/query ...) is optional.
    ``dedup`` as in read_classification.

    A header with only two text columns marks an unlabelled file (label "").
    """
    path = Path(path)
    rep = Repairs() if repairs is None else repairs
    examples, seen = [], set()

    def needs_text_b(columns, fields, lineno):
        if "text_b" not in columns:
            raise DataError(f"header {fields!r} has no second text column (text_b/title)", path, lineno)

    for lineno, row in _tsv_rows(path, _MATCH_COLUMNS, "text_a", ["text_a", "text_b", "label"], rep, needs_text_b):
        a, b = row["text_a"].strip(), row["text_b"].strip()
        if not a or not b:
            raise DataError(f"empty {'text_a' if not a else 'text_b'}; expected two non-empty texts", path, lineno)
        label = row.get("label", "").strip()
        if "label" in row:
            if not label:
                raise DataError("empty label", path, lineno)
            _label_ok(label, labels, path, lineno)
        key = (a, b, label)
        if dedup and key in seen:
            rep.add("duplicate rows dropped", path, lineno)
            continue
        seen.add(key)
        examples.append({"text_a": a, "text_b": b, "label": label})
    if not examples:
        raise DataError(f"no examples; expected {FORMATS['matching']}", path)
    if repairs is None:
        rep.report()
    return examples


_BIO_TAG = re.compile(r"^(O|[BI]-\S+)$")


def _bad_inside(tags: Sequence[str]) -> list[int]:
    """Positions of I-X tags that follow O, another type, or the sentence start."""
    return [i for i, tag in enumerate(tags) if tag[0] == "I" and (i == 0 or tags[i - 1][1:] != tag[1:])]


def repair_bio(tags: list[str]) -> list[int]:
    """Turn an I-X that follows O, another type, or the sentence start into B-X (in place).

    Returns the positions that were changed.
    """
    fixed = _bad_inside(tags)
    for i in fixed:  # only the prefix changes, so the type comparison above stays valid
        tags[i] = "B-" + tags[i][2:]
    return fixed


def is_valid_bio(tags: Sequence[str], types: Iterable[str] = NER_TYPES) -> bool:
    """Every tag in O / B-T / I-T for the given types, and every I-T continues a T entity."""
    allowed = {"O"} | {f"{p}-{t}" for t in types for p in "BI"}
    return set(tags) <= allowed and not _bad_inside(tags)


_LINE_WITHOUT_SEPARATOR = re.compile(r"^[^ \t\n]*$", re.M)


def read_conll(path: str | os.PathLike, *, labels: Sequence[str] | str | None = NER_LABELS,
               repairs: Repairs | None = None) -> list[dict]:
    """CoNLL char-per-line BIO (``char tag`` or ``char<TAB>tag``; blank line between sentences)."""
    path = Path(path)
    rep = Repairs() if repairs is None else repairs
    allowed = None if labels is None or labels == ANY else frozenset(labels)
    examples = []

    def tag_ok(tag: str) -> bool:
        return tag in allowed if allowed is not None else bool(_BIO_TAG.match(tag))

    def keep(tokens: list, tags: list, start: int) -> None:
        for i in repair_bio(tags):
            rep.add("I- tags after O/another type repaired to B-", path, start + i)
        examples.append({"tokens": tokens, "labels": tags})

    lineno = 1
    for block in "\n".join(read_lines(path)).split("\n\n"):
        first, n_lines = lineno, block.count("\n") + 1
        lineno += n_lines + 1
        fields = block.split()
        if not fields:
            continue
        tags = fields[1::2]
        # Fast path: every line is exactly "token<one space or TAB>tag" with a known tag.
        # n separators over n lines, and no line without one: exactly one per line
        if (len(fields) == 2 * n_lines and block.count(" ") + block.count("\t") == n_lines
                and not _LINE_WITHOUT_SEPARATOR.search(block)
                and "-DOCSTART-" not in block and all(tag_ok(t) for t in set(tags))):
            keep(fields[0::2], tags, first)
            continue
        tokens, tags, start = [], [], first  # slow path: line by line, errors name the line
        for offset, line in enumerate(block.split("\n")):
            if not line.strip() or line.startswith("-DOCSTART-"):
                if tokens:
                    keep(tokens, tags, start)
                tokens, tags, start = [], [], first + offset + 1
                continue
            parts = line.split("\t") if "\t" in line else line.split()
            if len(parts) != 2 or not parts[0] or not parts[1].strip():
                raise DataError(f"cannot parse {line[:40]!r}: expected 'char<space or TAB>tag'", path, first + offset)
            tag = parts[1].strip()
            if not tag_ok(tag):
                expected = f"the label set {sorted(allowed)}" if allowed is not None else "BIO (O, B-TYPE, I-TYPE)"
                raise DataError(f"tag {tag!r} is not in {expected}", path, first + offset)
            tokens.append(parts[0]); tags.append(tag)
        if tokens:
            keep(tokens, tags, start)
    if not examples:
        raise DataError(f"no sentences; expected {FORMATS['ner']}", path)
    if repairs is None:
        rep.report()
    return examples


READERS = {"classification": read_classification, "matching": read_matching, "ner": read_conll}


def read_file(task: str, path: str | os.PathLike, *, labels=None, repairs: Repairs | None = None,
              dedup: bool = False) -> list[dict]:
    """Read one local file of ``task`` in its usual format (labels=None: the task's default set)."""
    task = canonical_task(task)
    kwargs = {"repairs": repairs}
    if dedup and task != "ner":
        kwargs["dedup"] = True
    if labels is not None:
        kwargs["labels"] = labels
    return READERS[task](path, **kwargs)


# ----------------------------------------------------------------------------- PaddleNLP

# name -> (task, builder class dir, {split: file under DATA_HOME/<class dir>/})
PADDLENLP_DATASETS = {
    "chnsenticorp": ("classification", "ChnSentiCorp", {
        "train": "ChnSentiCorp/ChnSentiCorp/train.tsv", "dev": "ChnSentiCorp/ChnSentiCorp/dev.tsv",
        "test": "ChnSentiCorp/ChnSentiCorp/test.tsv"}),
    "lcqmc": ("matching", "LCQMC", {
        "train": "lcqmc/lcqmc/train.tsv", "dev": "lcqmc/lcqmc/dev.tsv", "test": "lcqmc/lcqmc/test.tsv"}),
    "msra_ner": ("ner", "MsraNer", {"train": "msra_ner/train.tsv", "test": "msra_ner/test.tsv"}),
}
# md5 PaddleNLP 2.8.1 checks for each cached split; a mismatch makes it download again.
PADDLENLP_MD5 = {
    ("chnsenticorp", "train"): "689360c4a4a9ce8d8719ed500ae80907",
    ("chnsenticorp", "dev"): "20c77cc2371634731a367996b097ec0a",
    ("chnsenticorp", "test"): "9b4dc7d1e4ada48c645b7e938592f49c",
    ("lcqmc", "train"): "479d94fe575981f236319f2a5b8b3c03",
    ("lcqmc", "dev"): "089329fb44ef26155baef9c9c8c823ba",
    ("lcqmc", "test"): "a4a483f2f871d57e0f3894fca0d0f8f0",
    ("msra_ner", "train"): "e5b4b734ef91861384f441456ad995dd",
    ("msra_ner", "test"): "40b26ae09b63af78ea3a91ac8b8ae303",
}
# Where PaddleNLP downloads these from (probed with a short timeout before trying).
def paddlenlp_data_home() -> Path:
    """PaddleNLP's dataset cache (``$PPNLP_HOME/datasets``, default ~/.paddlenlp/datasets)."""
    return paddlenlp_home() / "datasets"


def paddlenlp_cached_file(name: str, split: str) -> Path:
    _, cls_dir, files = PADDLENLP_DATASETS[name]
    return paddlenlp_data_home() / cls_dir / files[split]


def paddlenlp_is_cached(name: str, split: str) -> bool:
    """True when PaddleNLP will load the split from its cache without downloading."""
    path = paddlenlp_cached_file(name, split)
    if not path.is_file():
        return False
    want = PADDLENLP_MD5.get((name, split))
    if want is None:
        return True
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest() == want


def load_paddlenlp(name: str, split: str = "train", *, timeout: float = 3.0) -> list[dict]:
    """A course dataset through ``paddlenlp.datasets.load_dataset``, as uniform examples.

    Offline (env COURSE_OFFLINE/HF_DATASETS_OFFLINE=1, or the download host does not answer
    within ``timeout`` s) and not cached: raises OfflineError at once, before paddle is imported.
    """
    name = name.lower()
    if name not in PADDLENLP_DATASETS:
        raise DataError(f"unknown PaddleNLP dataset {name!r}; expected one of {sorted(PADDLENLP_DATASETS)}")
    task, _, files = PADDLENLP_DATASETS[name]
    if split not in files:
        raise DataError(f"PaddleNLP dataset {name!r} has no split {split!r}; it has {sorted(files)}"
                        + (" (carve a dev set from train, or use the offline default which has one)"
                           if split == "dev" else ""))
    cached = paddlenlp_cached_file(name, split)
    if not paddlenlp_is_cached(name, split):
        why = None
        if offline_requested():
            why = "offline mode is set (" + ", ".join(k for k in OFFLINE_ENV if os.environ.get(k)) + ")"
        elif not hosts_reachable(timeout=timeout):
            host = ", ".join(f"{h}:{p}" for h, p in DOWNLOAD_HOSTS)
            why = f"its download host {host} cannot be reached (probed with a {timeout:g} s timeout; offline?)"
        if why:
            raise OfflineError(
                f"PaddleNLP dataset {name!r} (split {split!r}) is not cached (or its cached copy is damaged) at {cached} and {why}. "
                f"Use the offline default instead (source 'offline', built by `python -m tasks data build`) "
                f"or point the task at local files: {FORMATS[task]}.")
    try:
        from paddlenlp.datasets import load_dataset
        dataset = load_dataset(name, splits=[split])  # one split -> one MapDataset
        if isinstance(dataset, (list, tuple)) and dataset and not isinstance(dataset[0], dict):
            dataset = dataset[0]
        label_names = list(getattr(dataset, "label_list", None) or [])
        rows = [dataset[i] for i in range(len(dataset))]
    except Exception as err:  # network / archive / parser failures inside PaddleNLP
        raise DataError(f"PaddleNLP could not load {name!r} split {split!r}: {type(err).__name__}: {err}. "
                        f"Use the offline default or local files ({FORMATS[task]}).") from err
    return [_from_paddlenlp(task, row, label_names) for row in rows]


def _label_name(value, names: list[str]) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    value = int(value)
    return names[value] if names and 0 <= value < len(names) else str(value)


def _from_paddlenlp(task: str, row: dict, names: list[str]) -> dict:
    if task == "classification":
        return {"text": str(row["text"]), "label": _label_name(row.get("label"), names)}
    if task == "matching":
        return {"text_a": str(row.get("query", row.get("text_a"))), "text_b": str(row.get("title", row.get("text_b"))),
                "label": _label_name(row.get("label"), names)}
    return {"tokens": list(row["tokens"]), "labels": [_label_name(t, names) for t in row.get("labels", [])]}


# ----------------------------------------------------------------------------- entry points


def canonical_task(task: str) -> str:
    key = str(task).strip().lower().replace("-", "_")
    if key not in TASK_ALIASES:
        raise DataError(f"unknown task {task!r}; expected one of {list(TASKS)}")
    return TASK_ALIASES[key]


def offline_path(task: str, split: str, root: str | os.PathLike | None = None) -> Path:
    task = canonical_task(task)
    root = REPO_ROOT if root is None else Path(root)
    return root / DATA_DIR / OFFLINE_DIRS[task] / f"{split}{OFFLINE_EXT[task]}"


_SPLIT_ALIASES = {"train": ("train",), "dev": ("dev", "validation", "val", "valid"), "test": ("test",)}
_LOCAL_EXTS = (".tsv", ".txt", ".conll", ".bio", ".csv")


def _local_split_file(directory: Path, split: str) -> Path:
    tried = []
    for stem in _SPLIT_ALIASES.get(split, (split,)):
        for ext in _LOCAL_EXTS:
            candidate = directory / f"{stem}{ext}"
            tried.append(candidate.name)
            if candidate.is_file():
                return candidate
    raise DataError(f"no file for split {split!r}; looked for {', '.join(tried)}", directory)


def load_examples(task: str, source: str | os.PathLike = "offline", split: str = "train", *,
                  root: str | os.PathLike | None = None, labels=None, timeout: float = 3.0,
                  dedup: bool = False) -> list[dict]:
    """Examples of ``task`` ("classification" | "matching" | "ner", aliases accepted).

    source: "offline" (built files under ``root``/data, root defaults to the repository),
    a PaddleNLP name (chnsenticorp | lcqmc | msra_ner), a local file (used whatever the
    split) or a directory with train/dev/test files (.tsv/.txt/.conll/.bio).
    labels: restrict labels/tags to this set (default: matching {0,1}, NER BIO over
    PER/LOC/ORG, classification any short label); ``ANY`` accepts any well-formed label.
    dedup: drop repeated rows of a local TSV (for training splits; the offline data has none).
    """
    task = canonical_task(task)
    src = str(source)
    if src == "offline":
        path = offline_path(task, split, root)
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}; the offline data has {list(SPLITS)}")
        if not path.is_file():
            raise DataError(f"offline {task} data is not built; run `python -m tasks data build` "
                            "(tasks.data.build.build_all) first", path)
        return read_file(task, path, labels=labels)
    if src.lower() in PADDLENLP_DATASETS and not Path(src).exists():
        ds_task = PADDLENLP_DATASETS[src.lower()][0]
        if ds_task != task:
            raise DataError(f"PaddleNLP dataset {src!r} is a {ds_task} dataset, not {task}")
        return load_paddlenlp(src.lower(), split, timeout=timeout)
    path = Path(src).expanduser()
    if path.is_dir():
        return read_file(task, _local_split_file(path, split), labels=labels, dedup=dedup)
    if path.exists() or os.sep in src or "/" in src or path.suffix:
        return read_file(task, path, labels=labels, dedup=dedup)
    raise DataError(f"unknown data source {src!r}: expected 'offline', a PaddleNLP dataset "
                    f"({', '.join(n for n, v in PADDLENLP_DATASETS.items() if v[0] == task)}), "
                    "or a path to a local file/directory")


def _label_sort_key(label: str):
    return (0, int(label), "") if label.lstrip("-").isdigit() else (1, 0, label)


def label_list(task: str, examples: Iterable[dict]) -> list[str]:
    """The label names of ``task`` (compute on the training split).

    classification: sorted distinct labels (numerically when all are integers);
    matching: ["0", "1"]; ner: "O" then B-/I- per entity type (PER/LOC/ORG at least
    when only those occur).
    """
    task = canonical_task(task)
    if task == "matching":
        found = {ex["label"] for ex in examples if ex["label"]}
        return sorted(set(MATCHING_LABELS) | found, key=_label_sort_key)
    if task == "classification":
        found = {ex["label"] for ex in examples if ex["label"]}
        if not found:
            raise DataError("no labelled examples to derive a label list from")
        return sorted(found, key=_label_sort_key)
    types = {tag[2:] for ex in examples for tag in ex["labels"] if tag != "O"}
    if types <= set(NER_TYPES):
        return list(NER_LABELS)
    return ["O"] + [f"{p}-{t}" for t in sorted(types) for p in "BI"]


# Human-readable class names of the datasets the package knows (predictions print them).
LABEL_NAMES = {
    ("classification", "offline"): {"0": "负面 negative", "1": "正面 positive"},
    ("classification", "chnsenticorp"): {"0": "负面 negative", "1": "正面 positive"},
    ("matching", "offline"): {"0": "不匹配 no match", "1": "匹配 match"},
    ("matching", "lcqmc"): {"0": "不匹配 no match", "1": "匹配 match"},
}


def label_names(task: str, source: str | os.PathLike) -> dict:
    """label -> readable name, where the dataset has them ({} otherwise)."""
    return dict(LABEL_NAMES.get((canonical_task(task), str(source).lower()), {}))


def check_label_variety(task: str, examples: Sequence[dict], what: str) -> None:
    """A split with a single class trains or selects on nothing: say so instead of reporting 1.0."""
    task = canonical_task(task)
    if task == "ner" or not examples:
        return
    found = {ex["label"] for ex in examples}
    if len(found) < 2:
        raise DataError(f"{what}: every one of its {len(examples)} examples has label {next(iter(found))!r}; "
                        "expected at least two classes")
