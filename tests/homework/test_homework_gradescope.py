"""results.json follows Gradescope's documented schema.

Schema transcribed from https://gradescope-autograders.readthedocs.io/en/latest/specs/
("Output format"): top-level score (required unless every test has one),
execution_time, output, output_format, test_output_format, test_name_format,
visibility, stdout_visibility, extra_data, tests[], leaderboard[]; each test may
have score, max_score, status, name, name_format, number, output,
output_format, tags, visibility, extra_data.
"""

import json

import pytest

NUMBER = (int, float)
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}

TOP = {
    "score": NUMBER, "execution_time": NUMBER, "output": str, "output_format": str, "test_output_format": str,
    "test_name_format": str, "visibility": str, "stdout_visibility": str, "extra_data": dict, "tests": list,
    "leaderboard": list,
}
TEST = {
    "score": NUMBER, "max_score": NUMBER, "status": str, "name": str, "name_format": str, "number": str,
    "output": str, "output_format": str, "tags": list, "visibility": str, "extra_data": dict,
}
ENUMS = {"output_format": FORMATS, "test_output_format": FORMATS, "test_name_format": FORMATS,
         "name_format": FORMATS, "visibility": VISIBILITY, "stdout_visibility": VISIBILITY,
         "status": {"passed", "failed"}}


def validate(doc) -> list:
    """Errors against the schema above (empty list: valid)."""
    errors = []

    def check_object(obj, spec, where):
        if not isinstance(obj, dict):
            errors.append("%s: not an object" % where)
            return
        for key, value in obj.items():
            if key not in spec:
                errors.append("%s: unknown key %r" % (where, key))
                continue
            if isinstance(value, bool) or not isinstance(value, spec[key]):
                errors.append("%s.%s: wrong type %s" % (where, key, type(value).__name__))
                continue
            if key in ENUMS and value not in ENUMS[key]:
                errors.append("%s.%s: %r not in %s" % (where, key, value, sorted(ENUMS[key])))

    check_object(doc, TOP, "results")
    tests = doc.get("tests", []) if isinstance(doc, dict) else []
    for i, test in enumerate(tests):
        check_object(test, TEST, "tests[%d]" % i)
        if isinstance(test, dict) and "tags" in test and not all(isinstance(t, str) for t in test["tags"]):
            errors.append("tests[%d].tags: must be strings" % i)
    if isinstance(doc, dict) and "score" not in doc and not all("score" in t for t in tests):
        errors.append("results: score required at top level or on every test")
    return errors


def test_validator_rejects_bad_documents():
    assert validate({"tests": [{"name": "x"}]})  # no score anywhere
    assert validate({"score": 1, "visibility": "sometimes"})
    assert validate({"score": "1"})
    assert validate({"score": 1, "tests": [{"score": 1, "status": "ok"}]})
    assert not validate({"score": 1.5, "tests": [{"score": 1, "max_score": 2, "name": "a", "visibility": "visible"}]})


@pytest.mark.parametrize("sid", ["ref001", "blank001"])
def test_results_json_matches_gradescope_schema(basic_batch, sid):
    batch, out, _ = basic_batch
    doc = json.loads((out / "gradescope" / sid / "results.json").read_text(encoding="utf-8"))
    assert validate(doc) == []
    student = next(s for s in batch.students if s.student_id == sid)
    assert doc["score"] == pytest.approx(student.score)
    assert len(doc["tests"]) == sum(len(a.questions) for a in student.assignments)  # one test per question
    assert sum(t["score"] for t in doc["tests"]) == pytest.approx(doc["score"])
    assert all(t["max_score"] > 0 and 0 <= t["score"] <= t["max_score"] for t in doc["tests"])
    if sid == "blank001":
        assert all(t["status"] == "failed" and "尚未" in t["output"] for t in doc["tests"])
