"""Model registry: names resolve, offline hub names fail fast and say what to do."""
import json
import time

import pytest

from tasks import models
from tasks.models import hub
from tasks.models import ModelError


def test_offline_hub_name_fails_fast_with_advice(monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setattr(models, "_is_cached", lambda name: False)
    started = time.time()
    with pytest.raises(ModelError) as err:
        models.load_model("ernie-3.0-medium-zh", "sequence", num_labels=2)
    assert time.time() - started < 5
    message = str(err.value)
    assert "ernie-3.0-medium-zh" in message and "not cached" in message and "--model e5-small-zh" in message


def test_unreachable_hub_is_detected_quickly_without_the_offline_flag(monkeypatch):
    """No COURSE_OFFLINE: the registry probes the hub with a short timeout instead of hanging in a download."""
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(models, "_is_cached", lambda name: False)
    monkeypatch.setattr(hub, "DOWNLOAD_HOSTS", (("10.255.255.1", 443),))  # blackhole address: times out
    started = time.time()
    with pytest.raises(ModelError, match="cannot be reached"):
        models.resolve("bert-base-chinese")
    assert time.time() - started < 5


def test_known_hub_names_include_the_course_models():
    names = models.known_hub_names()
    assert names["bert-base-chinese"] == "bert"
    assert names["ernie-3.0-medium-zh"] == "ernie" and names["ernie-3.0-mini-zh"] == "ernie"


def test_unknown_name_lists_choices(monkeypatch):
    with pytest.raises(ModelError, match="'bert-huge-zh' is not a local directory.*e5-small-zh"):
        models.resolve("bert-huge-zh")  # offline: cannot tell a typo from an uncached hub name
    monkeypatch.setattr(models, "hosts_reachable", lambda timeout: True)
    with pytest.raises(ModelError, match="unknown model name 'bert-huge-zh'.*e5-small-zh"):
        models.resolve("bert-huge-zh")


@pytest.mark.parametrize("bad", ["e5-small-zh@0", "e5-small-zh@x", "tiny-bert@"])
def test_bad_layer_suffix(bad):
    with pytest.raises(ModelError, match="NAME@N"):
        models.resolve(bad)


def test_local_directory_without_config(tmp_path):
    with pytest.raises(ModelError, match="config.json"):
        models.resolve(str(tmp_path))
    (tmp_path / "config.json").write_bytes(b"\xff{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        models.resolve(str(tmp_path))
    with pytest.raises(ModelError, match="does not exist"):
        models.resolve(str(tmp_path / "missing" / "dir"))


def test_offline_encoder_with_fewer_layers(encoder_dir):
    model = models.load_model("e5-small-zh@2", "encoder")
    assert len(model.encoder.layers) == 2
    assert model.config.hidden_size == 384
    tokenizer = models.load_tokenizer("e5-small-zh@2")
    assert tokenizer.convert_ids_to_tokens(tokenizer("北京")["input_ids"])[0] == "<s>"
    described = models.describe("e5-small-zh@2")
    assert described["kind"] == "offline" and described["layers"] == 2


def test_random_prefix_builds_the_architecture_with_fresh_weights_that_follow_the_seed(encoder_dir):
    import numpy as np
    import paddle

    pretrained = models.load_model("e5-small-zh@1", "encoder")
    paddle.seed(1)
    scratch = models.load_model("random:e5-small-zh@1", "encoder")
    paddle.seed(1)
    again = models.load_model("random:e5-small-zh@1", "encoder")
    paddle.seed(2)
    other = models.load_model("random:e5-small-zh@1", "encoder")
    mine, theirs = scratch.state_dict(), pretrained.state_dict()
    assert type(scratch) is type(pretrained) and len(scratch.encoder.layers) == 1
    assert {k: list(v.shape) for k, v in mine.items()} == {k: list(v.shape) for k, v in theirs.items()}
    key = "encoder.layers.0.linear1.weight"
    assert not np.allclose(mine[key].numpy(), theirs[key].numpy())
    assert abs(float(mine[key].numpy().std()) - scratch.config.initializer_range) < 0.005  # PaddleNLP's init
    assert np.array_equal(mine[key].numpy(), again.state_dict()[key].numpy())
    assert not np.array_equal(mine[key].numpy(), other.state_dict()[key].numpy())
    assert models.load_tokenizer("random:e5-small-zh@1").vocab_size == models.load_tokenizer("e5-small-zh").vocab_size
    assert models.describe("random:e5-small-zh@1")["random_init"] is True
    with pytest.raises(ModelError, match="random:NAME"):
        models.resolve("random:")


@pytest.mark.parametrize("name,cls", [("tiny-bert", "BertForTokenClassification"),
                                      ("tiny-ernie", "ErnieForTokenClassification")])
def test_tiny_models_are_real_paddlenlp_classes(encoder_dir, name, cls):
    model = models.load_model(name, "token", num_labels=7)
    assert type(model).__name__ == cls
    assert model.config.num_labels == 7


def test_saved_directory_round_trip(encoder_dir, tmp_path):
    model = models.load_model("tiny-ernie", "sequence", num_labels=3)
    model.save_pretrained(str(tmp_path))
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "ernie"
    source = models.resolve(str(tmp_path))
    assert source.kind == "local" and source.family == "ernie"
    again = models.load_model(str(tmp_path), "sequence", num_labels=3)
    assert type(again).__name__ == "ErnieForSequenceClassification"
