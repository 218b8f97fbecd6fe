"""nexus_micro_kit/strategies.py: what the three profiles generate."""

from __future__ import annotations

import json
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nexus_micro_kit import oracle, spec, strategies

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))


def _well_formed_case(c):
    assert set(c) == {"status", "headers", "body", "strict"}
    assert type(c["status"]) is int and type(c["strict"]) is bool and type(c["body"]) is bytes
    assert all(isinstance(h, list) and len(h) == 2 and all(isinstance(x, str) for x in h) for h in c["headers"])


@SETTINGS
@given(strategies.cases("spec"))
def test_spec_bodies_validate_against_the_spec_schema(c):
    _well_formed_case(c)
    assert 200 <= c["status"] <= 299
    document = json.loads(c["body"].decode("utf-8-sig"))
    assert spec.validate(document, "spec") == []
    # S4: lenient mode never fails on a schema-valid body
    r = oracle.expect_parse(c["status"], c["headers"], c["body"], False)
    assert r["ok"] is True, r


@SETTINGS
@given(strategies.cases("observed"))
def test_observed_cases_are_json_and_sometimes_not_spec(c):
    _well_formed_case(c)
    if 200 <= c["status"] <= 299:
        document = json.loads(c["body"].decode("utf-8"))  # odd but valid JSON, no BOM
        assert isinstance(document, dict)
        # S1 accepts every observed 2xx body: the oracle never calls it malformed unless S2 says so
        r = oracle.expect_parse(c["status"], c["headers"], c["body"], c["strict"])
        assert r["ok"] or r["error"] == "schema_drift", r


def test_observed_violates_the_spec_schema_at_least_sometimes():
    seen = {"invalid": 0, "valid": 0, "error_status": 0}

    @SETTINGS
    @given(strategies.cases("observed"))
    def run(c):
        if not 200 <= c["status"] <= 299:
            seen["error_status"] += 1
            return
        document = json.loads(c["body"].decode("utf-8"))
        seen["invalid" if spec.validate(document, "spec") else "valid"] += 1

    run()
    assert seen["invalid"] > 0 and seen["error_status"] > 0, seen


def test_hostile_produces_bytes_and_failures():
    seen = {"malformed": 0, "ok": 0, "non2xx": 0}

    @SETTINGS
    @given(strategies.cases("hostile"))
    def run(c):
        _well_formed_case(c)
        r = oracle.expect_parse(c["status"], c["headers"], c["body"], c["strict"])
        if not 200 <= c["status"] <= 299:
            seen["non2xx"] += 1
        elif r["ok"]:
            seen["ok"] += 1
        elif r["error"] == "malformed_response":
            seen["malformed"] += 1

    run()
    assert seen["malformed"] > 50 and seen["non2xx"] > 0, seen


_ASCII_DIGITS = re.compile(r"[0-9]+\Z")


def _aba_ok(s):
    d = [int(c) for c in s]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5] + d[8]) % 10 == 0


@SETTINGS
@given(strategies.routing_numbers(valid=True), strategies.routing_numbers(valid=False))
def test_routing_numbers(valid, invalid):
    assert len(valid) == 9 and _ASCII_DIGITS.match(valid) and _aba_ok(valid)
    assert not (len(invalid) == 9 and _ASCII_DIGITS.match(invalid) and _aba_ok(invalid))


def test_routing_numbers_include_lost_leading_zero():
    found = []

    @SETTINGS
    @given(strategies.routing_numbers(valid=False))
    def run(r):
        if len(r) == 8 and _ASCII_DIGITS.match(r) and _aba_ok("0" + r):
            found.append(r)

    run()
    assert found


@SETTINGS
@given(strategies.rfc3339_datetimes())
def test_rfc3339_datetimes_are_accepted_by_s9(value):
    r = oracle.expect_parse(200, [], json.dumps({"micro_deposits": [{"micro_deposit": {"created_at": value}}]}).encode(), False)
    rec = r["micro_deposits"][0]
    frac = re.search(r"\.([0-9]+)", value)
    # accepted (S9a/S9c) unless the offset pushes it out of years 0001-9999 (S9d)
    if rec["created_at"] is None:
        assert [n["rule"] for n in r["drift"]] == ["S9d"], (value, r["drift"])
    else:
        assert [n["rule"] for n in r["drift"]] == (["S9c"] if frac and len(frac.group(1)) > 6 else []), value


@SETTINGS
@given(strategies.guids(), strategies.statuses())
def test_guids_and_statuses(guid, status):
    assert re.fullmatch(r"MIC-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", guid)
    assert type(status) is int


def test_statuses_cover_known_and_unknown():
    seen = set()

    @SETTINGS
    @given(strategies.statuses())
    def run(s):
        seen.add(s in range(10))

    run()
    assert seen == {True, False}


@SETTINGS
@given(st.data())
def test_from_schema_values_validate(data):
    schema = spec.response_schema("observed")
    value = data.draw(strategies.from_schema(schema))
    assert spec.validate(value, "observed") == []


def test_rarely_seen_values_are_generated_often_enough():
    """The calendar edges, a full record with one coercion, names in another letter case and many
    items beside a deep value show up in a default-sized run (200 examples per profile)."""
    seen = {"last_day": 0, "day_after": 0, "leap_rule_year": 0, "one_coercion": 0, "other_case": 0,
            "many_beside_deep": 0}
    stamp = re.compile(r'"(\d{4})-(\d{2})-(\d{2})[Tt]')

    @settings(SETTINGS, max_examples=400, derandomize=True, database=None)
    @given(st.sampled_from(["spec", "observed"]).flatmap(strategies.cases))
    def run(c):
        if not 200 <= c["status"] <= 299:
            return
        text = c["body"].decode("utf-8-sig")
        for y, m, d in stamp.findall(text):
            y, m, d = int(y), int(m), int(d)
            if 1 <= m <= 12:
                last = strategies._days(y, m)
                seen["last_day"] += d == last
                seen["day_after"] += d == last + 1
                seen["leap_rule_year"] += m == 2 and y in (1900, 2000, 2100, 2400)
        document = json.loads(text)
        items = document.get("micro_deposits") or []
        seen["many_beside_deep"] += sum(1 for i in items if i == {}) >= 40 and "deep" in document
        for item in items:
            md = item.get("micro_deposit") if isinstance(item, dict) else None
            if not isinstance(md, dict):
                continue
            if set(md) == set(oracle.FIELDS):
                notes = oracle.expect_parse(200, [], json.dumps({"micro_deposits": [item]}).encode(), False)["drift"]
                seen["one_coercion"] += len(notes) == 1
            seen["other_case"] += any(k not in oracle.FIELDS and k.lower() in oracle.FIELDS and k.lower() not in md
                                      for k in md)

    run()
    assert all(seen.values()), str(seen)


def test_error_bodies_and_statuses_include_the_s14_s15_decisions():
    seen = {"nested_code_unusable": 0, "non_object_error": 0, "1xx_or_out_of_range": 0}

    @settings(SETTINGS, max_examples=300, derandomize=True, database=None)
    @given(strategies._error_body(), strategies._ERROR_STATUSES)
    def run(body, status):
        seen["1xx_or_out_of_range"] += status < 200 or status > 999
        try:
            document = json.loads(body)
        except ValueError:
            return
        error = document.get("error") if isinstance(document, dict) else None
        if isinstance(error, dict) and type(error.get("code")) not in (str, int, type(None)):
            seen["nested_code_unusable"] += "code" in document
        elif isinstance(document, dict) and "error" in document and not isinstance(error, dict):
            seen["non_object_error"] += 1

    run()
    assert all(seen.values()), str(seen)
