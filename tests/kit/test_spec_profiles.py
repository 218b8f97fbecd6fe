"""nexus_micro_kit/spec.py: the OpenAPI document as JSON Schema, and its profiles."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from nexus_micro_kit import spec

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIELDS = ("account_name account_number account_type account_type_name created_at email error_code error_message "
          "first_name guid institution_name last_name routing_number status status_name updated_at verified_at").split()


def seed_example() -> dict:
    """The document's example values assembled into a one-record response."""
    props = spec.openapi()["components"]["schemas"]["MicrodepositResponse"]["properties"]["micro_deposit"]["properties"]
    return {"micro_deposits": [{"micro_deposit": {name: p["example"] for name, p in props.items()}}]}


def test_json_and_yaml_documents_are_equal():
    with open(spec.OPENAPI_YAML, encoding="utf-8") as f:
        from_yaml = yaml.safe_load(f)
    assert from_yaml == spec.openapi()


def test_seed_example_is_observed_but_not_spec():
    doc = seed_example()
    md = doc["micro_deposits"][0]["micro_deposit"]
    assert sorted(md) == sorted(FIELDS)
    assert md["routing_number"] == 91000019 and md["error_code"] is None and md["error_message"] is None
    problems = spec.validate(doc, "spec")
    assert any("routing_number" in p for p in problems), problems
    assert any("error_code" in p for p in problems), problems
    assert spec.validate(doc, "observed") == []


def test_profiles_and_hostile():
    assert spec.PROFILES == ("spec", "observed", "hostile")
    assert spec.response_schema("hostile") is None
    with pytest.raises(ValueError):
        spec.validate({}, "hostile")
    with pytest.raises(ValueError):
        spec.response_schema("lenient")


def test_spec_schema_is_exactly_the_document():
    s = spec.response_schema("spec")
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    text = json.dumps(s)
    assert "$ref" not in text and '"example"' not in text and "nullable" not in text
    md = s["properties"]["micro_deposits"]["items"]["properties"]["micro_deposit"]
    assert sorted(md["properties"]) == sorted(FIELDS)
    assert "required" not in md and "additionalProperties" not in md
    assert "type" not in s["properties"]["micro_deposits"]["items"]  # MicrodepositResponse has no type


@pytest.mark.parametrize("doc", [
    {}, {"micro_deposits": []}, {"micro_deposits": [1, None, "x", [], {}]}, {"micro_deposits": [{"micro_deposit": {}}]},
    {"micro_deposits": [{"micro_deposit": {"created_at": "not a time", "x": [1], "status": 77}}], "pagination": {}},
    {"micro_deposits": [{"micro_deposit": {"routing_number": "091000019", "error_code": "4011"}}]},
])
def test_spec_accepts_schema_valid_corners(doc):
    assert spec.validate(doc, "spec") == []
    assert spec.validate(doc, "observed") == []


@pytest.mark.parametrize("doc,profile_ok", [
    ({"micro_deposits": None}, "observed"),
    ({"micro_deposits": [{"micro_deposit": None}]}, "observed"),
    ({"micro_deposits": [{"micro_deposit": {"verified_at": None}}]}, "observed"),
    ({"micro_deposits": [{"micro_deposit": {"error_code": 4011}}]}, "observed"),
    ({"micro_deposits": [{"micro_deposit": {"status": "1"}}]}, None),
    ({"micro_deposits": [{"micro_deposit": {"status": True}}]}, None),
    ({"micro_deposits": {}}, None),
    ([], None),
])
def test_observed_widens_only_what_real_servers_send(doc, profile_ok):
    assert spec.validate(doc, "spec") != []
    assert (spec.validate(doc, "observed") == []) is (profile_ok == "observed")


def test_nullable_is_handled_generically():
    assert spec.to_json_schema({"type": "string", "nullable": True, "example": "x"}) == {"type": ["string", "null"]}
    assert spec.to_json_schema({"type": "integer", "enum": [1, 2], "nullable": True}) == {"type": ["integer", "null"], "enum": [1, 2, None]}
    assert spec.to_json_schema({"type": "object", "properties": {"a": {"type": "string", "nullable": True}}}) == {
        "type": "object", "properties": {"a": {"type": ["string", "null"]}}}
    assert spec.to_json_schema({"type": "number", "minimum": 0, "exclusiveMinimum": True}) == {"type": "number", "exclusiveMinimum": 0}
