"""The kit's oracle (nexus_micro_kit/oracle.py) against spec/SEMANTICS.md, rule by rule.

Each test names the rule it checks. These are written from the rules directly, apart from the
golden vectors (tests/kit/test_vectors.py), so that a wrong oracle and a wrong vector do not hide
each other.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nexus_micro_kit import oracle
from nexus_micro_kit.oracle import canonical_equal, expect_parse, first_difference

FIELDS = list(oracle.FIELDS)


def body(*mds, **top) -> bytes:
    d = dict(top)
    d["micro_deposits"] = [{"micro_deposit": md} for md in mds]
    return json.dumps(d).encode()


def one(md: dict, strict: bool = False) -> dict:
    r = expect_parse(200, [], body(md), strict)
    assert r["ok"], r
    assert len(r["micro_deposits"]) == 1
    return r["micro_deposits"][0]


def err(raw: bytes | str, status: int = 200, strict: bool = False) -> dict:
    raw = raw.encode() if isinstance(raw, str) else raw
    r = expect_parse(status, [], raw, strict)
    assert r["ok"] is False, r
    return r


# ------------------------------------------------------------------------------------------
# S1


def test_s1a_bom_removed_once():
    assert expect_parse(200, [], b"\xef\xbb\xbf{}", False)["ok"] is True
    r = err(b"\xef\xbb\xbf\xef\xbb\xbf{}")
    assert r["error"] == "malformed_response"


@pytest.mark.parametrize("bad", [b"\xff", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80"])
def test_s1a_invalid_utf8_is_malformed(bad):
    r = err(b'{"micro_deposits":[{"micro_deposit":{"guid":"' + bad + b'"}}]}')
    assert r == {**r, "error": "malformed_response", "rules": ["S1a"]}


def test_s1a_utf16_is_not_detected():
    assert err("{}".encode("utf-16"))["error"] == "malformed_response"
    assert err("{}".encode("utf-16-le"))["rules"] == ["S1c"]  # '{\x00}\x00': NUL is not JSON


@pytest.mark.parametrize("text", ["", "  \n", "<html></html>", "{} x", "{}{}", '{"a":1,}', "{'a':1}", "{/*c*/}",
                                  '{"a":"\t"}', '{"a":NaN}', '{"a":Infinity}', '{"a":-Infinity}', '{"a":01}',
                                  '{"a":.5}', '{"a":1.}', '{"a":+1}', '{"a":"\\x"}', '{"a":"\\u12"}', '{a:1}', '{"a":tru}'])
def test_s1c_grammar(text):
    r = err(text)
    assert r["error"] == "malformed_response"
    assert r["rules"] == ["S1c"]


def test_s1c_whitespace_around_is_fine():
    assert expect_parse(200, [], b' \t\r\n{"micro_deposits":[]}\n', True)["ok"] is True
    # a form feed or a no-break space is not JSON whitespace
    assert err(b'\x0c{"micro_deposits":[]}')["rules"] == ["S1c"]
    assert err('\u00a0{"micro_deposits":[]}'.encode())["rules"] == ["S1c"]


def test_s1d_overflow_and_underflow():
    assert err('{"x":1e400}')["rules"] == ["S1d"]
    assert err('{"x":-1E+400}')["rules"] == ["S1d"]
    r = expect_parse(200, [], b'{"micro_deposits":[{"micro_deposit":{"x":1e-400}}]}', True)
    assert r["ok"] and r["micro_deposits"][0]["extra"] == {"x": 0.0}


def test_s1d_integer_digit_limit_excludes_sign():
    ok = expect_parse(200, [], ('{"micro_deposits":[],"x":-' + "9" * 4300 + "}").encode(), False)
    assert ok["ok"] is True
    assert err('{"micro_deposits":[],"x":' + "9" * 4301 + "}")["rules"] == ["S1d"]


def test_s1d_integers_exact():
    rec = one({"status": 2**53 + 1, "x": 12345678901234567890123})
    assert rec["status"] == 2**53 + 1 and type(rec["status"]) is int
    assert rec["extra"]["x"] == 12345678901234567890123


def test_s1d_fraction_is_double_rounded_to_nearest():
    r = expect_parse(200, [], b'{"micro_deposits":[{"micro_deposit":{"x":0.1,"y":9007199254740993.0}}]}', False)
    extra = r["micro_deposits"][0]["extra"]
    assert type(extra["x"]) is float and extra["x"] == 0.1
    assert extra["y"] == 9007199254740992.0  # the double nearest


@pytest.mark.parametrize("esc", ["\\ud800", "\\udc00", "\\ud800x", "\\udc00\\ud800", "\\ud800\\u0041", "\\udbff"])
def test_s1e_lone_surrogates(esc):
    assert err('{"a":"%s"}' % esc)["rules"] == ["S1e"]


def test_s1e_pairs_and_nul_are_fine():
    r = expect_parse(200, [], b'{"micro_deposits":[{"micro_deposit":{"guid":"\\ud83d\\udcb0\\u0000"}}]}', True)
    assert r["micro_deposits"][0]["guid"] == "\U0001f4b0\x00"


def _nested_arrays(n: int) -> str:
    return "[" * n + "]" * n


def test_s1f_depth_counted_exactly():
    # records sit at depth 4; x's arrays start at depth 5
    ok = expect_parse(200, [], ('{"micro_deposits":[{"micro_deposit":{"x":' + _nested_arrays(60) + "}}]}").encode(), False)
    assert ok["ok"] is True
    bad = err('{"micro_deposits":[{"micro_deposit":{"x":' + _nested_arrays(61) + "}}]}")
    assert bad["rules"] == ["S1f"]
    # a scalar at depth 65 is fine: only arrays and objects count
    ok2 = expect_parse(200, [], ('{"x":' + "[" * 63 + "1" + "]" * 63 + "}").encode(), False)
    assert ok2["ok"] is True
    assert err('{"x":' + _nested_arrays(64) + "}")["rules"] == ["S1f"]


def test_s1f_very_deep_bodies_do_not_crash():
    for raw in ("[" * 1_000_000, '{"a":' * 200_000, _nested_arrays(100_000)):
        r = err(raw)
        assert r["error"] == "malformed_response" and r["rules"] == ["S1f"]


def test_s1g_duplicates_last_wins_first_position():
    doc, facts = oracle.parse_json(b'{"a":1,"b":2,"a":3}')
    assert doc == {"a": 3, "b": 2} and list(doc) == ["a", "b"] and facts["duplicates"] is True
    r = expect_parse(200, [], b'{"micro_deposits":[{"micro_deposit":{"guid":"a","guid":"b"}}]}', True)
    assert r["micro_deposits"][0]["guid"] == "b" and "S1g" in r["rules"]


@pytest.mark.parametrize("text", ["[]", '"x"', "1", "-1.5", "true", "false", "null"])
def test_s1h_top_level_must_be_object(text):
    assert err(text)["rules"] == ["S1h"]


@given(st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_s1_never_raises_on_any_bytes(raw):
    r = expect_parse(200, [], raw, False)
    assert r["ok"] is True or r["error"] in ("malformed_response",)


def _plain_reading(raw: bytes):
    """A different route to S1 with the standard library, for cross-checking the oracle's parser."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    text = raw.decode("utf-8")

    def no_constant(name):
        raise ValueError(name)

    value = json.loads(text, parse_constant=no_constant)

    def walk(v, depth):
        if isinstance(v, float) and math.isinf(v):
            raise ValueError("inf")
        if isinstance(v, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in v):
            raise ValueError("surrogate")
        if isinstance(v, (list, dict)):
            if depth > 64:
                raise ValueError("depth")
            items = v.items() if isinstance(v, dict) else enumerate(v)
            for k, x in items:
                if isinstance(k, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in k):
                    raise ValueError("surrogate")
                walk(x, depth + 1)

    walk(value, 1)
    return value


@given(st.one_of(st.binary(max_size=60),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                              lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
                              max_leaves=20).map(lambda v: json.dumps(v).encode())))
@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
def test_s1_parser_agrees_with_a_stdlib_reading(raw):
    """S1a-S1g: the oracle's hand parser and json.loads plus explicit checks agree on accept/reject
    and on the value (the stdlib reading cannot count depth for non-recursive reasons, so bodies
    that exceed Python's recursion are not generated here)."""
    try:
        expected = _plain_reading(raw)
    except (ValueError, RecursionError):
        expected = "REJECT"
    try:
        got, _ = oracle.parse_json(raw)
    except oracle.Malformed:
        got = "REJECT"
    if expected == "REJECT" or got == "REJECT":
        assert expected == got, (raw, expected, got)
    else:
        assert canonical_equal(expected, got), first_difference(expected, got)


# ------------------------------------------------------------------------------------------
# S2, S3


@pytest.mark.parametrize("value", ["{}", '"x"', "1", "true", "false", "1.5"])
@pytest.mark.parametrize("strict", [False, True])
def test_s2_non_array_is_malformed_in_both_modes(value, strict):
    r = err('{"micro_deposits":%s}' % value, strict=strict)
    assert r["error"] == "malformed_response" and r["rules"] == ["S2"]


@pytest.mark.parametrize("raw", ["{}", '{"micro_deposits":null}', '{"pagination":{"page":1}}'])
def test_s2_missing_or_null_is_no_records_not_drift(raw):
    r = expect_parse(200, [], raw.encode(), True)
    assert r["ok"] is True and r["micro_deposits"] == [] and r["drift"] == []


def test_s3_skip_lenient_and_drift_strict():
    raw = b'{"micro_deposits":[1,{"micro_deposit":null},{"other":1},{"micro_deposit":{"guid":"g"},"links":{}}]}'
    r = expect_parse(200, [], raw, False)
    assert [rec["guid"] for rec in r["micro_deposits"]] == ["g"]
    assert [(n["index"], n["field"], n["action"]) for n in r["drift"]] == [(0, None, "skipped"), (1, None, "skipped"), (2, None, "skipped")]
    s = expect_parse(200, [], raw, True)
    assert s["ok"] is False and s["error"] == "schema_drift" and s["rules"] == ["S3", "S11"]


def test_s4_schema_valid_corners_lenient():
    raw = b'{"micro_deposits":[null,[],{"micro_deposit":{"created_at":"whenever","q":[{}]}}],"z":1}'
    r = expect_parse(200, [], raw, False)
    assert r["ok"] is True and r["micro_deposits"][0]["created_at"] is None


# ------------------------------------------------------------------------------------------
# S5


def test_s5_record_has_17_fields_in_spec_order_then_extra():
    rec = one({})
    assert list(rec) == FIELDS + ["extra"]
    assert all(rec[f] is None for f in FIELDS) and rec["extra"] == {}


def test_s5a_null_and_missing_are_not_drift():
    r = expect_parse(200, [], body({f: None for f in FIELDS}), True)
    assert r["ok"] is True and r["drift"] == []


def test_s5b_extra_names_exact():
    rec = one({"Guid": 1, "guid ": 2, "guid": "g", "extra": {"a": [True]}}, strict=True)
    assert rec["guid"] == "g"
    assert rec["extra"] == {"Guid": 1, "guid ": 2, "extra": {"a": [True]}}


def test_s5c_every_coercion_has_a_note():
    r = expect_parse(200, [], body({"status": "1", "first_name": True, "routing_number": 5, "created_at": "x"}), False)
    assert [(n["field"], n["type"], n["action"], n["rule"]) for n in r["drift"]] == [
        ("created_at", "string", "nulled", "S9e"),
        ("first_name", "boolean", "nulled", "S6"),
        ("routing_number", "integer", "padded", "S7"),
        ("status", "string", "coerced", "S8"),
    ]


def test_s5d_nothing_derived():
    rec = one({"status": 3, "status_name": "DENIED", "account_type": 1, "account_type_name": "SAVINGS",
               "verified_at": "2021-09-01T18:29:07Z"}, strict=True)
    assert (rec["status"], rec["status_name"], rec["account_type"], rec["account_type_name"]) == (3, "DENIED", 1, "SAVINGS")
    assert rec["verified_at"] == "2021-09-01T18:29:07.000000Z"


# ------------------------------------------------------------------------------------------
# S6, S7, S8, S10


@pytest.mark.parametrize("value,expected,drift", [
    ("", "", False), (" a ", " a ", False), ("ÄÖ", "ÄÖ", False),
    (4011, "4011", True), (-7, "-7", True), (0, "0", True), (10**30, "1" + "0" * 30, True),
    (True, None, True), (False, None, True), (4011.0, None, True), (1e2, None, True), ([], None, True), ({}, None, True),
])
def test_s6_string_fields(value, expected, drift):
    r = expect_parse(200, [], body({"error_code": value}), False)
    assert r["micro_deposits"][0]["error_code"] == expected
    assert type(r["micro_deposits"][0]["error_code"]) is type(expected)
    assert bool(r["drift"]) is drift


@pytest.mark.parametrize("value,expected,drift", [
    ("091000019", "091000019", False), ("123456789", "123456789", False),
    ("91000019", "091000019", True), ("1", "000000001", True), ("00000000", "000000000", True),
    ("", "", False), ("0910000190", "0910000190", False), ("٠٩١", "٠٩١", False), ("1 ", "1 ", False), ("-1", "-1", False),
    (91000019, "091000019", True), (0, "000000000", True), (99999999, "099999999", True), (100000000, "100000000", True),
    (-5, "-5", True), (12345678901, "12345678901", True),
    (True, None, True), (91000019.0, None, True), (["091000019"], None, True), ({}, None, True),
])
def test_s7_routing_number(value, expected, drift):
    r = expect_parse(200, [], body({"routing_number": value}), False)
    assert r["micro_deposits"][0]["routing_number"] == expected
    assert bool(r["drift"]) is drift
    s = expect_parse(200, [], body({"routing_number": value}), True)
    assert s["ok"] is (not drift)


@pytest.mark.parametrize("raw,expected,drift", [
    ("1", 1, False), ("-3", -3, False), ("123456789012345678901234567890", 123456789012345678901234567890, False),
    ("true", None, True), ("false", None, True),
    ("1.0", 1, True), ("1e2", 100, True), ("-0.0", 0, True), ("1e20", 100000000000000000000, True), ("1.5", None, True),
    ('"1"', 1, True), ('"007"', 7, True), ('""', None, True), ('"-1"', None, True), ('"+1"', None, True),
    ('" 1"', None, True), ('"1.0"', None, True), ('"\\u0661"', None, True), ("[1]", None, True), ('{"a":1}', None, True),
])
def test_s8_integer_fields(raw, expected, drift):
    r = expect_parse(200, [], ('{"micro_deposits":[{"micro_deposit":{"status":%s}}]}' % raw).encode(), False)
    got = r["micro_deposits"][0]["status"]
    assert got == expected and (got is None or type(got) is int)
    assert bool(r["drift"]) is drift


def test_s8_digit_string_limit():
    assert one({"status": "7" * 4300})["status"] == int("7" * 4300)
    assert one({"status": "7" * 4301})["status"] is None


def test_s10_unknown_values_kept_not_drift():
    r = expect_parse(200, [], body({"status": 42, "status_name": "NEW", "account_type": 7, "account_type_name": "X"}), True)
    assert r["ok"] is True
    rec = r["micro_deposits"][0]
    assert (rec["status"], rec["status_name"], rec["account_type"], rec["account_type_name"]) == (42, "NEW", 7, "X")


# ------------------------------------------------------------------------------------------
# S9


@pytest.mark.parametrize("value,expected,rule", [
    ("2021-09-01T18:29:06.000Z", "2021-09-01T18:29:06.000000Z", None),
    ("2021-10-22T21:44:38.000+05:30", "2021-10-22T16:14:38.000000Z", None),
    ("2021-10-22T21:44:38-00:00", "2021-10-22T21:44:38.000000Z", None),
    ("2021-09-01t18:29:06z", "2021-09-01T18:29:06.000000Z", None),
    ("2021-12-31T23:00:00-01:00", "2022-01-01T00:00:00.000000Z", None),
    ("2021-09-01T18:29:06", "2021-09-01T18:29:06.000000Z", "S9b"),
    ("2021-09-01T18:29:06.9999999Z", "2021-09-01T18:29:06.999999Z", "S9c"),
    ("2021-09-01T18:29:06.123456789", "2021-09-01T18:29:06.123456Z", "S9b"),
    ("0001-01-01T00:00:00+00:01", None, "S9d"),
    ("9999-12-31T23:59:59-00:01", None, "S9d"),
    ("0500-01-01T00:00:00Z", "0500-01-01T00:00:00.000000Z", None),
    ("2000-02-29T00:00:00Z", "2000-02-29T00:00:00.000000Z", None),
])
def test_s9_accepted(value, expected, rule):
    r = expect_parse(200, [], body({"created_at": value}), False)
    assert r["micro_deposits"][0]["created_at"] == expected
    assert [n["rule"] for n in r["drift"]] == ([rule] if rule else [])


@pytest.mark.parametrize("value", [
    "", "2021-09-01", "2021-09-01 18:29:06Z", "2021-09-01T18Z", "2021-W35-3T18:29:06Z", "2021-09-01T18:29:06,5Z",
    "2021-09-01T18:29:06+0530", "2021-09-01T18:29:06+05", "2021-09-01T18:29:06.Z", "2021-09-01T18:29:06.0123456789Z",
    "2021-09-01T24:00:00Z", "2021-09-01T18:29:60Z", "1900-02-29T00:00:00Z", "2021-02-29T00:00:00Z", "0000-06-01T00:00:00Z",
    "2021-09-01T18:29:06+24:00", "2021-09-01T18:29:06-05:60", "2021-09-01T18:29:06Z\n", "\u0662021-09-01T18:29:06Z",
    "2021-09-01T18:29:0\u0666Z", 1630520946, True, 1.5, [], {},
])
def test_s9e_rejected(value):
    r = expect_parse(200, [], body({"updated_at": value}), False)
    assert r["micro_deposits"][0]["updated_at"] is None
    assert [n["rule"] for n in r["drift"]] == ["S9e"]


def test_s9b_s9c_one_note():
    r = expect_parse(200, [], body({"verified_at": "2021-09-01T18:29:06.123456789"}), False)
    assert len(r["drift"]) == 1 and "S9b" in r["rules"] and "S9c" in r["rules"]


# ------------------------------------------------------------------------------------------
# S11


def test_s11_notes_order_and_strict_first_note():
    raw = body({"status": "1", "account_name": 5}, {"guid": "ok"}, {"routing_number": 1})
    raw = raw.replace(b'{"micro_deposit": {"guid": "ok"}}', b'{"micro_deposit": {"guid": "ok"}}, 7')
    r = expect_parse(200, [], raw, False)
    assert [(n["index"], n["field"]) for n in r["drift"]] == [(0, "account_name"), (0, "status"), (2, None), (3, "routing_number")]
    s = expect_parse(200, [], raw, True)
    assert s["error"] == "schema_drift" and s["rules"] == ["S6", "S11"] and "item 0 field account_name" in s["message"]


def test_s11_no_notes_same_in_both_modes():
    raw = body({"status": 1, "created_at": "2021-09-01T18:29:06+02:00", "x": 1})
    a, b = expect_parse(200, [], raw, False), expect_parse(200, [], raw, True)
    assert a["ok"] and b["ok"] and a["micro_deposits"] == b["micro_deposits"]


# ------------------------------------------------------------------------------------------
# S12 equality


def test_s12_equality_numbers_and_literals():
    assert canonical_equal(1, 1.0) and canonical_equal(100, 1e2) and canonical_equal(0, -0.0)
    assert not canonical_equal(True, 1) and not canonical_equal(1, True) and not canonical_equal(False, 0)
    assert not canonical_equal(None, 0) and not canonical_equal(None, "") and not canonical_equal(None, False)
    assert not canonical_equal(2**53 + 1, float(2**53 + 1))  # integers exactly
    assert canonical_equal(2**53, float(2**53))
    assert not canonical_equal(0.1, 0.1000000000000000055511151231257827 + 1e-17)
    assert not canonical_equal("1", 1)


def test_s12_equality_structures():
    assert canonical_equal({"a": 1, "b": [1, 2]}, {"b": [1, 2.0], "a": 1})
    assert not canonical_equal([1, 2], [2, 1])
    assert not canonical_equal({"a": 1}, {"a": 1, "b": None})
    assert not canonical_equal({"a": 1, "b": None}, {"a": 1})
    assert not canonical_equal([1], [1, 1])
    assert not canonical_equal("e\u0301", "\u00e9")  # code points, no normalisation


def test_s12_first_difference_paths():
    exp = {"micro_deposits": [{"routing_number": "091000019", "extra": {"a b": [1, 2]}}]}
    assert first_difference(exp, exp) is None
    got = {"micro_deposits": [{"routing_number": "91000019", "extra": {"a b": [1, 2]}}]}
    assert first_difference(exp, got) == "micro_deposits[0].routing_number: expected '091000019', got '91000019'"
    got2 = {"micro_deposits": [{"routing_number": "091000019", "extra": {"a b": [1, True]}}]}
    assert first_difference(exp, got2) == 'micro_deposits[0].extra["a b"][1]: expected 2, got true'
    assert "missing member 'extra'" in first_difference(exp, {"micro_deposits": [{"routing_number": "091000019"}]})
    assert "expected 1 items, got 0" in first_difference(exp, {"micro_deposits": []})
    long = first_difference({"s": "x" * 1000}, {"s": "y"})
    assert len(long) < 150


def test_field_rules_cover_the_record():
    with open("spec/canonical.schema.json") as f:
        record = json.load(f)["$defs"]["record"]["required"]
    assert sorted(oracle.FIELD_RULES) == sorted(record)
    assert oracle.FIELD_RULES["routing_number"] == ["S7"]
    assert oracle.FIELD_RULES["status"] == ["S8", "S10"]
    assert oracle.FIELD_RULES["created_at"] == ["S9"]
    assert oracle.FIELD_RULES["extra"] == ["S5b"]


# ------------------------------------------------------------------------------------------
# S14, S15


@pytest.mark.parametrize("status,category", [
    (301, "unexpected_redirect"), (300, "unexpected_redirect"), (399, "unexpected_redirect"),
    (401, "unauthorized"), (403, "forbidden"), (404, "not_found"), (429, "rate_limited"),
    (500, "server_error"), (599, "server_error"), (400, "http_error"), (409, "http_error"), (100, "http_error"),
    (600, "http_error"), (999, "http_error"),
])
def test_s14_status_mapping(status, category):
    assert err(b'{"error":{"code":"1234"}}', status=status)["error"] == category


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 503, 600, 100])
def test_s14_4011_any_non_2xx_non_3xx_status(status):
    assert err(b'{"code":4011}', status=status)["error"] == "session_expired"


def test_s14_3xx_before_4011_and_2xx_parsed():
    assert err(b'{"code":4011}', status=302)["error"] == "unexpected_redirect"
    assert expect_parse(200, [], b'{"code":4011}', True)["ok"] is True
    assert err(b"", status=204)["error"] == "malformed_response"


@pytest.mark.parametrize("raw,code,message", [
    (b'{"error":{"code":4011,"message":"Session expired"}}', "4011", "Session expired"),
    (b'{"code":"4011"}', "4011", None),
    (b'{"error":{"code":"4011"}}', "4011", None),
    (b'{"code":4011.0}', None, None),
    (b'{"code":true}', None, None),
    (b'{"error":"boom"}', None, "boom"),
    (b'{"error":{"message":"m"},"code":-7,"message":"top"}', "-7", "m"),
    (b'{"error":{"code":null},"code":"x","message":5}', "x", None),
    (b'{"error":[1],"code":4011}', "4011", None),
    (b"<html>4011</html>", None, None),
    (b"[4011]", None, None),
    (b'\xef\xbb\xbf{"code":4011}', "4011", None),
    (b'{"code":4011,"n":NaN}', None, None),
    (b'{"code":"\xff"}', None, None),
])
def test_s15_error_bodies(raw, code, message):
    assert oracle.error_code_and_message(raw) == (code, message)


# ---- S11: drift notes in their canonical form (what the runner compares with the drift feature)


def _notes(md: dict, strict: bool = False) -> list:
    body = json.dumps({"micro_deposits": [{"micro_deposit": md}]}).encode()
    return expect_parse(200, [], body, strict)["drift"]


def test_s11_notes_have_exactly_the_five_canonical_members():
    body = b'{"micro_deposits":[7,{"micro_deposit":{"routing_number":91000019,"status":"3","guid":true}}]}'
    notes = expect_parse(200, [], body, False)["drift"]
    assert notes == [
        {"index": 0, "field": None, "type": "integer", "action": "skipped", "rule": "S3"},
        {"index": 1, "field": "guid", "type": "boolean", "action": "nulled", "rule": "S6"},
        {"index": 1, "field": "routing_number", "type": "integer", "action": "padded", "rule": "S7"},
        {"index": 1, "field": "status", "type": "string", "action": "coerced", "rule": "S8"},
    ]  # item index, then spec field order (guid before routing_number before status)
    assert all(list(n) == ["index", "field", "type", "action", "rule"] for n in notes)


def test_s11_routing_actions_padded_coerced_nulled():
    assert [n["action"] for n in _notes({"routing_number": "5"})] == ["padded"]
    assert [(n["action"], n["rule"]) for n in _notes({"routing_number": 123456789})] == [("coerced", "S7")]
    assert [(n["action"], n["type"]) for n in _notes({"routing_number": -5})] == [("coerced", "integer")]
    assert [(n["action"], n["type"]) for n in _notes({"routing_number": 9.1e7})] == [("nulled", "number")]


def test_s9c_s9d_together_note_is_s9d_nulled():
    note = _notes({"created_at": "0001-01-01T00:00:00.1234567+01:00"})
    assert note == [{"index": 0, "field": "created_at", "type": "string", "action": "nulled", "rule": "S9d"}]
    strict = expect_parse(200, [], json.dumps({"micro_deposits": [{"micro_deposit": {
        "created_at": "9999-12-31T23:59:59.99999999-01:00"}}]}).encode(), True)
    assert strict["error"] == "schema_drift" and strict["drift"] == [dict(note[0], field="created_at")]


def test_s9_month_lengths_and_leap_years():
    ok = {"2021-04-30", "2021-02-28", "2024-02-29", "2000-02-29", "2400-02-29", "1900-02-28", "2100-02-28"}
    bad = {"2021-04-31", "2021-02-29", "2024-02-30", "1900-02-29", "2100-02-29", "2021-06-31", "2021-01-32"}
    for date in ok | bad:
        record = expect_parse(200, [], json.dumps({"micro_deposits": [{"micro_deposit": {
            "created_at": date + "T00:00:00Z"}}]}).encode(), False)["micro_deposits"][0]
        assert (record["created_at"] is not None) == (date in ok), date
    rolled = expect_parse(200, [], b'{"micro_deposits":[{"micro_deposit":{"created_at":"2100-03-01T00:30:00+01:00",'
                                   b'"updated_at":"2021-04-30T23:30:00-01:00"}}]}', True)["micro_deposits"][0]
    assert rolled["created_at"] == "2100-02-28T23:30:00.000000Z" and rolled["updated_at"] == "2021-05-01T00:30:00.000000Z"


def test_s15_semantics_own_examples():
    for body, code in [(b'{"error": {"code": true}, "code": 4011}', None), (b'{"error": "bad token"}', None),
                       (b'{"error": 4011}', None), (b'{"error": [1], "code": "4011"}', "4011"),
                       (b'{"error": null, "code": 4011}', "4011"), (b'{"error": {"code": 4011.0}, "code": 4011}', None)]:
        assert oracle.error_code(body) == code, body
    assert oracle.error_code_and_message(b'{"error": "bad token"}') == (None, "bad token")


def test_the_oracle_never_imports_the_implementation():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(oracle))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names} | {node.module.split(".")[0] for node in ast.walk(tree)
                                              if isinstance(node, ast.ImportFrom) and node.module}
    assert "nexus_micro" not in imported
