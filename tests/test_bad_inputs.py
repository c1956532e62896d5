"""Bad inputs a new user tried (../shared/bad-inputs.md): one clear line, a non-zero exit, nothing
damaged. Each test names the case it covers."""
import json
import shutil

import pytest

from tasks.cli import main as cli

pytestmark = pytest.mark.usefixtures("offline_data", "encoder_dir")
TINY = ["--model", "tiny-bert", "--max-steps", "2", "--batch-size", "8", "--eval-every", "1",
        "--limit-train", "32", "--limit-dev", "16", "--limit-test", "16", "--max-length", "32", "--no-progress"]


def train(out, *extra, task="classification"):
    return cli(["train", "--task", task, "--out", str(out), *TINY, *extra])


def one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("finished") / "run"
    assert train(out) == 0
    return out


def snapshot(run):
    return {p.relative_to(run): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def test_case01_existing_run_is_not_cleared(finished, capsys):
    before = snapshot(finished)
    assert train(finished) == 2
    one_line_error(capsys, "already holds a run", "--resume", "--overwrite")
    assert train(finished, "--batch-size", "0") == 2  # a bad option in a new run ...
    capsys.readouterr()
    assert snapshot(finished) == before                # ... leaves the old result as it was


def test_case02_disk_full_during_a_resume_point_write(tmp_path, monkeypatch, capsys):
    import paddle

    real_save = paddle.save
    calls = {"n": 0}

    def failing_save(obj, path, *args, **kwargs):
        calls["n"] += 1
        if "optimizer" in str(path):
            raise OSError(28, "No space left on device")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(paddle, "save", failing_save)
    assert train(tmp_path / "run") == 2
    one_line_error(capsys, "could not write the resume point", "No space left on device")
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]


def test_case04_data_that_is_a_file(tmp_path, repo_root, capsys):
    file = repo_root / "tests" / "fixtures" / "data" / "chnsenticorp" / "train.tsv"
    assert train(tmp_path / "run", "--data", str(file)) == 2
    one_line_error(capsys, "is a file", "train, dev and test")


def test_case05_conll_line_with_three_fields(tmp_path):
    from tasks.data.datasets import DataError, read_conll

    path = tmp_path / "train.txt"
    path.write_text("张 O O\n三\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"train.txt:1: cannot parse"):
        read_conll(path)


@pytest.mark.parametrize("flag,value,expected", [
    ("--epochs", "-1", "--epochs -1.0: expected a value > 0"),
    ("--max-length", "0", "--max-length 0: expected a value >= 8"),
    ("--limit-train", "0", "--limit-train 0: expected a value >= 1"),
    ("--batch-size", "0", "--batch-size 0: expected a value >= 1"),
    ("--eval-every", "0", "--eval-every 0: expected a value >= 1"),
    ("--limit-train", "-5", "--limit-train -5: expected a value >= 1"),
    ("--lr", "-1", "--lr -1.0: expected a value > 0"),
])
def test_case06_and_12_bad_numbers(tmp_path, capsys, flag, value, expected):
    assert train(tmp_path / "run", flag, value) == 2
    one_line_error(capsys, expected)
    assert not (tmp_path / "run").exists()


def test_case07_a_split_with_one_class(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.tsv").write_text("label\ttext_a\n" + "".join(f"1\t第{i}条很好\n" for i in range(8)), encoding="utf-8")
    (data / "dev.tsv").write_text("label\ttext_a\n1\t好\n0\t差\n", encoding="utf-8")
    (data / "test.tsv").write_text("label\ttext_a\n1\t好\n0\t差\n", encoding="utf-8")
    assert train(tmp_path / "run", "--data", str(data)) == 2
    one_line_error(capsys, "train split", "has label '1'", "at least two classes")


def test_case08_predict_pair_with_a_third_column(tmp_path, capsys):
    assert train(tmp_path / "run", task="single_tower") == 0
    capsys.readouterr()
    src = tmp_path / "pairs.tsv"
    src.write_text("房间很大\t服务很好\t1\n", encoding="utf-8")
    assert cli(["predict", "--checkpoint", str(tmp_path / "run" / "best"), "--input", str(src)]) == 2
    one_line_error(capsys, "pairs.tsv:1", "found 3 field(s)")


def test_case10_dev_label_not_in_train(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    rows = "".join(f"{i % 2}\t第{i}条\n" for i in range(8))
    (data / "train.tsv").write_text("label\ttext_a\n" + rows, encoding="utf-8")
    (data / "dev.tsv").write_text("label\ttext_a\n2\t中性\n0\t差\n", encoding="utf-8")
    (data / "test.tsv").write_text("label\ttext_a\n1\t好\n0\t差\n", encoding="utf-8")
    assert train(tmp_path / "run", "--data", str(data)) == 2
    one_line_error(capsys, "dev split", "label '2' is not in this model's label set")


def test_case11_labels_file_with_a_new_entity_type(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    sentence = "张 B-PER\n三 I-PER\n在 O\n联 B-MISC\n合 I-MISC\n国 I-MISC\n\n"
    for split in ("train", "dev", "test"):
        (data / f"{split}.txt").write_text(sentence * 4, encoding="utf-8")
    labels = tmp_path / "labels.txt"
    labels.write_text("O\nB-PER\nI-PER\nB-MISC\nI-MISC\n", encoding="utf-8")
    assert cli(["train", "--task", "ner", "--data", str(data), "--labels", str(labels), "--out", str(tmp_path / "run"),
                *TINY]) == 0
    meta = json.loads((tmp_path / "run" / "best" / "task.json").read_text(encoding="utf-8"))
    assert meta["labels"] == ["O", "B-PER", "I-PER", "B-MISC", "I-MISC"]


def test_case13_max_length_beyond_the_model(tmp_path, capsys):
    assert train(tmp_path / "run", "--max-length", "1000000000") == 2
    one_line_error(capsys, "--max-length 1000000000", "at most 512 tokens")


def test_case14_out_is_a_file_or_read_only(tmp_path, capsys):
    file = tmp_path / "file"
    file.write_text("x")
    assert train(file) == 2
    one_line_error(capsys, "is not a directory")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if shutil.os.access(locked, shutil.os.W_OK):  # root ignores permissions
            pytest.skip("running as root: a read-only directory is still writable")
        assert train(locked / "run") == 2
        one_line_error(capsys, "cannot write there")
    finally:
        locked.chmod(0o700)


def test_case15_damaged_resume_point(finished, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / "last" / "trainer_state.json").write_text("{not json", encoding="utf-8")
    assert train(run, "--resume") == 2
    one_line_error(capsys, "trainer_state.json: corrupt resume point")
    shutil.rmtree(run)
    shutil.copytree(finished, run)
    weights = run / "last" / "model.pdparams"
    weights.write_bytes(weights.read_bytes()[:100])
    assert train(run, "--resume") == 2
    one_line_error(capsys, "model.pdparams: cannot be read", "damaged")


def test_case16_damaged_checkpoint(finished, tmp_path, capsys):
    best = tmp_path / "best"
    shutil.copytree(finished / "best", best)
    (best / "task.json").write_text("{}", encoding="utf-8")
    assert cli(["predict", "--checkpoint", str(best), "--input", "-"]) == 2
    one_line_error(capsys, "task.json: lacks task, model, labels, max_length")
    shutil.rmtree(best)
    shutil.copytree(finished / "best", best)
    (best / "model_state.pdparams").write_bytes(b"")
    assert cli(["evaluate", "--checkpoint", str(best), "--limit", "4"]) == 2
    one_line_error(capsys, "could not load model")


def test_case17_gbk_bytes_on_stdin(finished, monkeypatch, capsys):
    import io
    import sys

    fake = io.TextIOWrapper(io.BytesIO("很好\n".encode("utf-8") + "房间".encode("gbk") + b"\n"))
    monkeypatch.setattr(sys, "stdin", fake)
    assert cli(["predict", "--checkpoint", str(finished / "best")]) == 2
    one_line_error(capsys, "<stdin>:2", "not valid UTF-8", "iconv")


def test_case20_data_show_without_a_manifest(tmp_path, monkeypatch, capsys):
    from tasks import cli as cli_module

    monkeypatch.setattr(cli_module, "REPO_ROOT", tmp_path)
    assert cli(["data", "show"]) == 2
    one_line_error(capsys, "manifest.json", "python -m tasks data build")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "manifest.json").write_text("[1, 2", encoding="utf-8")
    assert cli(["data", "show"]) == 2
    one_line_error(capsys, "missing or unreadable")


@pytest.mark.parametrize("flags,needle", [(["--amp", "fp16"], "--amp fp16: mixed precision needs a GPU"),
                                          (["--device", "gpu"], "--device gpu: this paddlepaddle has no CUDA"),
                                          (["--device", "tpu"], "--device 'tpu': expected cpu, gpu")])
def test_device_and_amp_without_a_gpu(tmp_path, capsys, flags, needle):
    from tasks.cpu import quiet_paddle

    quiet_paddle()  # the first import of paddle, without its start-up warning
    import paddle

    if paddle.device.is_compiled_with_cuda():
        pytest.skip("this paddle has CUDA")
    assert train(tmp_path / "run", *flags) == 2
    one_line_error(capsys, needle)
    assert not (tmp_path / "run").exists()  # refused before anything was written
