"""Golden vectors: format, coverage, and agreement with the oracle (two derivations that must meet)."""

from __future__ import annotations

import copy
import json
import os
import re

import jsonschema
import pytest

from nexus_micro_kit import golden, oracle

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VECTORS = golden.load_vectors()
REQUIRED = [v for v in VECTORS if v["tier"] == "required"]

RULES_REQUIRED = (
    ["S1a", "S1b", "S1c", "S1d", "S1e", "S1f", "S1g", "S1h", "S2", "S3", "S4", "S5a", "S5b", "S5c", "S5d", "S6", "S7",
     "S8", "S9a", "S9b", "S9c", "S9d", "S9e", "S10", "S11", "S12", "S14", "S15"]
)


def test_vector_files_match_the_case_schema():
    assert golden.validate_vector_files() == []


def test_case_schema_rejects_bad_cases(tmp_path, monkeypatch):
    """The case schema is not a rubber stamp: broken cases are reported."""
    good = json.load(open(os.path.join(golden.VECTORS_DIR, "required", "s14-status.json"), encoding="utf-8"))
    bad = copy.deepcopy(good)
    bad["cases"][0]["input"]["body_b64"] = "e30="  # both body and body_b64
    bad["cases"][1]["expected"] = {"error": "no_such_category"}
    bad["cases"][2]["id"] = "Not_Kebab"
    bad["cases"][3]["expected"] = {"micro_deposits": [{"guid": "only one field"}]}
    bad["cases"][4]["rules"] = ["S99"]
    bad["cases"][5]["id"] = bad["cases"][6]["id"]
    (tmp_path / "required").mkdir()
    (tmp_path / "recommended").mkdir()
    (tmp_path / "required" / "bad.json").write_text(json.dumps(bad), encoding="utf-8")
    monkeypatch.setattr(golden, "VECTORS_DIR", str(tmp_path))
    problems = golden.validate_vector_files()
    joined = "\n".join(problems)
    for i in range(5):
        assert f"cases/{i}" in joined, joined
    assert "duplicate id" in joined


def test_load_vectors_augments_cases():
    assert VECTORS, "no vectors"
    ids = [v["id"] for v in VECTORS]
    assert len(ids) == len(set(ids))
    for v in VECTORS:
        assert v["tier"] in ("required", "recommended")
        assert v["file"].startswith(v["tier"] + "/") and v["file"].endswith(".json")
        assert isinstance(v["body_bytes"], bytes)
        if "body" in v["input"]:
            assert v["body_bytes"] == v["input"]["body"].encode("utf-8")
    assert {v["tier"] for v in golden.load_vectors("recommended")} == {"recommended"}
    with pytest.raises(ValueError):
        golden.load_vectors("optional")
    b64 = [v for v in VECTORS if v["id"] == "s1a-invalid-byte"][0]
    assert b"\xff" in b64["body_bytes"]


def test_at_least_60_required_cases():
    assert len(REQUIRED) >= 60


@pytest.mark.parametrize("rule", RULES_REQUIRED)
def test_every_rule_has_a_required_vector(rule):
    if rule == "S1b":
        pytest.skip("S1b is about APIs that take text; vectors carry bytes (S1a covers the BOM and UTF-8)")
    assert any(rule in v["rules"] for v in REQUIRED), rule


def test_every_s14_row_is_covered():
    seen = {(v["input"]["status"], v["expected"].get("error")) for v in REQUIRED if "S14" in v["rules"]}
    categories = {c for _s, c in seen}
    assert {"unexpected_redirect", "session_expired", "unauthorized", "forbidden", "not_found", "rate_limited",
            "server_error", "http_error", "malformed_response", None} <= categories
    expired = {s for s, c in seen if c == "session_expired"}
    assert {400, 401, 403} <= expired


def test_seed_example_lenient_and_strict():
    by_id = {v["id"]: v for v in REQUIRED}
    lenient, strict = by_id["seed-example"], by_id["seed-example-strict"]
    assert lenient["input"]["strict"] is False and strict["input"]["strict"] is True
    assert strict["expected"] == {"error": "schema_drift"}
    md = json.loads(lenient["input"]["body"])["micro_deposits"][0]["micro_deposit"]
    assert md["routing_number"] == 91000019 and md["error_code"] is None
    assert lenient["expected"]["micro_deposits"][0]["routing_number"] == "091000019"


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_oracle_agrees_with_vector(vector):
    inp = vector["input"]
    got = oracle.expect_parse(inp["status"], inp["headers"], vector["body_bytes"], inp["strict"])
    exp = vector["expected"]
    if "error" in exp:
        assert got["ok"] is False, f"{vector['file']} {vector['id']}: expected {exp['error']}, oracle gave records"
        assert got["error"] == exp["error"], f"{vector['id']}: oracle {got['error']} ({got['rules']}: {got.get('message')})"
    else:
        assert got["ok"] is True, f"{vector['id']}: expected records, oracle {got['error']} ({got['rules']}: {got.get('message')})"
        diff = oracle.first_difference({"micro_deposits": exp["micro_deposits"]}, {"micro_deposits": got["micro_deposits"]})
        assert diff is None, f"{vector['id']}: {diff}"


def test_ok_vectors_validate_against_canonical_schema():
    with open(os.path.join(ROOT, "spec", "canonical.schema.json"), encoding="utf-8") as f:
        validator = jsonschema.Draft202012Validator(json.load(f))
    n = 0
    for v in VECTORS:
        if "micro_deposits" in v["expected"]:
            errors = [e.message[:200] for e in validator.iter_errors({"micro_deposits": v["expected"]["micro_deposits"]})]
            assert errors == [], (v["id"], errors)
            n += 1
    assert n >= 40


def test_recommended_stress_cases_present():
    ids = {v["id"] for v in VECTORS if v["tier"] == "recommended"}
    assert {"stress-10000-records", "stress-1mb-string", "stress-many-drift-items"} <= ids


def test_must_boundaries_are_required():
    """Boundaries of MUST rules fail a run: they are not in the SHOULD (recommended) tier."""
    required = {v["id"] for v in VECTORS if v["tier"] == "required"}
    assert {
        "boundary-4300-digit-integer", "boundary-4300-digit-string", "boundary-depth-64",
        "boundary-depth-64-scalar-at-65", "boundary-top-depth-64", "boundary-top-depth-65",
        "boundary-negative-zero-integer",
    } <= required
    big = [v for v in VECTORS if v["id"] == "stress-10000-records"][0]
    assert len(big["expected"]["micro_deposits"]) == 10000
    mb = [v for v in VECTORS if v["id"] == "stress-1mb-string"][0]
    assert len(mb["expected"]["micro_deposits"][0]["account_name"].encode("utf-8")) >= 1 << 20


def test_vector_rule_ids_exist_in_semantics():
    with open(os.path.join(ROOT, "spec", "SEMANTICS.md"), encoding="utf-8") as f:
        text = f.read()
    known = set(re.findall(r"\bS[0-9]{1,2}[a-h]?\b", text))
    for v in VECTORS:
        for r in v["rules"]:
            assert r in known, (v["id"], r)


@pytest.mark.parametrize("vector", [v for v in VECTORS if "drift" in v["expected"]],
                         ids=[v["id"] for v in VECTORS if "drift" in v["expected"]])
def test_oracle_agrees_with_hand_written_drift(vector):
    inp = vector["input"]
    got = oracle.expect_parse(inp["status"], inp["headers"], vector["body_bytes"], inp["strict"])
    assert got["drift"] == vector["expected"]["drift"], vector["id"]


def test_the_classes_generated_too_rarely_have_vectors():
    ids = {v["id"] for v in REQUIRED}
    assert {"s9-last-day-of-each-month", "s9-day-after-last-day", "s9-day-after-last-day-strict", "s9-february-by-year",
            "s9-rollover-forward", "s9-rollover-backward", "s9c-s9d-together", "s5-one-coercion-per-field",
            "s1f-many-items-beside-deep-value", "s1f-many-items-beside-depth-65", "s5b-other-case-only",
            "s15-nested-true-top-4011", "s1c-del-and-c1-unescaped", "s1c-unescaped-u001f", "s14-100-parse",
            "s14-101-4011"} <= ids
    one = [v for v in REQUIRED if v["id"].startswith("s5-one-coercion-") and v["id"].endswith("-strict")]
    fields = {v["expected"]["drift"][0]["field"] for v in one}
    assert fields == set(oracle.FIELDS)  # one strict case per field, each naming its own field
    for v in one:
        record = json.loads(v["input"]["body"])["micro_deposits"][1]["micro_deposit"]
        assert sorted(record) == sorted(oracle.FIELDS)  # all 17 fields present
    february = next(v for v in REQUIRED if v["id"] == "s9-february-by-year")
    items = json.loads(february["input"]["body"])["micro_deposits"]
    years = {item["micro_deposit"]["created_at"][:4] for item in items}
    assert {"1900", "2000", "2100", "2400"} <= years
    s15 = {v["input"]["body"] for v in REQUIRED if v["id"].startswith("s15-error-")}
    assert {'{"error":"bad token"}', '{"error":4011}', '{"error":[1],"code":"4011"}',
            '{"error":null,"code":4011}'} <= s15


def test_case_schema_takes_drift_and_rejects_bad_notes(tmp_path, monkeypatch):
    with open(os.path.join(golden.VECTORS_DIR, "required", "s09-calendar.json"), encoding="utf-8") as f:
        bad = json.load(f)
    bad["cases"][1]["expected"]["drift"][0]["action"] = "fixed"
    bad["cases"][2]["expected"]["drift"] = [bad["cases"][2]["expected"]["drift"][0]] * 2  # schema_drift: one note
    (tmp_path / "required").mkdir()
    (tmp_path / "recommended").mkdir()
    (tmp_path / "required" / "bad.json").write_text(json.dumps(bad), encoding="utf-8")
    monkeypatch.setattr(golden, "VECTORS_DIR", str(tmp_path))
    joined = "\n".join(golden.validate_vector_files())
    assert "cases/1" in joined and "cases/2" in joined and "cases/0" not in joined, joined
