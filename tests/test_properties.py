"""Hypothesis properties of parsing (S1, S4, S12): the guarantees that must hold for every input."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

import nexus_micro as nm

ROOT = Path(__file__).resolve().parent.parent
OPENAPI = json.loads((ROOT / "spec" / "nexus-v1-micro_deposits.openapi.json").read_text("utf-8"))
CANONICAL = json.loads((ROOT / "spec" / "canonical.schema.json").read_text("utf-8"))
FIELDS = list(OPENAPI["components"]["schemas"]["MicrodepositResponse"]["properties"]["micro_deposit"]["properties"])


def spec_schema() -> dict:
    """MicrodepositsResponse as JSON Schema: the OpenAPI schemas with refs resolved, examples dropped."""
    schemas = OPENAPI["components"]["schemas"]

    def convert(node: object) -> object:
        if isinstance(node, dict):
            if "$ref" in node:
                return convert(schemas[node["$ref"].rsplit("/", 1)[1]])
            return {k: convert(v) for k, v in node.items() if k not in ("example", "description")}
        if isinstance(node, list):
            return [convert(v) for v in node]
        return node

    return convert(schemas["MicrodepositsResponse"])  # type: ignore[return-value]


SPEC_VALIDATOR = jsonschema.Draft202012Validator(spec_schema())
CANONICAL_VALIDATOR = jsonschema.Draft202012Validator(CANONICAL)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3), max_leaves=8)
timestamps = st.sampled_from(
    ["2021-09-01T18:29:06.000Z", "2021-10-22T21:44:38.000+05:30", "2021-10-08T21:39:07+00:00", "2021-09-01T18:29:06",
     "2020-02-29T23:59:59.123456789-11:59", "0001-01-01T00:00:00+01:00", "not a date", ""]
) | st.text()  # fmt: skip


def field_value(name: str) -> st.SearchStrategy[object]:
    """What the spec schema allows for a field (a string or integer of that type)."""
    if name in ("account_type", "status"):
        return st.integers()
    if name in ("created_at", "updated_at", "verified_at"):
        return timestamps
    if name == "routing_number":
        return st.from_regex(r"\A[0-9]{1,12}\Z") | st.text()
    return st.text()


micro_deposit = st.fixed_dictionaries({}, optional={name: field_value(name) for name in FIELDS}).flatmap(
    lambda known: st.dictionaries(st.text().filter(lambda k: k not in FIELDS), json_values, max_size=2).map(
        lambda extra: {**known, **extra}
    )
)
item = st.one_of(
    st.fixed_dictionaries({"micro_deposit": micro_deposit}),
    json_values,  # S3: MicrodepositResponse has no type, so any item is schema-valid
    st.dictionaries(st.text().filter(lambda k: k != "micro_deposit"), json_values, max_size=2),  # S3: no micro_deposit
)
spec_body = st.fixed_dictionaries({}, optional={"micro_deposits": st.lists(item, max_size=4)})


@settings(max_examples=300, deadline=None)
@given(spec_body)
def test_s4_every_schema_valid_body_parses_in_lenient_mode(doc: dict) -> None:
    """S4; and S12: the canonical output validates against spec/canonical.schema.json."""
    SPEC_VALIDATOR.validate(doc)  # the generator must not drift from the schema
    body = json.dumps(doc, ensure_ascii=False).encode()
    result = nm.parse_microdeposits(body)
    CANONICAL_VALIDATOR.validate(result.to_dict())
    carriers = [i for i in doc.get("micro_deposits") or [] if isinstance(i, dict) and isinstance(i.get("micro_deposit"), dict)]
    assert len(result) == len(carriers)
    assert len(result.drift) >= len(doc.get("micro_deposits") or []) - len(carriers)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_s1_arbitrary_bytes_raise_only_nexus_errors(body: bytes) -> None:
    for strict in (False, True):
        try:
            nm.parse_microdeposits(body, strict=strict)
        except nm.NexusError:
            pass
        try:
            nm.parse_response(401, {}, body)
        except nm.HTTPError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='{}[]",:0123456789.eE+-tfnulrsaNIy \\\ud800\ufeff', max_size=60))
def test_s1_json_like_text_raises_only_nexus_errors(text: str) -> None:
    try:
        nm.parse_microdeposits(text)
    except nm.NexusError:
        pass


def flatten(record: dict) -> dict:
    """Canonical record back to a micro_deposit object: the 17 fields plus the extra members."""
    fields = {k: v for k, v in record.items() if k != "extra"}
    return {**fields, **record["extra"]}


@settings(max_examples=300, deadline=None)
@given(spec_body)
def test_s12_canonical_output_parsed_again_is_unchanged(doc: dict) -> None:
    first = nm.parse_microdeposits(json.dumps(doc)).to_dict()
    again_body = {"micro_deposits": [{"micro_deposit": flatten(r)} for r in first["micro_deposits"]]}
    again = nm.parse_microdeposits(json.dumps(again_body), strict=True)
    assert again.to_dict() == first
    assert again.drift == ()


# S9 has two implementations: the portable one, and datetime.fromisoformat behind a strict pattern
# on 3.11+ (fast). They must agree on every string: random strings near the timestamp grammar.
timestamp_like = st.text(alphabet="0123456789-:Tt.Zz+ ,W", min_size=18, max_size=34) | st.builds(
    lambda y, mo, d, h, mi, s, frac, zone: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{zone}",
    st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 24), st.integers(0, 60),
    st.integers(0, 60), st.sampled_from(["", ".1", ".123", ".123456", ".1234567", ".123456789", ".1234567890", "."]),
    st.sampled_from(["", "Z", "z", "+00:00", "-00:00", "+05:30", "-23:59", "+24:00", "+05:60", "+0530", "+05"]),
)  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(timestamp_like)
def test_s9_fast_and_portable_timestamp_paths_agree(text: str) -> None:
    slow = nm._parse_timestamp(text)[0]
    assert nm._to_datetime(text) == slow
    assert nm._canonical_timestamp(text) == (slow, None if slow is None else nm._format_timestamp(slow))


@settings(max_examples=1500, deadline=None)
@given(timestamp_like)
def test_s12_to_dict_prints_every_timestamp_as_the_portable_path_does(text: str) -> None:
    """to_dict() takes shortcuts (the digits of a UTC string; fromisoformat on 3.11+)."""
    slow = nm._parse_timestamp(text)[0]
    want = None if slow is None else nm._format_timestamp(slow)
    body = json.dumps({"micro_deposits": [{"micro_deposit": {"created_at": text}}]}).encode()
    assert nm.parse_microdeposits(body)[0].to_dict()["created_at"] == want
    record = nm.parse_microdeposits(body)[0]
    assert record.created_at == slow and record.to_dict()["created_at"] == want  # after a read, too
