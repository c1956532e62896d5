"""The sandbox itself: raw values only over the result channel, scrubbed environment, limits."""

import random

import pytest

from homework.checks import get_assignment
from homework.grading import plan
from homework.sandbox import Limits, Sandbox, detect_isolation
from homework.spec import Outcome

PROBE = '''
import os, sys
print("x" * 100000)
print('{"event": "call", "id": 0, "ok": true, "value": 42}')
def env():
    return sorted(os.environ)
def where():
    return os.getcwd(), sorted(os.listdir("."))
def echo(x):
    return x
'''


@pytest.fixture(params=["auto", "nobwrap"])
def sandbox(request):
    return Sandbox(Limits(wall_seconds=20, call_seconds=5, keep_output_bytes=1000), mode=request.param)


def test_values_come_back_only_on_the_result_channel(tmp_path, sandbox, monkeypatch):
    monkeypatch.setenv("HOMEWORK_SECRET_FOR_TEST", "do-not-leak")
    sub = tmp_path / "probe.py"
    sub.write_text(PROBE)
    calls = [{"id": 0, "module": "m", "func": "echo", "kwargs": {"x": [1, 2.5, "s", None]}},
             {"id": 1, "module": "m", "func": "env", "kwargs": {}},
             {"id": 2, "module": "m", "func": "where", "kwargs": {}}]
    run = sandbox.run([("m", sub)], calls)
    assert run.status == "ok" and run.finished
    assert run.calls[0]["value"] == [1, 2.5, "s", None]  # not the 42 printed on stdout
    assert "HOMEWORK_SECRET_FOR_TEST" not in run.calls[1]["value"]
    cwd, listing = run.calls[2]["value"]
    assert listing == [] and str(tmp_path) not in cwd  # fresh, empty working directory
    assert len(run.stdout) <= 1000 and run.output_bytes > 100000  # captured, capped


def test_isolation_is_described_plainly():
    iso = detect_isolation("nobwrap")
    text = "\n".join(iso.describe())
    assert "未使用 bubblewrap" in text and "未隔离" in text
    auto = detect_isolation("auto")
    if auto.bwrap:
        assert "无网络" in "\n".join(auto.describe())


def test_statistical_check_does_not_fail_a_correct_implementation():
    """The MLM z-tests at |z| <= 4.5 accept the reference on many students' random inputs."""
    import importlib.util

    assignment = get_assignment("mlm_masking")
    spec = importlib.util.spec_from_file_location("ref_mlm", assignment.solution)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    question = assignment.question("q2_mask_tokens")
    for student in ["s%03d" % i for i in range(15)]:
        p = plan(assignment, assignment.solution, student_id=student)
        cases = dict((q.qid, c) for q, c in p.questions)["q2_mask_tokens"]
        for case in cases:
            outcomes = [Outcome(True, value=[list(v) for v in ref.mask_tokens(**call.kwargs)]) for call in case.calls]
            checks = question.judge(case, outcomes)
            assert all(c.passed for c in checks), (student, [(c.label, c.message) for c in checks if not c.passed])


def test_inputs_are_seeded_per_student():
    assignment = get_assignment("rnn_params")
    a1 = plan(assignment, None, student_id="alice")
    a2 = plan(assignment, None, student_id="alice")
    b = plan(assignment, None, student_id="bob")
    data = lambda p: [c.data for _, cases in p.questions for c in cases]  # noqa: E731
    assert data(a1) == data(a2) != data(b)
    salted = plan(assignment, None, student_id="alice", salt=str(random.random()))
    assert data(salted) != data(a1)


def test_single_file_submissions_do_not_see_each_other(tmp_path):
    from homework.grading import discover

    shared = tmp_path / "subs"
    shared.mkdir()
    (shared / "alice.py").write_text('ASSIGNMENT = "concepts"\nimport os\n'
                                     'def listing():\n    return sorted(os.listdir(os.path.dirname(__file__)))\n')
    (shared / "bob.py").write_text('ASSIGNMENT = "concepts"\nSECRET = 1\n')
    subs, problems = discover(shared)
    alice = next(s for s in subs if s.student_id == "alice")
    assert alice.folder is None and alice.files == {"concepts": shared / "alice.py"}
    run = Sandbox(Limits(wall_seconds=20)).run(
        [("concepts", alice.files["concepts"])], [{"id": 0, "module": "concepts", "func": "listing", "kwargs": {}}],
        support_dir=alice.folder)
    assert run.calls[0]["value"] == ["alice.py"]


def test_no_network_and_private_tmp_with_bubblewrap(tmp_path):
    iso = detect_isolation("auto")
    if not iso.bwrap:
        pytest.skip("本机没有可用的 bubblewrap：网络与 /tmp 不隔离（见 python -m homework isolation）")
    sub = tmp_path / "net.py"
    sub.write_text("import os, socket\n"
                   "def connect():\n"
                   "    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
                   "    s.settimeout(2)\n"
                   "    s.connect(('1.1.1.1', 53))\n"
                   "def tmp():\n"
                   "    return sorted(os.listdir('/tmp')), sorted(os.listdir('/'))\n")
    run = Sandbox(Limits(wall_seconds=20), mode="auto").run(
        [("m", sub)], [{"id": 0, "module": "m", "func": "connect", "kwargs": {}},
                       {"id": 1, "module": "m", "func": "tmp", "kwargs": {}}])
    assert run.calls[0]["ok"] is False and "OSError" in run.calls[0]["error"]
    tmp_listing, root_listing = run.calls[1]["value"]
    import sys
    from pathlib import Path

    # a private, empty /tmp; a clone or virtualenv living under /tmp is bound back (read-only) so the
    # interpreter runs, and then only its own top folder is visible there
    interpreter = [Path(p).resolve().parts for p in (sys.prefix, sys.base_prefix, sys.executable)]
    own = {parts[2] for parts in interpreter if len(parts) > 2 and parts[1] == "tmp"}
    assert set(tmp_listing) <= own, tmp_listing

    allowed = {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sandbox", "sbin", "tmp", "usr"}
    allowed |= {Path(p).resolve().parts[1] for p in (sys.prefix, sys.base_prefix, sys.executable)}
    assert set(root_listing) <= allowed, root_listing  # only what the interpreter needs
